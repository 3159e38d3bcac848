"""Worker start-up: reading a fitted model folder, building the judge, installing collaborators."""

from __future__ import annotations

import numpy as np
import pytest

from redline.adapters.jsonl_files import Example, write_examples
from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.errors import ConfigError, ModelError
from redline.judge.simulated_expert import SimulatedExpert
from redline.streams.agents import collaborators
from redline.streams.settings import StreamSettings
from redline.streams.worker import build_judge, build_router, install_collaborators, load_model


@pytest.fixture
def model_dir(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = ["a", "b", "c"] * 10
    texts = [f"t{i}" for i in range(30)]
    model = RedClassifier(EngineConfig(scorer="flat", uncertainty="entropy")).fit(X, texts, y, {"a": "the a"})
    FileSnapshotStore(tmp_path / "m").save(
        "", Snapshot(model.to_state(), {"embedder": "fake@1", "accept_below": 0.4})
    )
    return tmp_path / "m"


class FakeEmbedder:
    model_id = "fake@1"

    def encode(self, texts):  # pragma: no cover - not called here
        raise AssertionError


def test_load_model_gives_a_versioned_classifier(model_dir) -> None:
    loaded = load_model(model_dir)
    assert list(loaded.model.classes_) == ["a", "b", "c"]
    assert loaded.version.startswith("m@") and len(loaded.version) == len("m@") + 12
    assert load_model(model_dir).version == loaded.version  # same folder, same version


def test_missing_model_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model here"):
        load_model(tmp_path / "empty")


def test_judge_specs(model_dir, tmp_path) -> None:
    model = load_model(model_dir).model
    assert build_judge("none", model) is None
    with pytest.raises(ConfigError, match="--judge-truth"):
        build_judge("simulated:0.9", model)
    truth = tmp_path / "truth.jsonl"
    write_examples(truth, [Example("hello", "a"), Example("bye", "b")])
    judge = build_judge("simulated-hard:0.9", model, truth_path=truth)
    assert isinstance(judge, SimulatedExpert) and judge.mode == "confusion-aware"
    with pytest.raises(ConfigError, match="not understood"):
        build_judge("oracle", model)


def test_install_uses_judge_budget_and_model_uncertainty(model_dir, monkeypatch, tmp_path) -> None:
    from redline.core.judge_budget import BudgetedRouter

    for name in ("embedder", "model", "policy", "judge", "uncertainty_kind", "descriptions", "model_version"):
        monkeypatch.setattr(collaborators, name, getattr(collaborators, name))
    loaded = load_model(model_dir)
    install_collaborators(
        StreamSettings(max_candidates=2, judge_share=0.3, data_dir=tmp_path), loaded, embedder=FakeEmbedder()
    )
    router = collaborators.policy
    assert isinstance(router, BudgetedRouter)
    assert router.share == 0.3 and router.max_candidates == 2 and router.fixed_threshold is None
    assert router.prior is None and router.accept_below == 1.0  # no fit-time quantiles in this folder
    assert collaborators.uncertainty_kind == "entropy"
    assert collaborators.descriptions == {"a": "the a"} and collaborators.judge is None
    install_collaborators(
        StreamSettings(uncertainty_threshold=0.1, data_dir=tmp_path), loaded, embedder=FakeEmbedder()
    )
    assert collaborators.policy.accept_below == 0.1 and collaborators.policy.state().target_share is None


def test_fit_time_quantiles_warm_start_the_budget(model_dir, tmp_path) -> None:
    loaded = load_model(model_dir)
    quantiles = [round(i / 100, 2) for i in range(101)]  # uniform on [0, 1]
    router = build_router(
        StreamSettings(judge_share=0.2), {**loaded.metadata, "uncertainty_quantiles": quantiles}
    )
    assert router.prior == quantiles and router.accept_below == pytest.approx(0.8, abs=0.01)
    with pytest.raises(ModelError, match="uncertainty_quantiles are unusable"):
        build_router(StreamSettings(), {"uncertainty_quantiles": [0.9, 0.1]})


def test_install_refuses_a_model_fitted_on_other_embeddings(model_dir, tmp_path) -> None:
    class Other(FakeEmbedder):
        model_id = "other@2"

    with pytest.raises(ModelError, match="fitted on embeddings of fake@1"):
        install_collaborators(StreamSettings(data_dir=tmp_path), load_model(model_dir), embedder=Other())
