"""The deployment's learner: while this worker is the leader, it learns and publishes for everyone.

Exactly one worker of the deployment's consumer group leads at a time (Faust's leader election: the
member holding the single partition of the group's leader topic); when it dies, the group rebalances
and another worker takes over from the newest snapshot. The deployment's group is the one named in its
snapshots (the app id that published it): workers of another group on the same topics follow, never
lead. The leader

- applies the operators' commands from ``redline.control`` in order (:mod:`.leader_commands`), from the
  offset the newest snapshot says it included (a command applied before, recognised by its id, changes
  nothing twice);
- learns the judge-confirmed examples that arrived on ``redline.examples`` after the snapshot's examples
  offset, in batches (an incremental update within seconds; while its own classify path is saturated,
  after the burst, or after ``learn_defer_s`` at most);
- refits the whole model now and then in a separate process (so classification keeps its cores);
- watches every result for drift and new intents (:mod:`.drift_watch`);
- publishes every change as a new snapshot; every worker, this one included, reloads it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from redline.core.classifier import RedClassifier
from redline.streams.drift_watch import DriftWatch
from redline.streams.example_store import ExampleStore, TrainingRows
from redline.streams.kafka_io import PartitionReader, follower, start
from redline.streams.leader_commands import apply_command
from redline.streams.model_topic import PublishedModel, SnapshotInfo, publish
from redline.streams.refit import refit_params, training_set
from redline.streams.stats import YieldToClassify

if TYPE_CHECKING:
    from redline.streams.worker import Worker

log = logging.getLogger(__name__)

#: examples the stream confirmed (learned by incremental updates); seed and control examples are
#: learned through their fit or their command
CONFIRMED = frozenset({"validated", "corrected"})


def step_limit(learn_every: int) -> int:
    """Examples one learning step learns at most: twice ``learn_every``. A step's time and memory grow
    faster than its size (at 1000 labels, tracemalloc on: 64 examples 2.5 s, 256 16.5 s and 1.3 GiB,
    1,307 74 s and 3.2 GiB); without a limit the examples confirmed while the leader paused (a drift's
    relearning, the learning time share) came as one step: 1,307 examples in 60 s, 1.1 GiB more RSS."""
    return 2 * max(learn_every, 1)


def learning_pause(min_interval_s: float, last_step_s: float, time_share: float) -> float:
    """Seconds the next learning step waits after the last one: ``min_interval_s``, or longer when the
    last step took ``last_step_s`` and learning may take only ``time_share`` of the time.

    At 1000 labels an update took ~3 s (``update_flat`` on 30,000 examples), every 10 s a third of a
    core that the embedder shares on a 2-core machine; with a share of 0.1 it waits 27 s instead.
    """
    return max(min_interval_s, last_step_s * (1.0 / time_share - 1.0))


class Leader:
    """Learns and publishes while ``is_leader()`` says this worker leads.

    Parameters
    ----------
    worker : Worker
        Its embedder, example store, newest snapshot, producer and settings.
    is_leader : callable
        True while this worker holds the group's leadership.
    """

    def __init__(self, worker: Worker, is_leader: Callable[[], bool]) -> None:
        self.worker = worker
        self.is_leader = is_leader
        self.leading = False
        self.model: RedClassifier | None = None
        self.info: SnapshotInfo | None = None
        self.learned_offset = 0
        self.control_offset = 0
        self.last_update = time.monotonic()
        self.last_step_s = 0.0  # how long the last learning step took
        self.due_since: float | None = None  # when a learning step deferred by a burst became due
        self.last_refit = time.monotonic()
        self.refit_job: asyncio.Future[dict[str, Any]] | None = None
        self.refit_until = 0
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    # -- the loop ------------------------------------------------------------------------------
    def may_lead(self) -> bool:
        """True when this worker's group owns the deployment (followers of other groups never lead)."""
        published = self.worker.published
        owner = published.info.group if published is not None else ""
        return not owner or owner == self.worker.settings.app_id

    async def run(self) -> None:
        """Forever: lead while leader, otherwise wait."""
        while True:
            if self.is_leader() and self.may_lead():
                try:
                    await self._lead()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failed round: log, give the next one a fresh start
                    log.warning("the leader's round failed: %r", exc)
                    await asyncio.sleep(2.0)
                finally:
                    self.leading = False
            await asyncio.sleep(0.5)

    async def _lead(self) -> None:
        worker = self.worker
        published = worker.published
        if published is None:
            return
        self.leading = True
        await self._take_over(published)
        control_consumer = follower(worker.settings)
        await start(control_consumer, worker.settings)
        control = PartitionReader(control_consumer, worker.settings.topics.control)
        drift = DriftWatch(self) if worker.settings.drift else None
        try:
            if drift is not None:
                await drift.start()
            while self.is_leader():
                for record in await control.read(self.control_offset):
                    await apply_command(self, record)
                    self.control_offset = record.offset + 1
                if drift is not None:
                    await drift.poll()
                await self._learn_if_due()
                await self._refit_if_due()
                await asyncio.sleep(0.25)
        finally:
            if drift is not None:
                await drift.stop()
            await control_consumer.stop()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    async def _take_over(self, published: PublishedModel) -> None:
        """Start from the newest snapshot: its parameters with the training data it includes."""
        info = published.info
        rows = included_rows(self.worker.store, info)
        loop = asyncio.get_running_loop()
        self.model = await loop.run_in_executor(
            self.worker.learn_thread, RedClassifier.from_params, published.params, training_set(rows)
        )
        self.info = info
        self.learned_offset = info.examples_offset
        self.control_offset = info.control_offset
        self.last_update = self.last_refit = time.monotonic()
        log.warning("leading from %s (%d examples, control offset %d)", published.version, len(rows),
                    info.control_offset)  # fmt: skip

    # -- learning ------------------------------------------------------------------------------
    async def _learn_if_due(self) -> None:
        settings = self.worker.settings
        if settings.learn_every <= 0 or self.model is None:
            return
        end = self.worker.store.next_offset  # read with since() in one step of the event loop
        rows = self.worker.store.since(self.learned_offset, CONFIRMED)
        known = set(self.model.classes_.tolist())
        keep = [i for i, label in enumerate(rows.labels) if label in known]  # not a removed label's
        if not keep:
            self.learned_offset = end  # nothing confirmed to learn: seed and control examples are learned
            return  # through their fit or their command
        now = time.monotonic()
        since = now - self.last_update
        # each step costs the leader an update and a snapshot and every worker a reload, CPU the
        # classify path shares: at most one per learn_min_interval_s (bench_stream: 64-text steps
        # every ~3 s halved a 2-core worker's throughput), and at most learn_time_share of the time
        pause = learning_pause(settings.learn_min_interval_s, self.last_step_s, settings.learn_time_share)
        if since < pause or (len(keep) < settings.learn_every and since < settings.learn_interval_s):
            self.due_since = None
            return
        if self.due_since is None:
            self.due_since = now
        if self.worker.load.saturated_for(now) > 0 and now - self.due_since < settings.learn_defer_s:
            # a burst: classified first, learned after it (or after learn_defer_s at most). On 2 cores a
            # step's CPU comes off the classify path wherever it runs; the GIL is not the cost: steps in
            # a child process measured the same (bench_stream, defaults at 150 labels, two interleaved
            # pairs: 257 / 242 against 234 / 286 texts/s on the thread), and the learning thread at
            # niceness 19 made the half-rate stream worse (worker CPU 9.9-10.4 against 7.1-7.3 ms per
            # text, accepted p99 243-272 against 222-229 ms, three pairs). Deferring, two interleaved
            # pairs (--learn-defer 0 against 30): 229 / 236 against 267 / 290 texts/s, worker CPU 6.7 /
            # 6.6 against 5.6 / 5.4 ms per text; accepted p99 at half rate 224 / 240 against 226 / 242
            return
        self.due_since = None
        if len(keep) > step_limit(settings.learn_every):  # the oldest now, the rest in the next steps
            keep = keep[: step_limit(settings.learn_every)]
            end = int(rows.offsets[keep[-1]]) + 1
        X = rows.X[keep]
        texts = [rows.texts[i] for i in keep]
        labels = [rows.labels[i] for i in keep]
        model = self.model
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        # the step yields to the classify path while there is something to classify: a 1000-label step
        # (~4 s of CPU) took a core from a steady stream at half rate (a 2-core machine, 110 texts/s for
        # 55 s, accepted p99 821 / 707 / 654 ms without yielding, 596 / 558 ms at 1, 390 ms at 3)
        pace = self._yielding()
        step = partial(model.update, X, texts, labels, pace)
        with self.worker.stats.working("learn", pace):
            await loop.run_in_executor(self.worker.learn_thread, step)
        self.learned_offset = end
        self.last_update = time.monotonic()
        seconds = time.perf_counter() - started
        self.last_step_s = seconds - pace.slept_s  # its share of the time: what it computed
        self.worker.metrics.learned(seconds)
        await self.publish(
            f"learned {len(keep)} judge-confirmed examples in {seconds:.2f} s "
            f"({pace.slept_s:.2f} s of it yielded to the classify path)",
            learned=len(keep),
        )

    def _yielding(self) -> YieldToClassify:
        """A pause for a learning step or a snapshot's encoding, which yields to the classify path
        (``learn_yield`` times the CPU it took, while there are texts to classify)."""
        return YieldToClassify(self.worker.load, time.monotonic(), ratio=self.worker.settings.learn_yield)

    async def relearn(self, X: np.ndarray, texts: list[str], labels: list[str], reason: str) -> None:
        """Learn ``(X, texts, labels)`` again now (drift handling: they weigh twice until the next refit)
        and publish the model. Its training data stays the examples it learned once (what a new leader
        rebuilds it from, :func:`included_rows`)."""
        model = self.model
        assert model is not None
        loop = asyncio.get_running_loop()
        with self.worker.stats.working("relearn"):
            await loop.run_in_executor(self.worker.learn_thread, model.relearn, X, texts, labels)
        await self.publish(reason, learned=len(labels))

    async def wait_for_store(self, n: int, timeout_s: float = 30.0) -> None:
        """Wait until the store has read what this leader just wrote to the examples topic."""
        await self._store_reaches(self.worker.store.next_offset + n, timeout_s)

    async def catch_up_store(self, timeout_s: float = 5.0) -> None:
        """Wait until the store has read every example on the broker now (the store's reader takes them
        in batched fetches, up to ``FOLLOW_MAX_WAIT_MS`` late): those of the results read so far are."""
        if self.worker.examples_end is None:
            return
        try:
            end = await asyncio.wait_for(self.worker.examples_end(), timeout_s)
        except Exception as exc:  # a timeout, aiokafka's errors: go on with what the store holds
            log.warning("the examples topic's end is unknown (%r): relearning what the store holds", exc)
            return
        await self._store_reaches(end, timeout_s)

    async def _store_reaches(self, target: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.worker.store.next_offset < target and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.worker.store.next_offset < target:
            log.warning("the example store is at offset %d, not %d, after %.0f s",
                        self.worker.store.next_offset, target, timeout_s)  # fmt: skip

    async def _refit_if_due(self) -> None:
        settings = self.worker.settings
        if self.model is None:
            return
        if self.refit_job is not None:
            if not self.refit_job.done():
                return
            job, self.refit_job = self.refit_job, None
            try:
                params = job.result()
            except Exception as exc:
                log.warning("the background refit failed: %r", exc)
                return
            await self._adopt_refit(params)
            return
        due = (
            settings.refit_interval_s > 0 and time.monotonic() - self.last_refit >= settings.refit_interval_s
        )
        if due:
            self._start_refit()

    def _start_refit(self) -> None:
        assert self.model is not None
        rows = self.worker.store.rows(before=self.learned_offset)
        self.refit_until = self.learned_offset
        self.last_refit = time.monotonic()
        loop = asyncio.get_running_loop()
        self.refit_job = loop.run_in_executor(
            self.processes(),
            refit_params,
            self.model.params_state(),
            rows.X,
            list(rows.texts),
            list(rows.labels),
        )

    def processes(self) -> concurrent.futures.ProcessPoolExecutor:
        """One child process for full refits (a refit holds the GIL for seconds: not on the worker's)."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
        return self._pool

    async def _adopt_refit(self, params: Mapping[str, Any]) -> None:
        """Take a finished refit's parameters; examples learned meanwhile are learned again on top."""
        rows = self.worker.store.rows(before=self.refit_until)
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(
            self.worker.learn_thread, RedClassifier.from_params, params, training_set(rows)
        )
        newer = self.worker.store.since(self.refit_until, CONFIRMED)
        newer_keep = [i for i, lab in enumerate(newer.labels) if lab in set(model.classes_.tolist())]
        newer_keep = [i for i in newer_keep if newer.offsets[i] < self.learned_offset]
        limit = step_limit(self.worker.settings.learn_every)
        with self.worker.stats.working("refit catch-up"):
            for chunk in (newer_keep[lo : lo + limit] for lo in range(0, len(newer_keep), limit)):
                await loop.run_in_executor(
                    self.worker.learn_thread,
                    model.update,
                    newer.X[chunk],
                    [newer.texts[i] for i in chunk],
                    [newer.labels[i] for i in chunk],
                )
        self.model = model
        await self.publish(f"full refit on {len(rows)} examples")

    # -- publishing ----------------------------------------------------------------------------
    async def publish(
        self, reason: str, *, learned: int = 0, command_id: str | None = None
    ) -> PublishedModel:
        worker = self.worker
        model, info = self.model, self.info
        assert model is not None and info is not None
        loop = asyncio.get_running_loop()
        with worker.stats.working("publish"):
            params = await loop.run_in_executor(worker.learn_thread, model.params_state)
            new = SnapshotInfo.new(
                examples_offset=self.learned_offset,
                control_offset=self.control_offset if command_id is None else self.control_offset + 1,
                policy=dict(info.policy),
                embedder=info.embedder,
                group=info.group or worker.settings.app_id,
                base_version=worker.published.version if worker.published else None,
                applied_commands=info.applied_commands,
                uncertainty_quantiles=info.uncertainty_quantiles,
                labels=len(model.classes_),
                examples=len(model.y_) if hasattr(model, "y_") else 0,
                learned=info.learned + learned,
                reason=reason,
                published_by=worker.worker_id,
            )
            # its encoding yields to the classify path as a learning step does: at 1000 labels, ~0.8 s of
            # CPU in one go was where the slowest texts of bench_stream's half-rate phase waited
            published = await publish(
                worker.producer, worker.settings.topics.models, params, new, previous=info,
                secret=worker.settings.snapshot_key, pause=self._yielding(),
            )  # fmt: skip
        self.info = published.info
        worker.published_here[published.offset] = published
        worker.stats.model_updates += 1
        worker.stats.learned += learned
        log.warning("published %s: %s", published.version, reason)
        await self.event("model", "model", reason, command_id, version=published.version)
        return published

    async def event(
        self, kind: str, subject: str, reason: str, command_id: str | None, *, version: str | None = None
    ) -> None:
        await self.worker.event(kind, subject, reason, command_id=command_id, version=version)


def included_rows(store: ExampleStore, info: SnapshotInfo) -> TrainingRows:
    """The training data a snapshot's model was fitted on: every live example below its examples offset,
    plus the examples of the ``add_label`` commands it applied (written before they were learned)."""
    applied = set(info.applied_commands)

    def included(offset: int, example_id: str, source: str) -> bool:
        if offset < info.examples_offset:
            return True
        return source == "control" and example_id.split(":")[1] in applied

    return store.rows(where=included)
