"""Drift handling in the stream: the leader watches every result; every worker boosts its judge share.

Where the monitor lives: on the **leader**, which reads ``redline.labels`` and ``redline.predictions``
(every partition, no consumer group, from their ends when it takes over). A monitor per worker would see
only its own partitions' share of each label (drifts found later, or not at all, on a deployment of
many workers) and every worker would raise the same event; the leader is the one that learns and
publishes anyway, so it can relearn at once. Reading the two topics costs the leader one more consumer
and decoding every result (a few microseconds each, beside a judge call of seconds). The prediction of
a text gives its uncertainty and whether the judge was asked only because of a boost (its reason is
:data:`~redline.core.engine.ESCALATED`); its result gives how the judge answered. Both are read in
the order the texts were scored (:class:`~redline.core.scoring_order.ScoringOrder`: a result waits for
those of the texts scored before it, up to ``RESULT_HOLD_S``), not in the order results come. A new
leader starts with a fresh monitor (drift state is not carried over; a lasting drift is found again).

On a ``drift`` of a signal (:class:`~redline.core.drift.DriftMonitor`) the leader

- publishes a ``drift`` event on ``redline.events`` (labels, signal, scope, rate before and after, the
  model version; ``details`` holds them all);
- relearns the drifting labels at once from their judge-confirmed examples since the change
  (:func:`~redline.core.drift.examples_to_relearn`, at most ``drift_relearn``) and publishes the model;
- publishes ``recovered`` when the signal comes back.

Every worker follows ``redline.events`` (:func:`follow_drift_events`): a ``drift`` event raises its
router's judge share for the named labels to ``drift_boost_share`` for ``drift_boost_texts`` of its own
texts (:meth:`BudgetedRouter.boost <redline.core.judge_budget.BudgetedRouter.boost>`). The global
budget still holds over a longer horizon: the router charges those extra calls to its budget, deferred
over its ``boost_horizon`` (5,000 texts) and repaid by a slightly lower share of the other labels.

Texts the judge rejected for every candidate go to the new-intent watch (:mod:`.intent_watch`), which
clusters them and suggests new labels.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from redline.core.candidate_walk import Outcome
from redline.core.drift import DriftEvent, DriftMonitor, TextOutcome, examples_to_relearn
from redline.core.drift_signals import DriftSettings
from redline.core.engine import ESCALATED
from redline.core.scoring_order import ScoringOrder
from redline.errors import KafkaBrokerError, RecordError
from redline.schemas import Event, LabelResult, Prediction, decode
from redline.streams.intent_watch import NewIntentWatch
from redline.streams.kafka_io import BATCHED_FOLLOW_MIN_BYTES, PartitionReader, follower, start
from redline.streams.settings import StreamSettings

if TYPE_CHECKING:
    from redline.streams.leader import Leader
    from redline.streams.worker import Worker

log = logging.getLogger(__name__)

#: confirmed / relearned examples remembered (to find the examples of a drift, to relearn each once)
_REMEMBERED = 20_000
#: seconds a text's missing result may hold back the results of the texts scored after it (the judge's
#: latency: a simulated expert's milliseconds, an LLM's seconds; a judge that is down is retried first)
RESULT_HOLD_S = 30.0
#: records decoded in one step of the watch: a 256 KiB fetch holds ~300, decoded in one go on the event
#: loop the classify path shares (bench_stream at half rate, two interleaved pairs with 256 KiB fetches:
#: accepted p99 338 / 301 ms with 5,000 per step, 245 / 269 ms with 200; 223-268 ms with 1-byte fetches)
READ_MAX_RECORDS = 200
_OUTCOMES = MappingProxyType({"validated": Outcome.VALIDATED, "corrected": Outcome.CORRECTED,
             "unresolved": Outcome.UNRESOLVED, "judge_unavailable": Outcome.JUDGE_FAILED})  # fmt: skip


def drift_settings(settings: StreamSettings) -> DriftSettings:
    """The monitor's settings from the worker's knobs."""
    return DriftSettings(
        detector=settings.drift_detector,
        sensitivity=settings.drift_sensitivity,
        min_evidence=settings.drift_min_evidence,
        min_effect=settings.drift_min_effect,
        tolerance=min(0.05, settings.drift_min_effect / 3),
    )


class DriftWatch:
    """The leader's drift monitor and new-intent detector over the stream's results (see the module
    docstring); :meth:`start` it, :meth:`poll` it from the leader's loop, :meth:`stop` it.

    The results are read and observed, and the events published, by a task of its own: a learning step
    of the leader's loop (seconds on a busy machine) does not hold them back. Relearning, which changes
    the model, stays in the leader's loop (:meth:`poll`); the unresolved texts are embedded on a thread
    of the watch's own, not on the leader's learning thread.
    """

    def __init__(self, leader: Leader) -> None:
        self.leader = leader
        self.worker = leader.worker
        settings = self.worker.settings
        quantiles = leader.info.uncertainty_quantiles if leader.info is not None else None
        self.monitor = DriftMonitor(drift_settings(settings), quantiles)
        self.intents = NewIntentWatch(self.worker, self._event) if settings.new_intent_min_size else None
        self.topics = settings.topics  # built from the prefix at each access: 1.5 % of a judging burst's GIL
        self.client: Any = None
        #: results in the order their texts were scored, each with whether a drift boost escalated it
        self.order: ScoringOrder[bool, LabelResult] = ScoringOrder(hold_s=RESULT_HOLD_S)
        #: (top candidate, uncertainty, model version) of the predictions read since the last step
        self.scored: list[tuple[str, float, str]] = []
        self.confirmed: OrderedDict[str, tuple[int, str]] = OrderedDict()  # example id -> stamp, top
        self.relearned: OrderedDict[str, bool] = OrderedDict()
        self.counts = {"results": 0, "undecodable": 0, "events": 0, "relearned": 0}
        self.drifted: list[DriftEvent] = []  # found by the watch task, relearned by poll()
        self.task: asyncio.Task[None] | None = None
        self.grouped: Any = None  # the model whose subsets the monitor's scopes follow

    def follow_subsets(self) -> None:
        """Watch each subset of the deciding model as a scope of its own (models with a label partition:
        ``--config as-written``); done again whenever a new model is installed."""
        model = self.worker.engine.model
        if model is self.grouped:
            return
        self.grouped = model
        partition = getattr(model, "partition_", None)
        subsets = partition.subsets_ if partition is not None else []
        self.monitor.set_groups({label: str(s) for s, labels in enumerate(subsets) for label in labels})

    async def start(self, timeout_s: float = 60.0) -> None:
        """Read ``labels`` and ``predictions`` (every partition: subscribed without a group) from their
        ends; returns once every partition's position is known."""
        settings = self.worker.settings
        # what the watch reads can wait: fetches that return 256 KiB (or after 500 ms) instead of one each
        # time a result arrives cost the broker less than half the CPU per burst (kafka_io)
        self.client = follower(settings, auto_offset_reset="latest", fetch_min_bytes=BATCHED_FOLLOW_MIN_BYTES)
        await start(self.client, settings)
        self.client.subscribe([self.topics.labels, self.topics.predictions])
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self.client.assignment():
            await self._read()  # nothing yet: no position before
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaBrokerError(f"no partitions of {self.topics.labels} after {timeout_s:.0f} s")
        for tp in self.client.assignment():
            await self.client.position(tp)  # resolve "latest" now, not at the first fetch
        self.worker.drift_stats = self.stats
        if self.intents is not None:
            self.intents.start()
        self.task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop reading; suggestions still being named go out first (each within its timeout)."""
        self.worker.drift_stats = dict
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.intents is not None:
            await self.intents.stop()
        if self.client is not None:
            await self.client.stop()

    async def poll(self) -> None:
        """From the leader's loop: relearn the labels of the drifts the watch found since the last poll;
        a failure of the watch task is raised here."""
        if self.task is not None and self.task.done():
            self.task.result()  # its failure (it never ends otherwise)
        drifted, self.drifted = self.drifted, []
        # learning off (--learn-every 0) means no relearning either: the model changes only by command
        if drifted and self.worker.settings.drift_relearn > 0 and self.worker.settings.learn_every > 0:
            await self._relearn(drifted)

    async def _watch(self) -> None:
        while True:
            await self.step()

    async def step(self) -> None:
        """Observe the results that arrived (waiting up to 50 ms for some); publish what the monitor
        reports, cluster the unresolved texts."""
        await self._read()
        events, unresolved = self._observe_ready()
        for event in events:
            await self._publish_drift(event)
        self.drifted += [e for e in events if e.kind == "drift"]
        if unresolved and self.intents is not None:
            await self.intents.cluster(unresolved)

    async def _read(self) -> None:
        """Read the new predictions and results (waiting up to 50 ms for some) into :attr:`order`."""
        batch = await self.client.getmany(timeout_ms=50, max_records=READ_MAX_RECORDS)
        predictions = self.topics.predictions
        now = time.monotonic()
        for tp, records in batch.items():
            for record in records:
                try:
                    if tp.topic == predictions:
                        p = decode(Prediction, record.value)
                        self.order.scored(p.id, p.reason == ESCALATED, now)
                        if p.candidates:
                            self.scored.append((p.candidates[0].label, p.uncertainty, p.model_version))
                    else:
                        result = decode(LabelResult, record.value)
                        self.order.arrived(result.id, result, now)
                except RecordError:
                    self.counts["undecodable"] += 1

    def _observe_ready(self) -> tuple[list[DriftEvent], list[LabelResult]]:
        """Observe the predictions read since the last step, then the results :attr:`order` releases."""
        events: list[DriftEvent] = []
        unresolved: list[LabelResult] = []
        self.follow_subsets()
        # both in the order texts were scored: at result time the judged, uncertain texts come last (a
        # rejected first candidate later still), and every burst looked like a rise (bench_stream,
        # defaults at 150 labels on a shuffled test split: 9 drift events and 89 relearned examples in
        # 2,000 texts from the uncertainty; then 2 from the rejection rate once that was read when scored)
        for top, uncertainty, version in self.scored:
            events += self.monitor.observe_uncertainty(top, uncertainty, version)
        self.scored = []
        for escalated, result in self.order.release(time.monotonic()):
            if not result.candidates:  # classification failed: nothing to read
                continue
            outcome = _OUTCOMES.get(result.status) if result.judge is not None else None
            top = result.candidates[0].label
            self.counts["results"] += 1
            events += self.monitor.observe(
                TextOutcome(top, outcome, math.nan, result.label, escalated=bool(escalated),
                            version=result.model_version)
            )  # fmt: skip
            if outcome in (Outcome.VALIDATED, Outcome.CORRECTED):
                _remember(self.confirmed, f"judged:{result.id}", (self.monitor.seen, top))
            elif outcome is Outcome.UNRESOLVED:
                unresolved.append(result)
        return events, unresolved

    async def _publish_drift(self, e: DriftEvent) -> None:
        labels = ", ".join(e.labels)
        verb = "rose" if e.kind == "drift" else "came back"
        reason = (f"{e.signal} of {labels} {verb}: {e.before:.2f} -> {e.after:.2f} ({e.evidence} results, "
                  f"{e.scope})")  # fmt: skip
        await self._event(e.kind, f"{e.signal} {e.scope}", reason, list(e.labels), e.to_dict(), e.version)

    async def _relearn(self, drifted: list[DriftEvent]) -> None:
        """Learn the drifting labels' judge-confirmed examples since the earliest change at once."""
        model = self.leader.model
        if model is None:
            return
        labels = {label for e in drifted for label in e.labels}
        since = min(e.since for e in drifted)
        # each confirmed result's example was written before it: on the broker now, maybe not yet read
        await self.leader.catch_up_store()
        rows = self.worker.store.rows(sources=frozenset({"validated", "corrected"}))
        seen = [self.confirmed.get(i, (-1, "")) for i in rows.ids]
        tops = [top or label for (_, top), label in zip(seen, rows.labels, strict=True)]
        stamps = [stamp for stamp, _ in seen]
        picked = examples_to_relearn(
            rows.labels, stamps, labels, since, self.worker.settings.drift_relearn, tops
        ).tolist()
        known = set(model.classes_.tolist())
        # an example relearned after an earlier event of the same change is not learned a third time
        picked = [i for i in picked if rows.labels[i] in known and rows.ids[i] not in self.relearned]
        if not picked:
            return
        for i in picked:
            _remember(self.relearned, rows.ids[i], True)
        self.counts["relearned"] += len(picked)
        names = ", ".join(sorted(labels))
        await self.leader.relearn(
            rows.X[picked], [rows.texts[i] for i in picked], [rows.labels[i] for i in picked],
            f"relearned {len(picked)} judge-confirmed examples after a drift of {names}",
        )  # fmt: skip

    async def _event(
        self, kind: str, subject: str, reason: str, labels: list[str], details: dict[str, Any], version: str
    ) -> None:
        self.counts["events"] += 1
        self.worker.metrics.drift_event(kind)
        log.warning("%s: %s", kind, reason)
        await self.worker.event(kind, subject, reason, version=version, labels=labels, details=details)

    def stats(self) -> dict[str, Any]:
        """What the stats page shows under ``drift`` (on the leader)."""
        out: dict[str, Any] = {**self.counts, "monitor": self.monitor.stats()}
        out["scoring_order"] = {**self.order.counts_, "waiting": len(self.order)}
        if self.intents is not None:
            out.update(self.intents.counts)
            out["new_intents"] = self.intents.detector.stats()
        return out


async def follow_drift_events(worker: Worker, reader: PartitionReader) -> None:
    """Every worker: raise the judge share of the labels each new ``drift`` event names (forever)."""
    settings = worker.settings
    loop = asyncio.get_running_loop()
    async for records in reader.follow(await reader.end()):
        for record in records:
            try:
                event = decode(Event, record.value)
            except RecordError:
                continue
            if event.kind == "drift" and event.labels and settings.drift_boost_texts > 0:
                # on the model thread: the classify step routes there, never while a boost is added
                await loop.run_in_executor(
                    worker.model_thread, worker.engine.router.boost, event.labels,
                    settings.drift_boost_share, settings.drift_boost_texts,
                )  # fmt: skip


def _remember(table: OrderedDict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > _REMEMBERED:
        table.popitem(last=False)
