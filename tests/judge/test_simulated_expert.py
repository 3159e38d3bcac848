from __future__ import annotations

import numpy as np
import pytest

from redline.core.judge_interface import Judge, JudgeContext
from redline.errors import ConfigError
from redline.judge.simulated_expert import SimulatedExpert


def _world(n_labels: int = 20, n_texts: int = 400, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    labels = [f"l{i}" for i in range(n_labels)]
    E = rng.normal(size=(n_labels, 16))
    E[1] = E[0] + 0.05 * rng.normal(size=16)  # l0 and l1 are near twins
    truth = {f"t{i}": labels[i % n_labels] for i in range(n_texts)}
    return labels, dict(zip(labels, E, strict=True)), truth


def test_independent_expert_errs_at_the_stated_rate_and_is_deterministic() -> None:
    _, _, truth = _world(n_texts=4000)
    expert = SimulatedExpert(truth, 0.95, seed=1)
    assert isinstance(expert, Judge)
    answers = [expert.judge_sync(t, lab, JudgeContext()).valid for t, lab in truth.items()]
    assert 0.04 < 1 - np.mean(answers) < 0.06
    again = SimulatedExpert(truth, 0.95, seed=1)
    assert answers == [again.judge_sync(t, lab).valid for t, lab in truth.items()]
    assert expert.stats()["calls"] == 4000
    assert expert.judge_sync("unknown text", "l0").valid is None


def test_confusion_aware_errors_concentrate_on_similar_labels_at_the_same_rate() -> None:
    labels, E, truth = _world(n_texts=6000)
    expert = SimulatedExpert.from_spec("simulated-hard:0.95", truth, E, seed=2)
    assert expert.mode == "confusion-aware"
    rng = np.random.default_rng(3)
    twin_wrong = random_wrong = twin_n = random_n = 0
    for t, true in truth.items():
        if true == "l0":
            v = expert.judge_sync(t, "l1")  # the nearest wrong label
            twin_wrong += int(v.valid is True)
            twin_n += 1
        elif rng.random() < 0.5:
            expert.judge_sync(t, true)
        else:
            wrong = labels[int(rng.integers(2, len(labels)))]
            if wrong == true:
                continue
            v = expert.judge_sync(t, wrong)  # a random wrong label
            random_wrong += int(v.valid is True)
            random_n += 1
    stats = expert.stats()
    assert abs(stats["expected_error_rate"] - 0.05) < 0.01
    assert abs(stats["error_rate"] - 0.05) < 0.015
    assert twin_wrong / twin_n > 0.2  # the confusable pair is judged badly
    assert random_wrong / random_n < 0.03


def test_async_judge_and_bad_specs() -> None:
    import asyncio

    _, E, truth = _world()
    expert = SimulatedExpert.from_spec("simulated:1.0", truth)
    v = asyncio.run(expert.judge("t0", "l0", JudgeContext()))
    assert v.valid is True and v.cost == 0.0
    assert expert.judge_sync("t0", "l3").valid is False
    for spec in ("simulated", "simulated:1.5", "oracle:0.9", "simulated-hard:abc"):
        with pytest.raises(ConfigError):
            SimulatedExpert.from_spec(spec, truth, E)
    with pytest.raises(ConfigError):
        SimulatedExpert(truth, 0.9, mode="confusion-aware")
