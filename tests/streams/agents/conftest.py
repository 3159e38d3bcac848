"""A small real engine over synthetic embeddings, installed as the agents' collaborators.

Only the embedder is a fake (a lookup table: the boundary); the model is a real ``RedClassifier``,
the routing a real ``RoutingPolicy``, the judge a real ``SimulatedExpert`` (evaluation judge).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import pytest

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.uncertainty import RoutingPolicy
from redline.judge.simulated_expert import SimulatedExpert
from redline.streams.agents import collaborators

LABELS = ("balance", "transfer", "weather", "alarm")
DIM = 16


class TableEmbedder:
    """Embeddings from a table; unknown texts get a seeded pseudo-random unit vector."""

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


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Fit a real model on 4 well separated synthetic labels and install it with a perfect judge."""
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
    # probe texts: clearly one label, or halfway between two (uncertain)
    truth: dict[str, str] = {}
    for lab in LABELS:
        t = f"clear {lab}"
        table[t] = centroids[lab]
        truth[t] = lab
    table["between balance transfer"] = _unit(centroids["balance"] + centroids["transfer"])
    truth["between balance transfer"] = "transfer"
    table["between weather alarm"] = _unit(centroids["weather"] + centroids["alarm"])
    truth["between weather alarm"] = "alarm"
    X = np.asarray([table[t] for t in texts], dtype=np.float32)
    model = RedClassifier(EngineConfig(scorer="flat", C=10.0)).fit(X, texts, y)
    embedder = TableEmbedder(table)
    judge = SimulatedExpert(truth, accuracy=1.0)
    monkeypatch.setattr(collaborators, "embedder", embedder)
    monkeypatch.setattr(collaborators, "model", model)
    monkeypatch.setattr(collaborators, "examples", model)
    monkeypatch.setattr(collaborators, "model_version", "test-model")
    monkeypatch.setattr(collaborators, "uncertainty_kind", "margin")
    monkeypatch.setattr(collaborators, "policy", RoutingPolicy(accept_below=0.5, max_candidates=3))
    monkeypatch.setattr(collaborators, "judge", judge)
    monkeypatch.setattr(collaborators, "judge_name", "simulated:1.0")
    monkeypatch.setattr(collaborators, "descriptions", {"transfer": "move money between accounts"})
    monkeypatch.setattr(collaborators, "context_examples", 2)
    return SimpleNamespace(model=model, embedder=embedder, judge=judge, truth=truth, table=table)


class Msg(SimpleNamespace):
    """A stand-in for a Faust message at the step-function boundary."""


def msg(value: bytes | None, key: bytes | None = None, offset: int = 0, topic: str = "redline.texts") -> Msg:
    return Msg(topic=topic, partition=0, offset=offset, key=key, value=value)


@pytest.fixture(name="msg")
def msg_fixture():
    """The :func:`msg` factory."""
    return msg
