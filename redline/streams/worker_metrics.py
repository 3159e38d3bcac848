"""A worker's Prometheus metrics: one :class:`WorkerMetrics` (with its own ``CollectorRegistry``) per
worker, built with the worker and served on its web port at ``/metrics``.

Counted where things happen (the worker's steps call one method each): ``redline_texts_total``,
``redline_results_total{status}``, ``redline_dead_letters_total{stage,kind}``,
``redline_label_latency_seconds`` (the text record's Kafka timestamp to the moment its result is sent),
``redline_judge_calls_total``, ``redline_judge_errors_total``, ``redline_judge_latency_seconds``,
``redline_judge_top_rejections_total{label}`` and ``redline_learn_seconds``. Read when scraped (from the
worker's state): ``redline_judge_tokens_total{direction}``, ``redline_judge_breaker_state`` (0 closed,
1 open, 2 half open), ``redline_uncertain_share``, ``redline_model_offset``, ``redline_model_info``,
``redline_leader``, ``redline_ready`` and ``redline_consumer_lag{topic,partition}``.

Drift: ``redline_drift_events_total{kind}`` (``drift`` / ``recovered`` / ``new_label_suggested``,
counted by the leader that publishes them) and, read when scraped, ``redline_drift_active_labels`` (labels
named by a drift not yet recovered; only where the monitor runs, on the leader),
``redline_judge_boosted_labels`` (labels whose judge share this worker raised after a drift),
``redline_judge_boost_share{label}`` (that share, per boosted label) and
``redline_judge_escalated_total`` (texts sent to the judge only because of a boost).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from redline.schemas import STATUSES

#: the drift monitor's event kinds (``redline_drift_events_total{kind}``)
DRIFT_EVENT_KINDS = ("drift", "recovered", "new_label_suggested")

log = logging.getLogger(__name__)

#: Prometheus' text exposition format
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: 0 closed, 1 open, 2 half open (the circuit breaker's states)
BREAKER_STATES = MappingProxyType({"closed": 0, "open": 1, "half_open": 2})
#: produce-to-label latency: an accepted text takes milliseconds, a judged one seconds
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
JUDGE_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LEARN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: the reason kinds of a dead letter (a bounded label set), by the start of its reason
_DEAD_LETTER_KINDS = (
    ("empty message", "empty"),
    ("message of ", "too_large"),
    ("not utf-8", "not_utf8"),
    ("invalid json", "invalid_json"),
    ("not valid text", "invalid_text"),
)


@dataclass(frozen=True)
class EventTimes:
    """The Kafka timestamps (seconds) of the records a step read, by key; ``oldest`` for other keys."""

    by_key: Mapping[bytes | None, float] = field(default_factory=dict)
    oldest: float | None = None

    @classmethod
    def of(cls, messages: Iterable[Any]) -> EventTimes:
        """The timestamps of Faust messages (those without one are left out)."""
        by_key: dict[bytes | None, float] = {}
        for message in messages:
            stamp = getattr(message, "timestamp", None)
            if isinstance(stamp, int | float) and stamp > 0:
                key = getattr(message, "key", None)
                by_key[key if isinstance(key, bytes) else None] = float(stamp)
        return cls(by_key, min(by_key.values()) if by_key else None)

    def at(self, key: bytes | None) -> float | None:
        """The timestamp of the record with ``key`` (else the oldest one read)."""
        return self.by_key.get(key, self.oldest)


def dead_letter_kind(reason: str) -> str:
    """A dead letter's reason as one of a few kinds (``invalid_record`` when no other fits)."""
    lowered = reason.lower()
    for start, kind in _DEAD_LETTER_KINDS:
        if lowered.startswith(start):
            return kind
    return "invalid_record"


class WorkerMetrics:
    """One worker's Prometheus metrics in its own registry.

    Parameters
    ----------
    clock : callable, optional
        Wall-clock seconds (``time.time``); the latency of a result is ``clock() - event time``.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.texts = Counter("redline_texts", "Texts read from redline.texts", registry=r)
        self.results = Counter(
            "redline_results", "Results sent to redline.labels, by status", ["status"], registry=r
        )
        for status in STATUSES:
            self.results.labels(status)
        self.dead_letters = Counter(
            "redline_dead_letters",
            "Dead letters sent, by stage and reason kind",
            ["stage", "kind"],
            registry=r,
        )
        self.label_latency = Histogram(
            "redline_label_latency_seconds",
            "Seconds from a text record's Kafka timestamp to the moment its result is sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.judge_calls = Counter("redline_judge_calls", "Questions asked to the judge", registry=r)
        self.judge_errors = Counter(
            "redline_judge_errors", "Questions the judge could not answer (valid=None)", registry=r
        )
        self.judge_latency = Histogram(
            "redline_judge_latency_seconds", "Seconds per judge answer", buckets=JUDGE_BUCKETS, registry=r
        )
        self.top_rejections = Counter(
            "redline_judge_top_rejections",
            "Texts whose top candidate the judge rejected, by that label",
            ["label"],
            registry=r,
        )
        self.drift_events = Counter(
            "redline_drift_events",
            "Drift, recovered and new-label-suggested events published (by the leader), by kind",
            ["kind"],
            registry=r,
        )
        for kind in DRIFT_EVENT_KINDS:
            self.drift_events.labels(kind)
        self.learn_seconds = Histogram(
            "redline_learn_seconds", "Seconds per incremental learning step (leader)", buckets=LEARN_BUCKETS,
            registry=r,
        )  # fmt: skip

    # -- counted where things happen -----------------------------------------------------------
    def texts_in(self, n: int) -> None:
        """``n`` more texts read."""
        self.texts.inc(n)

    def sent(self, outgoing: Sequence[Any], times: EventTimes | None = None) -> None:
        """Count the results and dead letters among ``outgoing`` (``Outgoing`` items, sent); a result's
        latency is measured from ``times.at(its key)``.

        A result's status comes with it (``Outgoing.status``, set by ``keyed``: reading it back with a
        ``json.loads`` per result was 0.8 % of a judging burst's GIL samples); a dead letter's stage and
        reason are read back from its bytes (rare).
        """
        now = self.clock()
        for item in outgoing:
            if item.topic == "labels":
                status = item.status
                self.results.labels(status if status in STATUSES else "unknown").inc()
                started = times.at(item.key) if times is not None else None
                if started is not None:
                    self.label_latency.observe(max(0.0, now - started))
            elif item.topic == "deadletter":
                stage = _field(item.value, "stage") or "unknown"
                self.dead_letters.labels(stage, dead_letter_kind(_field(item.value, "reason"))).inc()

    def judged(self, index: int, label: str, valid: bool | None, latency_ms: float) -> None:
        """One judge answer about candidate ``index`` (``label``); ``valid`` None: an error."""
        self.judge_calls.inc()
        self.judge_latency.observe(max(0.0, latency_ms) / 1000.0)
        if valid is None:
            self.judge_errors.inc()
        elif not valid and index == 0:
            self.top_rejections.labels(label).inc()

    def learned(self, seconds: float) -> None:
        """One incremental learning step took ``seconds``."""
        self.learn_seconds.observe(seconds)

    def drift_event(self, kind: str) -> None:
        """The leader published a drift / recovered / new-label-suggested event."""
        self.drift_events.labels(kind).inc()

    # -- read when scraped ---------------------------------------------------------------------
    def watch(self, worker: Any) -> None:
        """Report ``worker``'s state (model, leader, judge, routing) at every scrape."""
        self.registry.register(_WorkerState(worker))

    def watch_consumer(self, consumer: Callable[[], Any]) -> None:
        """Report the lag of each partition assigned to ``consumer()`` (the Faust consumer) at every
        scrape."""
        self.registry.register(_ConsumerLag(consumer))

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample's value (``registry.get_sample_value``), None when absent."""
        return self.registry.get_sample_value(name, dict(labels or {}))


def _field(value: bytes, name: str) -> str:
    try:
        found = json.loads(value).get(name, "")
    except (ValueError, AttributeError):
        return ""
    return found if isinstance(found, str) else ""


class _WorkerState(Collector):
    """The metrics read from the worker when scraped (a failing one is left out, never the scrape)."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def describe(self) -> list[Metric]:
        return []  # no fixed set: a judge without stats omits its part

    def collect(self) -> Iterator[Metric]:
        for part in (self._model, self._roles, self._judge, self._boosts, self._drift):
            try:
                yield from part()
            except Exception as exc:  # a scrape must not fail because one part of the state did
                log.debug("metrics: %s failed: %r", part.__name__, exc)

    def _model(self) -> Iterator[Metric]:
        worker = self.worker
        published = worker.published
        offset = GaugeMetricFamily(
            "redline_model_offset", "Offset of the model snapshot in use on redline.models (-1: none)"
        )
        offset.add_metric([], float(published.offset) if published is not None else -1.0)
        yield offset
        info = InfoMetricFamily("redline_model", "The model in use", labels=["version", "embedder", "judge"])
        info.add_metric([], {"version": str(worker.engine.version), "embedder": worker.embedder_id,
                             "judge": worker.judge_name})  # fmt: skip
        yield info
        share = GaugeMetricFamily(
            "redline_uncertain_share", "Share of recent texts routed to the judge (router window)"
        )
        share.add_metric([], float(worker.engine.router.state().share))
        yield share

    def _roles(self) -> Iterator[Metric]:
        leader = GaugeMetricFamily("redline_leader", "1 while this worker is the elected leader")
        leader.add_metric([], 1.0 if self.worker.leading() else 0.0)
        ready = GaugeMetricFamily("redline_ready", "1 once the worker has joined its group with a model")
        ready.add_metric([], 1.0 if self.worker.ready else 0.0)
        return iter((leader, ready))

    def _judge(self) -> Iterator[Metric]:
        stats = getattr(self.worker.judge, "stats", None)
        snapshot = stats() if callable(stats) else None
        if not isinstance(snapshot, Mapping):
            return
        if "tokens_in" in snapshot:
            tokens = CounterMetricFamily(
                "redline_judge_tokens", "Tokens billed by the judge", labels=["direction"]
            )
            tokens.add_metric(["in"], float(snapshot["tokens_in"]))
            tokens.add_metric(["out"], float(snapshot.get("tokens_out", 0)))
            yield tokens
        breaker = snapshot.get("breaker")
        if isinstance(breaker, Mapping) and breaker.get("state") in BREAKER_STATES:
            state = GaugeMetricFamily(
                "redline_judge_breaker_state", "The judge's circuit breaker: 0 closed, 1 open, 2 half open"
            )
            state.add_metric([], float(BREAKER_STATES[breaker["state"]]))
            yield state

    def _boosts(self) -> Iterator[Metric]:
        router = self.worker.engine.router
        state = router.state()
        boosted = GaugeMetricFamily(
            "redline_judge_boosted_labels", "Labels whose judge share is raised after a drift (this worker)"
        )
        boosted.add_metric([], float(len(state.boosted)))
        yield boosted
        shares = GaugeMetricFamily(
            "redline_judge_boost_share", "The raised judge share of a boosted label", labels=["label"]
        )
        for label, boost in sorted(router.boosts_.active.items()):
            shares.add_metric([label], float(boost.share))
        yield shares
        escalated = CounterMetricFamily(
            "redline_judge_escalated", "Texts sent to the judge only because their label was boosted"
        )
        escalated.add_metric([], float(state.escalated))
        yield escalated

    def _drift(self) -> Iterator[Metric]:
        monitor = self.worker.drift_stats().get("monitor")
        if not isinstance(monitor, Mapping):  # not the leader (or drift off): no monitor here
            return
        labels = {label for drift in monitor.get("active", []) for label in drift.get("labels", [])}
        active = GaugeMetricFamily(
            "redline_drift_active_labels", "Labels named by a drift not yet recovered (on the leader)"
        )
        active.add_metric([], float(len(labels)))
        yield active


class _ConsumerLag(Collector):
    """The lag of each assigned partition, from the Faust consumer's own bookkeeping (no request)."""

    def __init__(self, consumer: Callable[[], Any]) -> None:
        self.consumer = consumer

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._lag()
        except Exception as exc:  # not started yet, or rebalancing: no lag this scrape
            log.debug("metrics: consumer lag failed: %r", exc)

    def _lag(self) -> Iterator[Metric]:
        consumer = self.consumer()
        if consumer is None:
            return
        committed = getattr(consumer, "_committed_offset", {})  # Faust's view: next offset to read
        lag = GaugeMetricFamily(
            "redline_consumer_lag",
            "Records not yet processed per assigned partition (high watermark - committed offset)",
            labels=["topic", "partition"],
        )
        for tp in sorted(consumer.assignment()):
            done = committed.get(tp)
            highwater = consumer.highwater(tp)
            if done is not None and highwater is not None:
                lag.add_metric([tp.topic, str(tp.partition)], float(max(0, int(highwater) - int(done))))
        yield lag
