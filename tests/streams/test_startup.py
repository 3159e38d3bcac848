"""Worker start-up: reading a fitted model folder, the judge, the router, the engine."""

from __future__ import annotations

import numpy as np
import pytest

from redline.adapters.jsonl_files import Example, write_examples
from redline.adapters.model_files import read_model_folder
from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.errors import ConfigError, ModelError
from redline.judge.simulated_expert import SimulatedExpert
from redline.streams.settings import StreamSettings
from redline.streams.startup import build_engine, build_router, build_worker


@pytest.fixture
def model_dir(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = ["a", "b", "c"] * 10
    texts = [f"t{i}" for i in range(30)]
    model = RedClassifier(EngineConfig(scorer="flat", uncertainty="entropy")).fit(X, texts, y, {"a": "the a"})
    FileSnapshotStore(tmp_path / "m").save("", Snapshot(model.to_state(), {"embedder": "fake@1"}))
    return tmp_path / "m"


class FakeEmbedder:
    model_id = "fake@1"

    def encode(self, texts):  # pragma: no cover - not called here
        raise AssertionError


def _settings(tmp_path, model_dir, **kw) -> StreamSettings:
    # an unreachable broker: resuming from the models topic fails fast and the folder's model is used
    return StreamSettings(bootstrap="127.0.0.1:1", model_dir=model_dir, data_dir=tmp_path / "w", **kw)


def test_load_model_gives_a_versioned_classifier(model_dir) -> None:
    loaded = read_model_folder(model_dir)
    assert list(loaded.model.classes_) == ["a", "b", "c"]
    assert loaded.version.startswith("m@") and len(loaded.version) == len("m@") + 12
    assert read_model_folder(model_dir).version == loaded.version  # same folder, same version


def test_missing_model_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="no model here"):
        read_model_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model here"):
        read_model_folder(tmp_path / "empty")


def test_engine_uses_the_judge_budget_and_the_models_uncertainty(model_dir, tmp_path) -> None:
    loaded = read_model_folder(model_dir)
    engine = build_engine(_settings(tmp_path, model_dir, max_candidates=2, judge_share=0.3), loaded,
                          judge_available=False)  # fmt: skip
    assert engine.walk.max_candidates == 2 and engine.uncertainty_kind == "entropy"
    assert engine.router.share == 0.3 and engine.router.fixed_threshold is None
    assert engine.router.prior is None and engine.router.threshold_ == 1.0  # no fit-time quantiles here
    assert engine.descriptions == {"a": "the a"} and not engine.judge_available
    fixed = build_engine(
        _settings(tmp_path, model_dir, uncertainty_threshold=0.1), loaded, judge_available=True
    )
    assert fixed.router.threshold_ == 0.1 and fixed.router.state().target_share is None


def test_fit_time_quantiles_warm_start_the_budget() -> None:
    quantiles = [round(i / 100, 2) for i in range(101)]  # uniform on [0, 1]
    router = build_router(StreamSettings(judge_share=0.2), {"uncertainty_quantiles": quantiles})
    assert router.prior == quantiles and router.threshold_ == pytest.approx(0.8, abs=0.01)
    with pytest.raises(ModelError, match="uncertainty_quantiles are unusable"):
        build_router(StreamSettings(), {"uncertainty_quantiles": [0.9, 0.1]})


def test_build_worker_judges(model_dir, tmp_path) -> None:
    worker, _ = build_worker(_settings(tmp_path, model_dir, judge="none"), embedder=FakeEmbedder())
    assert worker.judge is None and worker.judge_name == "none"
    with pytest.raises(ConfigError, match="--judge-truth"):
        build_worker(_settings(tmp_path, model_dir, judge="simulated:0.9"), embedder=FakeEmbedder())
    truth = tmp_path / "truth.jsonl"
    write_examples(truth, [Example("hello", "a"), Example("bye", "b")])
    worker, _ = build_worker(
        _settings(tmp_path, model_dir, judge="simulated-hard:0.9"), judge_truth=truth, embedder=FakeEmbedder()
    )
    assert isinstance(worker.judge, SimulatedExpert) and worker.judge.mode == "confusion-aware"
    with pytest.raises(ConfigError, match="not understood"):
        build_worker(_settings(tmp_path, model_dir, judge="oracle"), embedder=FakeEmbedder())
    with pytest.raises(ConfigError, match="needs a model"):
        build_worker(StreamSettings(data_dir=tmp_path), embedder=FakeEmbedder())


def test_a_model_fitted_on_other_embeddings_is_refused(model_dir, tmp_path) -> None:
    class Other(FakeEmbedder):
        model_id = "other@2"

    with pytest.raises(ModelError, match="fitted on embeddings of fake@1"):
        build_worker(_settings(tmp_path, model_dir), embedder=Other())
