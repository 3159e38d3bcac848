"""Worker start-up from the deployment's state: the newest snapshot and the examples."""

from __future__ import annotations

import numpy as np
import pytest

from redline.adapters.jsonl_files import Example, write_examples
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.engine import JudgePolicy
from redline.errors import ConfigError, ModelError
from redline.judge.simulated_expert import SimulatedExpert
from redline.schemas import ExampleRecord, encode, encode_embedding
from redline.streams.deployment import DeploymentState
from redline.streams.example_store import ExampleStore
from redline.streams.model_topic import PublishedModel, SnapshotInfo
from redline.streams.settings import StreamSettings
from redline.streams.startup import build_router, build_worker, policy_line


class FakeEmbedder:
    model_id = "fake@1"

    def encode(self, texts):  # pragma: no cover - not called here
        raise AssertionError


def _state(policy: JudgePolicy | None = None, embedder: str = "fake@1") -> DeploymentState:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = ["a", "b", "c"] * 10
    texts = [f"t{i}" for i in range(30)]
    model = RedClassifier(EngineConfig(scorer="flat", uncertainty="entropy")).fit(X, texts, y, {"a": "the a"})
    store = ExampleStore(embedder)
    for i, (t, label, x) in enumerate(zip(texts, y, X, strict=True)):
        record = ExampleRecord(
            id=f"seed:{i}", text=t, label=label, source="seed", embedder=embedder,
            embedding=encode_embedding(x),
        )  # fmt: skip
        store.apply(i, record.id.encode(), encode(record))
    info = SnapshotInfo.new(
        examples_offset=30, control_offset=0, policy=(policy or JudgePolicy()).to_dict(), embedder=embedder,
        labels=3, examples=30,
    )  # fmt: skip
    return DeploymentState(PublishedModel("v7", 7, info, model.params_state()), store, "")


def _settings(tmp_path, **kw) -> StreamSettings:
    return StreamSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path / "w", **kw)


def test_the_worker_decides_with_the_published_model_and_policy(tmp_path) -> None:
    state = _state(JudgePolicy(judge_share=0.3, max_candidates=2, context_examples=1))
    worker, line = build_worker(_settings(tmp_path, judge="none"), embedder=FakeEmbedder(), state=state)
    engine = worker.engine
    assert engine.version == "v7" and engine.classes == ["a", "b", "c"]
    assert engine.walk.max_candidates == 2 and engine.uncertainty_kind == "entropy"
    assert engine.router.share == 0.3 and not engine.judge_available
    assert len(engine.examples) == 30 and engine.descriptions == {"a": "the a"}
    assert "loaded v7 (3 labels, 30 examples)" in line and "deployment's policy" in line
    assert worker.published is state.published and worker.store is state.store


def test_judges_from_specs(tmp_path) -> None:
    with pytest.raises(ConfigError, match="--judge-truth"):
        build_worker(_settings(tmp_path, judge="simulated:0.9"), embedder=FakeEmbedder(), state=_state())
    truth = tmp_path / "truth.jsonl"
    write_examples(truth, [Example("hello", "a"), Example("bye", "b")])
    settings = _settings(tmp_path, judge="simulated-hard:0.9")
    worker, _ = build_worker(settings, judge_truth=truth, embedder=FakeEmbedder(), state=_state())
    assert isinstance(worker.judge, SimulatedExpert) and worker.judge.mode == "confusion-aware"
    with pytest.raises(ConfigError, match="not understood"):
        build_worker(_settings(tmp_path, judge="oracle"), embedder=FakeEmbedder(), state=_state())


def test_a_deployment_of_other_embeddings_is_refused(tmp_path) -> None:
    with pytest.raises(ModelError, match="fitted on embeddings of other@2"):
        build_worker(_settings(tmp_path), embedder=FakeEmbedder(), state=_state(embedder="other@2"))


def test_fit_time_quantiles_warm_start_the_budget() -> None:
    quantiles = [round(i / 100, 2) for i in range(101)]  # uniform on [0, 1]
    router = build_router(StreamSettings(judge_share=0.2), quantiles)
    assert router.prior == quantiles and router.threshold_ == pytest.approx(0.8, abs=0.01)
    with pytest.raises(ModelError, match="uncertainty_quantiles are unusable"):
        build_router(StreamSettings(), [0.9, 0.1])


def test_the_policy_line_says_when_the_deployment_overrides_the_flags(tmp_path) -> None:
    settings = _settings(tmp_path, judge_share=0.2)
    assert "deployment" not in policy_line(settings, JudgePolicy(judge_share=0.2, context_examples=3))
    assert "set-policy" in policy_line(settings, JudgePolicy(judge_share=0.5))
    assert "fixed threshold" in policy_line(settings, JudgePolicy(threshold=0.4))


def test_the_model_folder_is_checked_at_once_and_read_only_when_needed(tmp_path) -> None:
    """A missing ``--model`` folder, or one of other embeddings, fails at start (from its manifest); its
    arrays are read only when the deployment has nothing published (1000 labels: 0.7 s of a restart)."""
    from redline.adapters.model_files import write_model_folder
    from redline.streams.startup import _folder_reader

    assert _folder_reader(_settings(tmp_path), FakeEmbedder()) is None
    with pytest.raises(ModelError, match="missing manifest"):
        _folder_reader(_settings(tmp_path, model_dir=tmp_path / "nowhere"), FakeEmbedder())
    X = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    texts, y = [f"t{i}" for i in range(30)], ["a", "b", "c"] * 10
    model = RedClassifier(EngineConfig(scorer="flat")).fit(X, texts, y)
    other, ours = tmp_path / "other", tmp_path / "ours"
    write_model_folder(other, model, {"embedder": "other@2"})
    write_model_folder(ours, model, {"embedder": "fake@1"})
    with pytest.raises(ModelError, match="fitted on embeddings of other@2"):
        _folder_reader(_settings(tmp_path, model_dir=other), FakeEmbedder())
    read = _folder_reader(_settings(tmp_path, model_dir=ours), FakeEmbedder())
    assert read is not None and read().model.classes_.tolist() == ["a", "b", "c"]


def test_learning_takes_at_most_its_share_of_the_time() -> None:
    from redline.streams.leader import learning_pause

    assert learning_pause(10.0, 0.0, 0.1) == 10.0  # no step yet: the minimum interval
    assert learning_pause(10.0, 0.8, 0.1) == 10.0  # 150 labels: the minimum dominates
    assert learning_pause(10.0, 3.0, 0.1) == pytest.approx(27.0)  # 1000 labels: 3 s in every 30
    assert learning_pause(0.0, 2.0, 0.5) == pytest.approx(2.0)
    assert learning_pause(0.0, 2.0, 1.0) == 0.0  # a share of 1: learn back to back
    with pytest.raises(ConfigError, match="learn_time_share"):
        StreamSettings(learn_time_share=0.0)


def test_a_worker_limits_numpy_blas_to_its_setting() -> None:
    from threadpoolctl import threadpool_info

    from redline.streams.startup import limit_blas_threads

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    assert limit_blas_threads(0) is None
    before = blas_threads()
    assert before, "numpy's BLAS is loaded"
    limiter = limit_blas_threads(1)
    try:
        assert blas_threads() == {1}
        assert StreamSettings().blas_threads == 1  # the default
    finally:
        limiter.restore_original_limits()
    assert blas_threads() == before


def test_a_worker_embedder_leaves_a_core_unless_its_threads_are_set(monkeypatch) -> None:
    from redline.streams import startup

    assert [startup.embed_threads(n) for n in (None, 1, 2, 8)] == [1, 1, 1, 7]
    assert [startup.embed_threads(n, 2) for n in (None, 1, 2, 8, 9)] == [1, 1, 1, 3, 4]  # shared
    settings = StreamSettings(embed_batches=1)
    monkeypatch.delenv("REDLINE_EMBED_THREADS", raising=False)
    monkeypatch.setattr(startup, "_cores", lambda: 4)
    assert startup.worker_embedder(settings).threads == 3  # not loaded: the setting only
    assert startup.worker_embedder(StreamSettings()).threads == 1  # two batches at once by default
    monkeypatch.setenv("REDLINE_EMBED_THREADS", "2")
    assert startup.worker_embedder(settings).threads == 2  # the variable wins
    monkeypatch.setattr(startup, "_cores", lambda: 1)
    monkeypatch.delenv("REDLINE_EMBED_THREADS")
    assert startup.worker_embedder(settings).threads == 1


def test_settling_imports_then_takes_what_is_alive_out_of_the_collectors_reach() -> None:
    """After its start a worker freezes what it built (full collections walked ~190,000 objects at 1000
    labels, ~100 ms with every thread stopped); what is built later is collected as before."""
    import gc
    import sys

    from redline.streams.startup import settle

    gc.unfreeze()
    try:
        sys.modules.pop("colorsys", None)
        settle(["colorsys"])
        assert "colorsys" in sys.modules
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # pytest, numpy, scikit-learn, redline: all of it
        assert len(gc.get_objects()) < frozen / 10  # what a full collection still walks
        later = [[i] for i in range(1000)]
        walked = {id(o) for o in gc.get_objects()}
        assert all(id(x) in walked for x in later)  # built later: walked by a collection, not frozen
        # frozen objects still die by reference count (the count can drop); none of ``later`` joined them
        assert gc.get_freeze_count() <= frozen
        del later
    finally:
        gc.unfreeze()
