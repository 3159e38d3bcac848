from __future__ import annotations

import numpy as np
import pytest

from redline.core.candidate_walk import Outcome
from redline.core.drift import DriftMonitor, TextOutcome, examples_to_relearn
from redline.core.drift_signals import DriftSettings, SignalTrack
from redline.errors import ConfigError

DETECTORS = ("adwin", "page-hinkley", "kswin")
#: KSWIN tests its window at every observation: it needs a far smaller alpha than ADWIN's delta
SETTINGS = {
    "adwin": DriftSettings(),
    "page-hinkley": DriftSettings(detector="page-hinkley"),
    "kswin": DriftSettings(detector="kswin", sensitivity=0.0001),
}


def _feed(track: SignalTrack, values: np.ndarray, start: int = 0) -> list[tuple[int, str, float, float]]:
    """Feed 0/1 values; returns (position, kind, before, after) of every change reported."""
    out = []
    for i, v in enumerate(values.tolist(), start=start):
        change = track.update(i, float(v))
        if change is not None:
            out.append((i, change.kind, change.before, change.after))
    return out


def _bernoulli(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return (rng.random(n) < p).astype(float)


@pytest.mark.parametrize("detector", DETECTORS)
def test_a_step_up_is_a_drift_with_its_levels(detector: str) -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([_bernoulli(rng, 0.1, 400), _bernoulli(rng, 0.6, 300)])
    changes = _feed(SignalTrack(SETTINGS[detector]), values)
    assert changes, f"{detector} missed a step from 0.1 to 0.6"
    at, kind, before, after = changes[0]
    assert kind == "drift"
    assert 400 <= at < 400 + 150
    assert before == pytest.approx(0.1, abs=0.06)
    assert after > before + 0.15


@pytest.mark.parametrize("seed", range(20))
def test_stationary_noise_never_alarms(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.choice([0.05, 0.2, 0.5])
    track = SignalTrack(DriftSettings())
    assert _feed(track, _bernoulli(rng, p, 5000)) == []


@pytest.mark.parametrize("detector", ["page-hinkley", "kswin"])
def test_other_detectors_are_silent_on_noise_too(detector: str) -> None:
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        track = SignalTrack(SETTINGS[detector])
        assert _feed(track, _bernoulli(rng, 0.2, 5000)) == []


def test_a_fall_is_no_drift() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([_bernoulli(rng, 0.6, 400), _bernoulli(rng, 0.1, 600)])
    assert _feed(SignalTrack(DriftSettings()), values) == []


@pytest.mark.parametrize("detector", DETECTORS)
def test_recovered_once_the_signal_is_back(detector: str) -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([_bernoulli(rng, 0.1, 400), _bernoulli(rng, 0.7, 200), _bernoulli(rng, 0.1, 300)])
    changes = _feed(SignalTrack(SETTINGS[detector]), values)
    kinds = [kind for _, kind, _, _ in changes]
    assert kinds == ["drift", "recovered"]
    at, _, drifted, now = changes[1]
    assert 600 <= at < 600 + 100
    assert drifted > 0.4
    assert now <= 0.1 + 0.05 + 1e-9


def test_no_alarm_before_min_evidence() -> None:
    rng = np.random.default_rng(8)
    values = np.concatenate([_bernoulli(rng, 0.05, 40), np.ones(160)])
    assert _feed(SignalTrack(DriftSettings(min_evidence=300)), values) == []
    assert [k for _, k, _, _ in _feed(SignalTrack(DriftSettings(min_evidence=10)), values)] == ["drift"]


def _judged(label: str, rejected: bool, u: float = 0.3) -> TextOutcome:
    outcome = Outcome.UNRESOLVED if rejected else Outcome.VALIDATED
    return TextOutcome(label, outcome, u, None if rejected else label, version="v7")


def test_monitor_names_the_label_whose_top_candidate_is_rejected() -> None:
    rng = np.random.default_rng(11)
    labels = [f"label_{i}" for i in range(5)]
    monitor = DriftMonitor(DriftSettings(signals=("rejection",)), quantiles=np.linspace(0, 1, 101))
    events = []
    for i in range(6000):
        label = labels[int(rng.integers(5))]
        p = 0.8 if (label == "label_2" and i >= 3000) else 0.1
        events += monitor.observe(_judged(label, bool(rng.random() < p)))
    drifts = [e for e in events if e.kind == "drift"]
    assert drifts, "the rise of label_2's rejections went unseen"
    assert all(e.labels == ("label_2",) for e in drifts)
    assert {e.scope for e in drifts} <= {"label:label_2", "all"}
    first = drifts[0]
    assert first.signal == "rejection" and first.version == "v7"
    assert 3000 <= first.at < 3600
    assert first.before < 0.25 < first.after
    assert first.to_dict()["labels"] == ["label_2"]
    assert "label:label_2" in {a["scope"] for a in monitor.active()}
    assert monitor.stats()["events"] == len(events)


def test_uncertainty_is_read_against_the_fit_time_quantiles() -> None:
    rng = np.random.default_rng(12)
    quantiles = np.linspace(0.0, 1.0, 101)  # fit time: uniform uncertainties, the 80th percentile is 0.8
    monitor = DriftMonitor(DriftSettings(signals=("uncertainty",), global_scope=False), quantiles)
    assert monitor.threshold == pytest.approx(0.8)
    events = []
    for i in range(4000):
        label = "a" if i % 2 else "b"
        u = rng.uniform(0.7, 1.0) if (label == "b" and i >= 2000) else rng.random()
        events += monitor.observe(TextOutcome(label, None, float(u), label))
    assert [(e.kind, e.scope) for e in events] == [("drift", "label:b")]
    assert events[0].before == pytest.approx(0.2, abs=0.08)
    assert events[0].after > 0.5


def test_without_quantiles_the_uncertainty_signal_calibrates_on_the_first_texts() -> None:
    monitor = DriftMonitor(DriftSettings(signals=("uncertainty",)))
    for i in range(199):
        monitor.observe(TextOutcome("a", None, i / 200, "a"))
    assert monitor.threshold is None
    monitor.observe(TextOutcome("a", None, 0.5, "a"))
    assert monitor.threshold == pytest.approx(0.8, abs=0.01)


def test_escalated_texts_stay_out_of_the_judged_rates() -> None:
    monitor = DriftMonitor(DriftSettings(min_evidence=5), quantiles=np.linspace(0, 1, 101))
    events = []
    for _ in range(100):
        events += monitor.observe(_judged("a", False))
    for _ in range(200):
        o = TextOutcome("a", Outcome.UNRESOLVED, 0.3, None, escalated=True)
        events += monitor.observe(o)
    assert events == []
    for _ in range(100):
        events += monitor.observe(_judged("a", True))
    assert {e.signal for e in events} == {"rejection", "unresolved"}


def test_corrected_is_keyed_by_the_confirmed_label_and_subsets_are_scopes() -> None:
    rng = np.random.default_rng(13)
    groups = {"a": "s1", "b": "s1", "c": "s2"}
    monitor = DriftMonitor(DriftSettings(signals=("corrected",), global_scope=False), groups=groups)
    events = []
    for i in range(3000):
        label = "abc"[i % 3]
        corrected = rng.random() < (0.9 if label == "a" and i >= 1500 else 0.1)
        outcome = Outcome.CORRECTED if corrected else Outcome.VALIDATED
        events += monitor.observe(TextOutcome("c" if corrected else label, outcome, 0.5, label))
    assert {(e.scope, e.labels) for e in events} == {("label:a", ("a",)), ("subset:s1", ("a",))}


def test_examples_to_relearn_picks_recent_examples_of_drifted_labels() -> None:
    labels = ["a", "b", "a", "c", "a", "b", "a"]
    arrived = [1, 2, 3, 10, 11, 12, 13]
    assert examples_to_relearn(labels, arrived, {"a", "b"}, since=10).tolist() == [4, 5, 6]
    assert examples_to_relearn(labels, arrived, {"a"}, since=0, limit=2).tolist() == [4, 6]
    assert examples_to_relearn(labels, arrived, {"z"}, since=0).tolist() == []
    assert examples_to_relearn(labels, arrived, {"a"}, since=0, limit=0).tolist() == []
    with pytest.raises(ConfigError):
        examples_to_relearn(labels, arrived[:3], {"a"}, since=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"detector": "ddm"},
        {"sensitivity": 0.0},
        {"signals": ("rejection", "mood")},
        {"signals": ()},
        {"min_effect": 0.1, "tolerance": 0.2},
        {"recent": 50, "history": 60},
        {"uncertainty_level": 1.0},
        {"max_labels": 0},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        DriftSettings(**kwargs)


def test_bad_quantiles_are_rejected() -> None:
    with pytest.raises(ConfigError):
        DriftMonitor(quantiles=[0.5, 0.2, 0.9])


def _burst(rng: np.random.Generator, n: int, lag: int) -> tuple[list[tuple[str, float]], list[int]]:
    """A stationary burst: n scored texts (label, uncertainty) and the order their results arrive in,
    the uncertain ones (those the judge is asked about) ``lag`` positions late."""
    texts = [(f"l{i % 50}", float(rng.random())) for i in range(n)]
    arrival = sorted(range(n), key=lambda i: i + (lag if texts[i][1] > 0.8 else 0))
    return texts, arrival


def test_uncertainty_observed_when_scored_does_not_alarm_on_a_burst_whose_judged_results_lag() -> None:
    quantiles = np.linspace(0.0, 1.0, 101)
    settings = DriftSettings(signals=("uncertainty",))
    texts, arrival = _burst(np.random.default_rng(3), 3000, lag=600)
    at_result = DriftMonitor(settings, quantiles)
    late = [e for i in arrival for e in at_result.observe(TextOutcome(texts[i][0], None, texts[i][1]))]
    assert any(e.kind == "drift" for e in late)  # the lag alone looks like a rise
    when_scored = DriftMonitor(settings, quantiles)
    events = [e for label, u in texts for e in when_scored.observe_uncertainty(label, u)]
    events += [e for i in arrival for e in when_scored.observe(TextOutcome(texts[i][0], None, float("nan")))]
    assert events == []
    assert when_scored.seen == 3000  # texts counted once, by their outcome


def test_a_real_rise_of_uncertainty_is_found_when_scored() -> None:
    rng = np.random.default_rng(4)
    settings = DriftSettings(signals=("uncertainty",), global_scope=False)
    monitor = DriftMonitor(settings, np.linspace(0, 1, 101))
    events = []
    for i in range(4000):
        label = "a" if i % 2 else "b"
        u = rng.uniform(0.7, 1.0) if (label == "b" and i >= 2000) else rng.random()
        events += monitor.observe_uncertainty(label, float(u))
    assert [(e.kind, e.scope) for e in events] == [("drift", "label:b")]
