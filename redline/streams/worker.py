"""The worker object: what the agents of one stream worker use, and the one place that builds it.

:func:`build_worker` reads the settings, loads the model, builds the embedder, the judge, the router
and the :class:`~redline.core.engine.StreamEngine`; :class:`Worker` holds them and offers the agents
one coroutine per topic (decode, call the engine, send). The engine is replaced whole when the model
changes (learning, control): every change is computed on the learning thread from the engine current
at that moment and swapped in with one assignment, so a batch keeps the engine it started with.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from redline.adapters.embedder import Embedder
from redline.core.engine import StreamEngine
from redline.core.judge_interface import Judge
from redline.errors import ConfigError
from redline.schemas import ControlCommand, Event, JudgeRequest, JudgeVerdict, encode
from redline.streams.classify_step import classify
from redline.streams.control_step import apply_command
from redline.streams.judge_step import ask
from redline.streams.learner import Learner
from redline.streams.messages import Outgoing, decode_or_dead_letter, keyed
from redline.streams.model_snapshots import MODEL_KEY, ModelLineage, snapshot_bytes
from redline.streams.resolve_step import resolve
from redline.streams.settings import StreamSettings
from redline.streams.stats import WorkerStats, routing_stats

log = logging.getLogger(__name__)

Sender = Callable[[Sequence[Outgoing]], Awaitable[None]]


class Worker:
    """One stream worker's embedder, judge, engine, learner and counters.

    Parameters
    ----------
    settings : StreamSettings
    embedder : Embedder
    judge : Judge or None
        None: texts the router would send to the judge end unresolved.
    judge_name : str
        The judge's spec, recorded on every verdict.
    engine : StreamEngine
    lineage : ModelLineage
        Where the engine's model version comes from (counts changes).
    sender : callable, optional
        ``await sender(outgoing)`` sends messages; :meth:`attach` sets one that writes to the topics.
    """

    def __init__(
        self,
        settings: StreamSettings,
        embedder: Embedder,
        judge: Judge | None,
        judge_name: str,
        engine: StreamEngine,
        lineage: ModelLineage,
        *,
        sender: Sender | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.judge = judge
        self.judge_name = judge_name
        self.engine = engine
        self.lineage = lineage
        self.sender = sender
        self.stats = WorkerStats()
        self.learner = Learner(settings.learn_every)
        self.ready = False
        self.started = time.monotonic()
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-model")
        self.learn_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-learn")
        self._update: asyncio.Future[None] | None = None

    # -- sending -------------------------------------------------------------------------------
    def attach(self, topics: Any) -> None:
        """Send to the Faust ``topics`` (a :class:`~redline.streams.topics.Topics`)."""

        async def send(outgoing: Sequence[Outgoing]) -> None:
            for item in outgoing:
                await getattr(topics, item.topic).send(key=item.key, value=item.value)

        self.sender = send

    async def send(self, outgoing: Sequence[Outgoing]) -> None:
        """Hand each message to the producer, in order, and count it."""
        if self.sender is None:
            raise ConfigError("the worker has no sender: call attach(topics) first")
        await self.sender(outgoing)
        for item in outgoing:
            self.stats.count_sent(item.topic)

    # -- the agents' steps ---------------------------------------------------------------------
    async def classify(self, messages: Sequence[Any]) -> None:
        """``redline.texts`` -> predictions, labels, judge requests, dead letters (off the event loop)."""
        self.stats.texts += len(messages)
        engine = self.engine  # one engine for the whole batch
        loop = asyncio.get_running_loop()
        await self.send(
            await loop.run_in_executor(self.model_thread, classify, messages, self.embedder, engine)
        )

    async def judge_message(self, message: Any) -> None:
        """``redline.judge.requests`` -> ``redline.judge.verdicts``."""
        request, letter = decode_or_dead_letter(JudgeRequest, message, "judge")
        if request is None:
            await self.send([letter] if letter is not None else [])
            return
        verdict = await ask(request, self.judge, self.judge_name)
        await self.send([keyed("judge_verdicts", request.id, verdict)])

    async def resolve_message(self, message: Any) -> None:
        """``redline.judge.verdicts`` -> the next judge request or the text's result; learn from it."""
        verdict, letter = decode_or_dead_letter(JudgeVerdict, message, "resolve")
        if verdict is None:
            await self.send([letter] if letter is not None else [])
            return
        resolution = resolve(verdict, self.engine.walk)
        topic = "judge_requests" if isinstance(resolution.next, JudgeRequest) else "labels"
        await self.send([keyed(topic, verdict.request.id, resolution.next)])
        if resolution.learn is not None and self.learner.add(resolution.learn):
            self.start_update()

    async def control_message(self, message: Any) -> None:
        """``redline.control`` -> a changed engine and an event on ``redline.events``."""
        command, letter = decode_or_dead_letter(ControlCommand, message, "control")
        if command is None:
            await self.send([letter] if letter is not None else [])
            return
        loop = asyncio.get_running_loop()
        event = await loop.run_in_executor(self.learn_thread, self._apply_control, command)
        await self.send([keyed("events", command.id, event)])
        if event.kind == "applied":
            await self.publish()

    # -- changing the engine (always on the learning thread) -------------------------------------
    def _apply_control(self, command: ControlCommand) -> Event:
        outcome = apply_command(command, self.engine, self.embedder, self.lineage.next().version)
        if outcome.engine is not None:
            self.lineage = self.lineage.next()
            self.engine = outcome.engine
        return outcome.event

    def _learn_pending(self) -> Event | None:
        batch = self.learner.take()
        if not batch:
            return None
        started = time.perf_counter()
        X = np.stack([e.x for e in batch]).astype(np.float32)
        lineage = self.lineage.next(learned=len(batch))
        try:
            self.engine = self.engine.learn(
                X, [e.text for e in batch], [e.label for e in batch], lineage.version
            )
        except Exception as exc:
            log.warning("learning %d judge-confirmed texts failed: %r", len(batch), exc)
            self.learner.give_back(batch)
            self.stats.failed_updates += 1
            return self._event("rejected", "learn", f"{exc!r}"[:500])
        self.lineage = lineage
        self.stats.learned += len(batch)
        self.stats.model_updates += 1
        seconds = time.perf_counter() - started
        reason = f"learned {len(batch)} judge-confirmed texts ({lineage.learned} in all) in {seconds:.2f} s"
        return self._event("applied", "learn", reason)

    def _event(self, kind: str, subject: str, reason: str) -> Event:
        return Event(
            id=uuid.uuid4().hex,
            kind=kind,  # type: ignore[arg-type]
            subject=subject,
            reason=reason,
            model_version=self.engine.version,
            at=time.time(),
        )

    def start_update(self) -> asyncio.Future[None] | None:
        """Learn the waiting examples in the background unless an update is running."""
        if self._update is not None and not self._update.done():
            return None
        self._update = asyncio.ensure_future(self._run_update())
        return self._update

    async def _run_update(self) -> None:
        loop = asyncio.get_running_loop()
        event = await loop.run_in_executor(self.learn_thread, self._learn_pending)
        if event is not None:
            await self.send([Outgoing("events", None, encode(event))])
            if event.kind == "applied":
                await self.publish()

    async def publish(self) -> None:
        """Put the current model on ``redline.models`` (a failure is logged; the stream goes on)."""
        loop = asyncio.get_running_loop()
        try:
            blob = await loop.run_in_executor(self.learn_thread, self._snapshot)
        except Exception as exc:
            log.warning("cannot snapshot the model: %r", exc)
            return
        await self.send([Outgoing("models", MODEL_KEY, blob)])

    def _snapshot(self) -> bytes:
        embedder = getattr(self.embedder, "model_id", None)
        return snapshot_bytes(self.engine.model, self.lineage, {"embedder": embedder} if embedder else None)

    # -- reporting -----------------------------------------------------------------------------
    def stats_page(self) -> dict[str, Any]:
        """What ``/redline/stats/`` shows."""
        return {
            "ready": self.ready,
            "texts": self.stats.texts,
            "sent": dict(self.stats.sent),
            "model_version": self.engine.version,
            "labels": len(self.engine.classes),
            "judge": self.judge_name,
            "learned": self.stats.learned,
            "model_updates": self.stats.model_updates,
            "failed_updates": self.stats.failed_updates,
            "waiting_to_learn": self.learner.waiting,
            "routing": routing_stats(self.engine.router),
        }

    def close(self) -> None:
        """Stop the worker's threads (after the agents stopped)."""
        self.model_thread.shutdown(wait=False, cancel_futures=True)
        self.learn_thread.shutdown(wait=False, cancel_futures=True)
