"""A small real worker over synthetic embeddings, built like a real one: only the embedder and the
sender are fakes at the boundary.

The model is a real ``RedClassifier``, the engine a real ``StreamEngine`` with a fixed-threshold
router, the judge a real ``SimulatedExpert`` (perfect); what the worker sends is captured in a list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import pytest

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.engine import JudgePolicy, StreamEngine
from redline.core.judge_budget import BudgetedRouter
from redline.judge.simulated_expert import SimulatedExpert
from redline.streams.settings import StreamSettings
from redline.streams.worker import Worker

LABELS = ("balance", "transfer", "weather", "alarm")
DIM = 16


class TableEmbedder:
    """Embeddings from a table; unknown texts get a seeded pseudo-random unit vector."""

    model_id = "table@1"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        rows = []
        for t in texts:
            if t in self.table:
                rows.append(self.table[t])
            else:
                seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "big")
                v = np.random.default_rng(seed).normal(size=DIM)
                rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


class Msg(SimpleNamespace):
    """A stand-in for a Faust message at the step boundary."""


def msg(value: bytes | None, key: bytes | None = None, offset: int = 0, topic: str = "redline.texts") -> Msg:
    return Msg(topic=topic, partition=0, offset=offset, key=key, value=value)


@pytest.fixture(name="msg")
def msg_fixture():
    """The :func:`msg` factory."""
    return msg


def make_world(
    tmp_path,
    threshold: float | None = 0.5,
    share: float = 0.2,
    learn_every: int = 64,
    window: int = 2000,
    questions_per_hop: int = 5,
):
    """A fitted model on 4 well separated synthetic labels, a perfect judge, and a worker around them."""
    rng = np.random.default_rng(0)
    centroids = {lab: _unit(rng.normal(size=DIM)) for lab in LABELS}
    table: dict[str, np.ndarray] = {}
    texts, y = [], []
    for lab in LABELS:
        for j in range(12):
            t = f"{lab} example {j}"
            table[t] = _unit(centroids[lab] + 0.15 * rng.normal(size=DIM))
            texts.append(t)
            y.append(lab)
    truth: dict[str, str] = {}
    for lab in LABELS:  # probe texts: clearly one label, or halfway between two (uncertain)
        table[f"clear {lab}"] = centroids[lab]
        truth[f"clear {lab}"] = lab
    table["between balance transfer"] = _unit(centroids["balance"] + centroids["transfer"])
    truth["between balance transfer"] = "transfer"
    table["between weather alarm"] = _unit(centroids["weather"] + centroids["alarm"])
    truth["between weather alarm"] = "alarm"
    X = np.asarray([table[t] for t in texts], dtype=np.float32)
    model = RedClassifier(EngineConfig(scorer="flat", C=10.0)).fit(
        X, texts, y, {"transfer": "move money between accounts"}
    )
    embedder = TableEmbedder(table)
    judge = SimulatedExpert(truth, accuracy=1.0)
    router = BudgetedRouter(share=share, window=window, fixed_threshold=threshold)
    policy = JudgePolicy(judge_share=share, threshold=threshold, max_candidates=3, context_examples=2)
    engine = StreamEngine(model, "test-model", router, policy)
    settings = StreamSettings(
        data_dir=tmp_path / "worker",
        batch_size=4,
        batch_within_s=0.05,
        judge_concurrency=2,
        judge_questions_per_hop=questions_per_hop,
        learn_every=learn_every,
    )
    sent: list = []

    async def capture(outgoing, times=None):
        sent.extend(outgoing)

    worker = Worker(settings, embedder, judge, "simulated:1.0", engine, sender=capture)
    return SimpleNamespace(
        model=model, embedder=embedder, judge=judge, truth=truth, table=table, worker=worker, sent=sent
    )


@pytest.fixture
def world(tmp_path) -> SimpleNamespace:
    """The world of :func:`make_world` with its defaults (fixed threshold 0.5)."""
    w = make_world(tmp_path)
    yield w
    w.worker.close()
