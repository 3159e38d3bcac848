"""A worker's Prometheus metrics, read back from its own registry after driving its real steps."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from redline.schemas import STATUSES, LabelResult, decode
from redline.streams.worker_metrics import EventTimes, WorkerMetrics, dead_letter_kind

NOW = 1_000_000.0
PRODUCED = NOW - 2.5  # every text was produced 2.5 s before the (fixed) clock


def _use_fixed_clock(world) -> WorkerMetrics:
    metrics = WorkerMetrics(clock=lambda: NOW)
    metrics.watch(world.worker)
    world.worker.metrics = metrics
    return metrics


def _kafka_like_sender(world) -> list:
    """A sender that records each message with the Kafka timestamp the real one would give it."""
    sent: list = []

    async def send(outgoing, times=None):
        for item in outgoing:
            keeps_time = times is not None and item.topic == "judge_requests"
            sent.append((item, times.at(item.key) if keeps_time else NOW))

    world.worker.sender = send
    return sent


async def _run(world, sent: list) -> list[LabelResult]:
    from stream_world import msg

    messages = []
    for i, text in enumerate(world.truth):
        m = msg(json.dumps({"id": f"id{i}", "text": text}).encode(), f"id{i}".encode(), i)
        m.timestamp = PRODUCED
        messages.append(m)
    await (await world.worker.classify_batch(messages))
    done = 0
    while pending := [(o, t) for o, t in sent[done:] if o.topic == "judge_requests"]:
        done = len(sent)
        for o, stamp in pending:
            m = msg(o.value, o.key, topic=f"redline.{o.topic}")
            m.timestamp = stamp
            await (await world.worker.judge_batch([m]))
    return [decode(LabelResult, o.value) for o, _ in sent if o.topic == "labels"]


async def test_results_latency_and_judge_calls_are_counted(world) -> None:
    metrics = _use_fixed_clock(world)
    sent = _kafka_like_sender(world)
    results = await _run(world, sent)
    by_status = Counter(r.status for r in results)
    assert {"accepted", "validated"} <= set(by_status) or {"accepted", "corrected"} <= set(by_status)
    for status in STATUSES:
        assert metrics.value("redline_results_total", {"status": status}) == by_status.get(status, 0)
    assert metrics.value("redline_texts_total") == len(world.truth)
    # judged results too are timed from their text's timestamp (carried on the judge topics)
    assert metrics.value("redline_label_latency_seconds_count") == len(results)
    assert metrics.value("redline_label_latency_seconds_sum") == 2.5 * len(results)
    assert metrics.value("redline_label_latency_seconds_bucket", {"le": "2.5"}) == len(results)
    assert metrics.value("redline_label_latency_seconds_bucket", {"le": "1.0"}) == 0
    judged = [r for r in results if r.judge is not None]
    attempts = [a for r in judged for a in r.judge.attempts]  # every question asked, as the results say
    assert metrics.value("redline_judge_calls_total") == len(attempts) > 0
    assert metrics.value("redline_judge_errors_total") == sum(a.valid is None for a in attempts)
    assert metrics.value("redline_judge_latency_seconds_count") == len(attempts)
    rejected_top = Counter(r.candidates[0].label for r in judged if r.judge.attempts[0].valid is False)
    for label, n in rejected_top.items():
        assert metrics.value("redline_judge_top_rejections_total", {"label": label}) == n
    assert sum(rejected_top.values()) == by_status.get("corrected", 0) + by_status.get("unresolved", 0)


async def test_dead_letters_are_counted_by_stage_and_kind(world, msg) -> None:
    metrics = world.worker.metrics
    bad = [msg(b"{not json", b"k1", 1), msg(b"", b"k2", 2), msg(b'{"id": 3}', None, 3)]
    await (await world.worker.classify_batch(bad))
    await (await world.worker.judge_batch([msg(b"[]", b"k4", 4, topic="redline.judge.requests")]))
    assert metrics.value("redline_dead_letters_total", {"stage": "classify", "kind": "invalid_json"}) == 1
    assert metrics.value("redline_dead_letters_total", {"stage": "classify", "kind": "empty"}) == 1
    assert metrics.value("redline_dead_letters_total", {"stage": "classify", "kind": "invalid_record"}) == 1
    assert metrics.value("redline_dead_letters_total", {"stage": "judge", "kind": "invalid_record"}) == 1
    assert metrics.value("redline_results_total", {"status": "accepted"}) == 0
    assert metrics.value("redline_texts_total") == 3


def test_state_is_read_when_scraped(world) -> None:
    metrics = world.worker.metrics
    assert metrics.value("redline_leader") == 0
    world.worker.leading = lambda: True
    assert metrics.value("redline_leader") == 1
    assert metrics.value("redline_ready") == 0
    assert metrics.value("redline_model_offset") == -1  # built by hand: no snapshot
    info = {"version": "test-model", "embedder": "table@1", "judge": "simulated:1.0"}
    assert metrics.value("redline_model_info", info) == 1
    assert metrics.value("redline_uncertain_share") == world.worker.engine.router.state().share
    assert metrics.value("redline_judge_breaker_state") is None  # the simulated judge has no breaker


def test_judge_tokens_and_breaker_come_from_the_judge_stats(world) -> None:
    metrics = world.worker.metrics
    for state, code in (("closed", 0), ("open", 1), ("half_open", 2)):
        snapshot = {"tokens_in": 120, "tokens_out": 7, "breaker": {"state": state}}
        world.worker.judge = SimpleNamespace(stats=lambda snapshot=snapshot: snapshot)
        assert metrics.value("redline_judge_breaker_state") == code
    assert metrics.value("redline_judge_tokens_total", {"direction": "in"}) == 120
    assert metrics.value("redline_judge_tokens_total", {"direction": "out"}) == 7
    world.worker.judge = SimpleNamespace(stats=lambda: 1 / 0)  # a failing part leaves the rest
    assert metrics.value("redline_judge_breaker_state") is None and metrics.value("redline_leader") == 0


def test_consumer_lag_per_assigned_partition() -> None:
    from faust.types import TP

    texts0, texts1, verdicts0 = TP("redline.texts", 0), TP("redline.texts", 1), TP("v", 0)
    consumer = _Consumer({texts0: 10, texts1: 3, verdicts0: 5}, {texts0: 4, texts1: 3})
    metrics = WorkerMetrics()
    metrics.watch_consumer(lambda: consumer)
    assert metrics.value("redline_consumer_lag", {"topic": "redline.texts", "partition": "0"}) == 6
    assert metrics.value("redline_consumer_lag", {"topic": "redline.texts", "partition": "1"}) == 0
    assert metrics.value("redline_consumer_lag", {"topic": "v", "partition": "0"}) is None  # not committed
    broken = WorkerMetrics()
    broken.watch_consumer(lambda: None)
    assert b"redline_consumer_lag" not in broken.exposition()


class _Consumer:
    """The part of Faust's consumer the lag reads: assignment, high watermarks, committed offsets."""

    def __init__(self, highwaters: dict, committed: dict) -> None:
        self.highwaters = highwaters
        self._committed_offset = committed

    def assignment(self) -> set:
        return set(self.highwaters)

    def highwater(self, tp) -> int:
        return self.highwaters[tp]


def test_the_exposition_is_prometheus_text(world) -> None:
    world.worker.metrics.texts_in(4)
    families = {f.name: f for f in text_string_to_metric_families(world.worker.metrics.exposition().decode())}
    assert families["redline_texts"].type == "counter"
    assert families["redline_label_latency_seconds"].type == "histogram"
    assert {
        s.labels["status"] for s in families["redline_results"].samples if s.name.endswith("_total")
    } == set(STATUSES)


def test_two_workers_have_separate_registries() -> None:
    one, two = WorkerMetrics(), WorkerMetrics()
    one.texts_in(3)
    assert (one.value("redline_texts_total"), two.value("redline_texts_total")) == (3, 0)


def test_dead_letter_kinds_and_event_times() -> None:
    assert dead_letter_kind("empty message (no value)") == "empty"
    assert dead_letter_kind("message of 2000000 bytes is larger than the 1048576 byte limit") == "too_large"
    assert dead_letter_kind("not UTF-8: invalid start byte at byte 0") == "not_utf8"
    assert dead_letter_kind("invalid JSON: expected value") == "invalid_json"
    assert dead_letter_kind("text: field required") == "invalid_record"
    times = EventTimes.of([SimpleNamespace(key=b"a", timestamp=5.0), SimpleNamespace(key=None, timestamp=3.0),
                           SimpleNamespace(key=b"b")])  # fmt: skip
    assert (times.at(b"a"), times.at(b"zz"), EventTimes.of([]).at(b"a")) == (5.0, 3.0, None)


def test_drift_events_boosts_and_drifting_labels_are_exposed(world) -> None:
    import numpy as np

    from redline.core.candidate_walk import Outcome
    from redline.core.drift import DriftMonitor, TextOutcome
    from redline.core.drift_signals import DriftSettings

    metrics = world.worker.metrics
    for kind in ("drift", "recovered", "new_label_suggested"):  # every kind exposed from the start
        assert metrics.value("redline_drift_events_total", {"kind": kind}) == 0
    metrics.drift_event("drift")
    metrics.drift_event("new_label_suggested")
    metrics.drift_event("drift")
    assert metrics.value("redline_drift_events_total", {"kind": "drift"}) == 2
    assert metrics.value("redline_drift_events_total", {"kind": "new_label_suggested"}) == 1

    assert metrics.value("redline_judge_boosted_labels") == 0
    world.worker.engine.router.boost(["label_a", "label_b"], share=0.5, texts=100)
    assert metrics.value("redline_judge_boosted_labels") == 2
    assert metrics.value("redline_judge_boost_share", {"label": "label_b"}) == 0.5
    assert metrics.value("redline_judge_escalated_total") == 0

    # the drifting labels are read from the leader's monitor (none on a worker that does not lead)
    assert metrics.value("redline_drift_active_labels") is None
    rng = np.random.default_rng(3)
    monitor = DriftMonitor(DriftSettings(signals=("rejection",)), quantiles=np.linspace(0, 1, 101))
    world.worker.drift_stats = lambda: {"monitor": monitor.stats()}
    assert metrics.value("redline_drift_active_labels") == 0
    for i in range(4000):
        label = f"label_{int(rng.integers(4))}"
        rejected = bool(rng.random() < (0.8 if label == "label_1" and i >= 2000 else 0.1))
        monitor.observe(
            TextOutcome(label, Outcome.UNRESOLVED if rejected else Outcome.VALIDATED, 0.3,
                        None if rejected else label)
        )  # fmt: skip
    assert metrics.value("redline_drift_active_labels") == 1
