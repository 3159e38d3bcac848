"""A verdict cache so that no question is paid for twice.

Keyed by the text's hash, the label and the prompt version (plus the model and a fingerprint of the
label's description and examples, since a different context is a different question). Kept in
memory, at most ``max_entries`` verdicts (the least recently used go first), and in a sqlite file
when a path is given, so a restarted process does not pay again. Unreadable verdicts
(``valid=None``) are never cached: they are worth asking again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import ConfigError


def text_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verdict_key(
    text: str,
    label: str,
    prompt_version: str,
    *,
    model: str = "",
    context: JudgeContext | None = None,
    max_examples: int | None = None,
) -> str:
    """The cache key of one question.

    Parameters
    ----------
    text, label : str
        The question.
    prompt_version : str
        The version of the prompt that asks it.
    model : str
        The model that answers it.
    context : JudgeContext, optional
        Description and examples; only the ``max_examples`` shown in the prompt count.
    max_examples : int, optional
        How many examples the prompt shows.
    """
    context = context or JudgeContext()
    examples = list(context.examples)[:max_examples] if max_examples is not None else list(context.examples)
    material = json.dumps(
        [text_hash(text), label, prompt_version, model, context.description, examples],
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _to_json(verdict: Verdict) -> str:
    return json.dumps(asdict(verdict), ensure_ascii=False, default=str)


def _from_json(raw: str) -> Verdict:
    data = json.loads(raw)
    return Verdict(
        valid=data.get("valid"),
        p_yes=data.get("p_yes"),
        reason=str(data.get("reason", "")),
        cost=float(data.get("cost", 0.0)),
        tokens_in=int(data.get("tokens_in", 0)),
        tokens_out=int(data.get("tokens_out", 0)),
        latency_ms=float(data.get("latency_ms", 0.0)),
        cached=bool(data.get("cached", False)),
        extra=dict(data.get("extra") or {}),
    )


#: verdicts kept in memory by default (about 1 KB each)
DEFAULT_MAX_ENTRIES = 100_000


class VerdictCache:
    """Verdicts by question key, in a bounded memory LRU and optionally in a sqlite file.

    Parameters
    ----------
    path : path-like, optional
        A sqlite file (created with its folder when missing); None keeps the cache in memory only.
    max_entries : int
        Most verdicts kept in memory; beyond it the least recently used are forgotten there (the
        sqlite file keeps them all). 0 keeps none in memory.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 0:
            raise ConfigError(f"verdict cache: max_entries must be >= 0, got {max_entries}")
        self.path = Path(path) if path is not None else None
        self.max_entries = max_entries
        self._memory: OrderedDict[str, Verdict] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(self.path), check_same_thread=False)
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL)"
                )
                self._db.commit()
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(f"verdict cache {self.path}: cannot open: {exc}") from None

    def get(self, key: str) -> Verdict | None:
        """The stored verdict for ``key``, or None."""
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
            if self._db is None:
                return None
            row = self._db.execute("SELECT verdict FROM verdicts WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            verdict = _from_json(row[0])
        except (ValueError, TypeError):
            return None
        with self._lock:
            self._remember(key, verdict)
        return verdict

    def put(self, key: str, verdict: Verdict) -> None:
        """Store ``verdict`` under ``key`` (ignored when ``verdict.valid`` is None)."""
        if verdict.valid is None:
            return
        with self._lock:
            self._remember(key, verdict)
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO verdicts (key, verdict) VALUES (?, ?)", (key, _to_json(verdict))
                )
                self._db.commit()

    def _remember(self, key: str, verdict: Verdict) -> None:
        """Put ``verdict`` in memory as the most recently used; forget the oldest beyond the bound."""
        if self.max_entries == 0:
            return
        self._memory[key] = verdict
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)

    @property
    def in_memory(self) -> int:
        """Verdicts held in memory now (at most ``max_entries``)."""
        with self._lock:
            return len(self._memory)

    def __len__(self) -> int:
        """Verdicts stored: in the sqlite file when there is one, else in memory."""
        with self._lock:
            if self._db is not None:
                return int(self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])
            return len(self._memory)

    def close(self) -> None:
        """Close the sqlite file (the in-memory part stays usable)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
