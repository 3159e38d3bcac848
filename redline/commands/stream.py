"""``redline stream send|results``: put texts from a JSONL file on the stream, read the results back.

``<prefix>labels`` is written at least once: when a worker dies before committing its input offsets,
the texts it had taken are processed again by the next one, and an id gets a second result. That
duplicate can differ from the first (the model may have learned in between, the judge budget's
threshold may have moved, an LLM judge may answer differently). Every result of an id is keyed by the
id, so all of them sit on one partition in the order they were written (while the topic's partition
count is unchanged); ``results`` keeps the first
per id, which is therefore the same for every reader, at any time. It never prints a duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from redline.adapters.jsonl_files import STDIO, display_name, read_json_lines
from redline.commands.settings_flags import (
    SettingsHelpFormatter,
    add_kafka_security_flags,
    add_setting_flags,
    kafka_security_from_args,
    long_flags,
    setting_values,
)
from redline.errors import InputDataError, RecordError

if TYPE_CHECKING:
    from redline.schemas import TextIn

#: the StreamSettings fields ``stream send|results`` take a flag for (the rest: REDLINE_* variables)
STREAM_FLAGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"bootstrap": ("--bootstrap", "-b"), "topic_prefix": ("--topic-prefix",)}
)


def read_texts(path: str | os.PathLike[str]) -> list[TextIn]:
    """Read ``{"text", "id"?, "metadata"?}`` lines as ``TextIn`` records, all validated before any is sent.

    ``path`` is a JSONL file, or ``"-"`` for stdin (read with
    :func:`~redline.adapters.jsonl_files.read_json_lines`). A line without ``id`` gets
    ``<file stem>-<line number>`` (``stdin-<line number>`` for stdin). Any bad line raises
    ``InputDataError`` as ``<file>:<line>: <what is wrong>``.
    """
    # deferred: redline.schemas takes about 30 ms to import; `redline --help` need not pay for it
    from redline.schemas import TextIn, from_dict

    where = display_name(path)
    stem = "stdin" if str(path) == STDIO else Path(path).stem
    texts = []
    seen: dict[str, int] = {}
    for number, obj in read_json_lines(path):
        if "id" not in obj:
            obj = {**obj, "id": f"{stem}-{number}"}
        try:
            record = from_dict(TextIn, obj)
        except RecordError as exc:
            raise InputDataError(f"{where}:{number}: {exc}") from None
        if record.id in seen:
            raise InputDataError(f"{where}:{number}: id {record.id!r} repeats line {seen[record.id]}")
        seen[record.id] = number
        texts.append(record)
    return texts


def _settings(args: argparse.Namespace) -> Any:
    from redline.streams.settings import StreamSettings

    return StreamSettings.from_env(
        flags=long_flags(STREAM_FLAGS),
        security=kafka_security_from_args(args),
        **setting_values(args, STREAM_FLAGS),
    )


def _send(args: argparse.Namespace) -> int:
    from redline.streams.clients import produce, text_messages

    texts = read_texts(args.input)
    settings = _settings(args)
    sent = asyncio.run(
        produce(settings.bootstrap, settings.topics.texts, text_messages(texts), security=settings.security)
    )
    print(f"sent {sent} texts to {settings.topics.texts} on {settings.bootstrap}")
    return 0


def _results(args: argparse.Namespace) -> int:
    from redline.schemas import LabelResult, decode, to_dict
    from redline.streams.clients import Collected, collect

    settings = _settings(args)
    topic = settings.topics.labels
    wanted: set[str] | None = None
    if args.ids_from:
        wanted = {t.id for t in read_texts(args.ids_from)}
    results: dict[str, LabelResult] = {}
    undecodable = 0

    def on_record(_topic: str, record: Any, _got: Collected) -> None:
        nonlocal undecodable
        try:
            result = decode(LabelResult, record.value)
        except RecordError:
            undecodable += 1
            return
        if (wanted is None or result.id in wanted) and result.id not in results:
            results[result.id] = result

    def done(_got: Collected) -> bool:
        if wanted is not None:
            return wanted <= set(results)
        return args.count is not None and len(results) >= args.count

    asyncio.run(
        collect(
            settings.bootstrap,
            [topic],
            done,
            timeout_s=args.timeout,
            on_record=on_record,
            security=settings.security,
        )
    )
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        for result in results.values():
            out.write(json.dumps(to_dict(result), ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    missing = len(wanted - set(results)) if wanted is not None else 0
    note = f", {undecodable} undecodable record(s) skipped" if undecodable else ""
    print(f"read {len(results)} result(s) from {topic}{note}", file=sys.stderr)
    if missing or (args.count is not None and len(results) < args.count):
        short = missing or args.count - len(results)
        print(f"redline: error: {short} result(s) did not arrive within {args.timeout:g} s", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stream`` command group."""
    group = subparsers.add_parser("stream", help="send texts to the stream and read results back")
    sub = group.add_subparsers(dest="stream_command", metavar="SUBCOMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        add_setting_flags(p, "redline.streams.settings:StreamSettings", STREAM_FLAGS)
        add_kafka_security_flags(p)

    send = sub.add_parser(
        "send",
        help='produce a JSONL of {"text", "id"?, "metadata"?} to <prefix>texts',
        formatter_class=SettingsHelpFormatter,
    )
    send.add_argument(
        "--in",
        dest="input",
        default="-",
        help="JSONL file, - for stdin (the default); every line is checked before any is sent",
    )
    common(send)
    send.set_defaults(func=_send)

    res = sub.add_parser(
        "results",
        help="read <prefix>labels as JSONL (first result per id)",
        description="Read <prefix>labels from the beginning and write one JSONL line per id. The topic is "
        "written at least once: a worker killed mid-stream may leave a second, possibly different, "
        "result for an id. All results of an id are on one partition in order, so keeping the first "
        "(as this command does) gives every reader the same answer; other consumers should do the same.",
        formatter_class=SettingsHelpFormatter,
    )
    res.add_argument("--out", help="JSONL file to write (default: stdout)")
    res.add_argument("--ids-from", help="stop when every id of this JSONL (as sent) has a result")
    res.add_argument("--count", type=int, help="stop after this many distinct ids")
    res.add_argument("--timeout", type=float, default=60.0, help="seconds to wait at most (60)")
    common(res)
    res.set_defaults(func=_results)
