"""Register the thin Faust agents on an app: each one decodes, calls a step function, sends.

- ``classify``: ``redline.texts`` in batches (``take_events``) -> predictions + labels / judge requests;
  embedding and scoring run in a thread so the event loop keeps heartbeating.
- ``judge``: ``redline.judge.requests`` -> ``redline.judge.verdicts`` (``judge_concurrency`` actors).
- ``resolve``: ``redline.judge.verdicts`` -> ``redline.labels`` or the next judge request; every
  ``learn_every`` judge-confirmed results (or every ``learn_interval_s`` when some wait) the model
  learns them in the background and an event goes to ``redline.events``.
- ``control``: ``redline.control`` -> label set changes (add_label) -> ``redline.events``.
Anything undecodable goes to ``redline.deadletter``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redline.schemas import Event, decode, encode
from redline.streams.agents import learning
from redline.streams.agents.classify import classify_messages
from redline.streams.agents.control import control_message
from redline.streams.agents.dead_letters import Outgoing
from redline.streams.agents.judging import judge_message
from redline.streams.agents.resolve import resolve_message
from redline.streams.settings import StreamSettings
from redline.streams.topics import Topics

log = logging.getLogger(__name__)

#: counters the worker's web page and log report
STATS: dict[str, int] = {"texts": 0, "dead_letters": 0, "labels": 0, "judge_requests": 0, "verdicts": 0}


async def send_all(topics: Topics, outgoing: Sequence[Outgoing]) -> None:
    """Hand each message to the producer (in order).

    Delivery is not awaited message by message: Faust flushes the producer before it commits the
    consumed offsets, so a message whose outputs were not written is consumed again (at least once).
    """
    for item in outgoing:
        STATS[item.topic] = STATS.get(item.topic, 0) + 1
        await getattr(topics, item.topic).send(key=item.key, value=item.value)


def worker_stats() -> dict[str, Any]:
    """What the worker's ``/redline/stats/`` page shows."""
    from redline.streams.agents import collaborators

    return {
        "sent": dict(STATS),
        "model_version": collaborators.model_version,
        "judge": collaborators.judge_name,
        "learned": learning.buffer.learned,
        "model_updates": learning.buffer.updates,
        "waiting_to_learn": len(learning.buffer.texts),
        "routing": routing_stats(collaborators.policy),
    }


def routing_stats(router: Any) -> dict[str, Any]:
    """The live judge share of a :class:`~redline.core.judge_budget.BudgetedRouter` (texts routed,
    texts sent to the judge, their share, the target and the current threshold)."""
    state = getattr(router, "state", None)
    if state is None:  # a plain RoutingPolicy (tests): only its threshold is known
        return {"threshold": float(router.accept_below)}
    s = state()
    return {
        "texts": s.seen,
        "judge_asked": s.asked,
        "judge_share": round(s.share, 4),
        "target_share": s.target_share,
        "threshold": round(s.threshold, 6) if math.isfinite(s.threshold) else None,
        "window": s.window,
        "warm_start": s.prior,
    }


class LearningRunner:
    """Runs :func:`learning.learn_pending` in the background, one update at a time."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-learn")
        self.task: asyncio.Future[None] | None = None

    @property
    def busy(self) -> bool:
        """True while an update is running."""
        return self.task is not None and not self.task.done()

    def start(self) -> asyncio.Future[None] | None:
        """Start an update unless one is running; returns its task."""
        if self.busy:
            return None
        self.task = asyncio.ensure_future(self._run())
        self.task.add_done_callback(self._report)
        return self.task

    @staticmethod
    def _report(task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("model update failed: %r", task.exception())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        changed = await loop.run_in_executor(self.executor, learning.learn_pending)
        if changed is not None:
            await send_all(self.topics, [Outgoing("events", None, encode(changed))])
            if changed.kind == "applied":
                await self.publish()

    async def publish(self) -> None:
        """Put the current model on ``redline.models`` (a failure is logged; the stream goes on)."""
        from redline.streams.model_snapshots import MODEL_KEY

        loop = asyncio.get_running_loop()
        try:
            blob = await loop.run_in_executor(self.executor, learning.current_snapshot)
        except Exception as exc:
            log.warning("cannot snapshot the model: %r", exc)
            return
        if blob is not None:
            await send_all(self.topics, [Outgoing("models", MODEL_KEY, blob)])


def register_agents(app: Any, topics: Topics, settings: StreamSettings) -> dict[str, Any]:
    """Define the agents on ``app``; returns them by name (for ``agent.test_context()``)."""
    model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-model")
    learner = LearningRunner(topics)

    async def classify(stream: Any) -> Any:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            messages = [event.message for event in events]
            STATS["texts"] += len(messages)
            outgoing = await loop.run_in_executor(model_thread, classify_messages, messages)
            await send_all(topics, outgoing)
            yield len(messages)

    async def judge(stream: Any) -> Any:
        async for event in stream.events():
            await send_all(topics, await judge_message(event.message))
            yield 1

    async def control(stream: Any) -> Any:
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            # on the learning thread: model changes happen one at a time, never two on one copy
            outgoing = await loop.run_in_executor(learner.executor, control_message, event.message)
            await send_all(topics, outgoing)
            if any(o.topic == "events" and decode(Event, o.value).kind == "applied" for o in outgoing):
                await learner.publish()
            yield 1

    async def resolve(stream: Any) -> Any:
        async for event in stream.events():
            outgoing = resolve_message(event.message)
            await send_all(topics, outgoing)
            if settings.learn_every > 0 and learning.note(outgoing) and learning.due(settings.learn_every):
                learner.start()
            yield 1

    if settings.learn_every > 0:

        @app.timer(settings.learn_interval_s)  # type: ignore[untyped-decorator]
        async def learn_leftovers() -> None:
            if learning.buffer.texts:
                learner.start()

    @app.page("/redline/stats/")  # type: ignore[untyped-decorator]
    async def stats(view: Any, request: Any) -> Any:
        """Counters of this worker: messages sent per topic, model version, learning progress."""
        return view.json(worker_stats())

    agents = {
        "classify": app.agent(topics.texts, name="redline.classify")(classify),
        "judge": app.agent(
            topics.judge_requests, name="redline.judge", concurrency=settings.judge_concurrency
        )(judge),
        "resolve": app.agent(topics.judge_verdicts, name="redline.resolve")(resolve),
        "control": app.agent(topics.control, name="redline.control")(control),
    }
    app.redline_learner = learner
    return agents
