"""Reading and writing the JSONL files the CLI works on, with strict validation.

Examples are one JSON object per line, ``{"text": ..., "label": ...}``; the labels file has
``{"label": ..., "description": ...}`` lines. Every problem raises :class:`InputDataError` naming the
file and, where there is one, the line (``path:N: what is wrong``), so the CLI can print one clear line.
Blank lines are skipped; any other field of a record is kept in :attr:`Example.extra`.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redline.errors import ConfigError, InputDataError

#: the path that means standard input (reading) or standard output (writing)
STDIO = "-"

#: the fewest training examples a label may have
MIN_EXAMPLES_PER_LABEL = 2


@dataclass(frozen=True)
class Example:
    """One record of an examples file.

    Parameters
    ----------
    text : str
        The text to classify (never empty).
    label : str or None
        Its label, None where the file carries none (prediction input).
    line : int
        1-based line number in the file it came from (0 when built in memory).
    extra : mapping
        Every other field of the record, passed through to prediction output.
    """

    text: str
    label: str | None = None
    line: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


def display_name(path: str | os.PathLike[str]) -> str:
    """How messages name a file: its path, or ``<stdin>`` for ``-``."""
    return "<stdin>" if str(path) == STDIO else str(path)


def _stdin_is_terminal() -> bool:
    try:
        return bool(sys.stdin.isatty())
    except (AttributeError, ValueError, OSError):  # replaced or closed stdin: not a terminal
        return False


def read_json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file (``"-"``: stdin).

    A UTF-8 byte order mark is skipped; lines are decoded one by one, so an error names the line.

    Raises
    ------
    InputDataError
        ``<file>:<line>: <what is wrong>`` (``<stdin>`` for ``"-"``): a missing, unreadable or empty
        file, stdin left to a terminal, invalid UTF-8 or JSON on a line, or a line that is not an
        object.
    """
    p = Path(path)
    where = display_name(p)
    if str(p) == STDIO and _stdin_is_terminal():
        raise InputDataError(f"{where}: is a terminal; pipe a JSONL file in or name one")
    try:
        raw = sys.stdin.buffer.read() if str(p) == STDIO else p.read_bytes()
    except FileNotFoundError:
        raise InputDataError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise InputDataError(f"{where}: is a directory, expected a JSONL file") from None
    except OSError as exc:
        raise InputDataError(f"{where}: cannot read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise InputDataError(f"{where}: file is empty")
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as some editors write
        raw = raw[3:]
    for number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = line_bytes[exc.start]
            raise InputDataError(
                f"{where}:{number}: invalid UTF-8 (byte 0x{bad:02x} at column {exc.start + 1})"
            ) from None
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputDataError(f"{where}:{number}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise InputDataError(f"{where}:{number}: expected a JSON object, got {type(obj).__name__}")
        yield number, obj


def _required_string(path: str, number: int, obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        raise InputDataError(f'{path}:{number}: missing "{key}"')
    if not isinstance(value, str):
        raise InputDataError(f'{path}:{number}: "{key}" must be a string, got {type(value).__name__}')
    if not value.strip():
        raise InputDataError(f'{path}:{number}: "{key}" is empty')
    return value


def read_examples(path: str | os.PathLike[str], *, require_label: bool = True) -> list[Example]:
    """Read an examples file.

    Parameters
    ----------
    path : path-like
        A JSONL file with ``{"text": ..., "label": ...}`` lines.
    require_label : bool
        When False (prediction input) ``label`` may be absent; when present it is still validated.

    Returns
    -------
    list of Example
        In file order.

    Raises
    ------
    InputDataError
        Missing or empty file, invalid UTF-8 or JSON on a line, a line that is not an object, or a
        missing/empty ``text`` or ``label``.
    """
    p = Path(path)
    where = display_name(p)
    examples = []
    for number, obj in read_json_lines(p):
        text = _required_string(where, number, obj, "text")
        label: str | None = None
        if require_label or obj.get("label") is not None:
            label = _required_string(where, number, obj, "label")
        extra = {k: v for k, v in obj.items() if k not in ("text", "label")}
        examples.append(Example(text=text, label=label, line=number, extra=extra))
    return examples


def read_labels(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a labels file of ``{"label": ..., "description": ...}`` lines.

    Returns
    -------
    dict
        label -> description ("" when the line has none), in file order.

    Raises
    ------
    InputDataError
        As :func:`read_examples`, plus a non-string description or a label listed twice.
    """
    p = Path(path)
    where = display_name(p)
    labels: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, obj in read_json_lines(p):
        label = _required_string(where, number, obj, "label")
        description = obj.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise InputDataError(
                f'{where}:{number}: "description" must be a string, got {type(description).__name__}'
            )
        if label in labels:
            raise InputDataError(
                f"{where}:{number}: label {label!r} is listed twice (first on line {first_line[label]})"
            )
        labels[label] = description.strip()
        first_line[label] = number
    return labels


def check_training_set(examples: Sequence[Example], path: str | os.PathLike[str]) -> None:
    """Check that a training set can train a classifier.

    Raises
    ------
    InputDataError
        An example without a label, fewer than two labels, or a label with fewer than
        :data:`MIN_EXAMPLES_PER_LABEL` examples (naming the line of its first example).
    """
    counts = Counter(e.label for e in examples)
    for e in examples:
        if e.label is None:
            raise InputDataError(f'{path}:{e.line}: missing "label"')
        if counts[e.label] < MIN_EXAMPLES_PER_LABEL:
            raise InputDataError(
                f"{path}:{e.line}: label {e.label!r} has {counts[e.label]} example(s); "
                f"every label needs at least {MIN_EXAMPLES_PER_LABEL} to train on"
            )
    if len(counts) < 2:
        raise InputDataError(f"{path}: needs at least 2 different labels, found {len(counts)}")


def check_known_labels(
    examples: Sequence[Example], known: Iterable[str], path: str | os.PathLike[str], known_from: str
) -> None:
    """Check that every labelled example uses a label the training data has.

    Raises
    ------
    InputDataError
        Naming the line of the first example whose label is unknown and the file it is missing from.
    """
    known_set = set(known)
    for e in examples:
        if e.label is not None and e.label not in known_set:
            raise InputDataError(f"{path}:{e.line}: label {e.label!r} does not occur in {known_from}")


def check_label_descriptions(
    descriptions: Mapping[str, str],
    training_labels: Iterable[str],
    path: str | os.PathLike[str],
    train_path: str | os.PathLike[str],
) -> None:
    """Check that every label of a labels file has training examples.

    Raises
    ------
    InputDataError
        Naming the first label of the labels file that the training data lacks.
    """
    have = set(training_labels)
    for label in descriptions:
        if label not in have:
            raise InputDataError(f"{path}: label {label!r} has no examples in {train_path}")


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Write records as JSONL atomically (a temporary file renamed into place); ``"-"`` is stdout.

    Returns
    -------
    int
        The number of records written.
    """
    if str(path) == STDIO:
        n = 0
        for record in records:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
        sys.stdout.flush()
        return n
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, expected a file to write")
    tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # honours the umask
    except OSError as exc:
        raise ConfigError(f"{p}: cannot write: {exc.strerror or exc}") from None
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{p}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def write_examples(path: str | os.PathLike[str], examples: Iterable[Example]) -> int:
    """Write examples as ``{"text", "label", ...extra}`` JSONL lines; returns the count."""

    def records() -> Iterator[dict[str, Any]]:
        for e in examples:
            rec: dict[str, Any] = {"text": e.text}
            if e.label is not None:
                rec["label"] = e.label
            rec.update(e.extra)
            yield rec

    return write_jsonl(path, records())


def write_labels(path: str | os.PathLike[str], descriptions: Mapping[str, str]) -> int:
    """Write a labels file; returns the count."""
    return write_jsonl(path, ({"label": k, "description": v} for k, v in descriptions.items()))
