"""The on-disk embedding cache: vectors keyed by the embedder's model id and a hash of the text.

Kept apart from :mod:`redline.adapters.embedder` (which re-exports :class:`CachedEmbedder`) so each
module stays short; one SQLite file serves every process on the machine.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from redline.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from redline.adapters.embedder import Embedder


def text_key(text: str) -> bytes:
    """The cache key of one text: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class CachedEmbedder:
    """Wraps an :class:`Embedder` with an on-disk cache keyed by model id and text hash.

    Parameters
    ----------
    inner : Embedder
        Computes the vectors the cache lacks.
    cache_dir : path-like
        Folder of the cache (a SQLite file ``vectors.sqlite`` is kept there).
    model_id : str or None
        Names the inner model; defaults to ``inner.model_id``. Vectors of different models never mix.

    Notes
    -----
    Only texts missing from the cache reach the inner embedder, each distinct text once.
    """

    _QUERY_CHUNK = 500  # SQLite's default limit on bound parameters is 999

    def __init__(
        self, inner: Embedder, cache_dir: str | os.PathLike[str], model_id: str | None = None
    ) -> None:
        self.inner = inner
        self.cache_dir = Path(cache_dir)
        resolved = model_id if model_id is not None else getattr(inner, "model_id", None)
        if not resolved:
            raise ConfigError("CachedEmbedder needs a model_id (the inner embedder has none)")
        self.model_id: str = resolved
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        path = self.cache_dir / "vectors.sqlite"
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the embedding cache {path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # readers and one writer from several processes
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
                "dim INTEGER NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (model, key))"
            )
        except sqlite3.Error as exc:
            conn.close()
            raise ConfigError(
                f"the embedding cache {path} is unusable ({exc}); delete it, point REDLINE_CACHE_DIR "
                "elsewhere, or run without the cache (--no-cache)"
            ) from exc
        return conn

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, computing only those the cache lacks."""
        texts = list(texts)
        keys = [text_key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        conn = self._connect()
        try:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), self._QUERY_CHUNK):
                part = unique[start : start + self._QUERY_CHUNK]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT key, dim, vec FROM vectors WHERE model = ? AND key IN ({marks})",
                    [self.model_id, *part],
                ).fetchall()
                for key, dim, vec in rows:
                    found[bytes(key)] = np.frombuffer(vec, dtype=np.float32, count=dim)
            missing = [k for k in unique if k not in found]
            self.hits += len(unique) - len(missing)
            self.misses += len(missing)
            if missing:
                first_text: dict[bytes, str] = {}
                for k, t in zip(keys, texts, strict=True):
                    first_text.setdefault(k, t)
                vectors = np.asarray(self.inner.encode([first_text[k] for k in missing]), dtype=np.float32)
                if vectors.shape[0] != len(missing):
                    raise ModelError(
                        f"the embedder returned {vectors.shape[0]} vectors for {len(missing)} texts"
                    )
                with conn:
                    conn.executemany(
                        "INSERT OR REPLACE INTO vectors (model, key, dim, vec) VALUES (?, ?, ?, ?)",
                        [
                            (self.model_id, k, int(v.shape[0]), v.tobytes())
                            for k, v in zip(missing, vectors, strict=True)
                        ],
                    )
                for k, v in zip(missing, vectors, strict=True):
                    found[k] = v
        except sqlite3.Error as exc:
            raise ConfigError(f"the embedding cache in {self.cache_dir} failed: {exc}") from exc
        finally:
            conn.close()
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32, copy=False)
