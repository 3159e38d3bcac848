"""The Faust agents: thin loops that hand each message (or batch) to the worker object.

- ``classify``: ``redline.texts`` in batches (size or time, whichever comes first);
- ``judge``: ``redline.judge.requests`` (``judge_concurrency`` actors);
- ``resolve``: ``redline.judge.verdicts`` -> the next question or the result; learning in the background;
Beside them runs the control plane (:mod:`.control_plane`): following ``redline.examples`` and
``redline.models`` and, on the elected leader, applying ``redline.control`` and learning.
The worker also serves ``/redline/stats/`` (counters) and ``/redline/ready/`` (200 once it has joined
its consumer group with a model loaded, 503 before): readiness is not read from logs; and, unless
``metrics`` is off, ``/metrics`` (Prometheus, :mod:`.worker_metrics`).
"""

from __future__ import annotations

from typing import Any

from redline.streams.control_plane import run_control_plane
from redline.streams.topics import Topics
from redline.streams.worker import Worker
from redline.streams.worker_metrics import CONTENT_TYPE


def register_agents(app: Any, topics: Topics, worker: Worker) -> dict[str, Any]:
    """Define the agents and pages on ``app``; returns the agents by name (for ``test_context()``)."""
    settings = worker.settings

    async def classify(stream: Any) -> Any:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            await worker.classify([event.message for event in events])
            yield len(events)

    async def judge(stream: Any) -> Any:
        async for event in stream.events():
            await worker.judge_message(event.message)
            yield 1

    async def resolve(stream: Any) -> Any:
        async for event in stream.events():
            await worker.resolve_message(event.message)
            yield 1

    @app.task  # type: ignore[untyped-decorator]
    async def control_plane() -> None:
        await run_control_plane(worker, app.is_leader)

    @app.page("/redline/stats/")  # type: ignore[untyped-decorator]
    async def stats(view: Any, request: Any) -> Any:
        return view.json(worker.stats_page())

    @app.page("/redline/ready/")  # type: ignore[untyped-decorator]
    async def ready(view: Any, request: Any) -> Any:
        body = {"ready": worker.ready, "model_version": worker.engine.version}
        return view.json(body, status=200 if worker.ready else 503)

    if settings.metrics:  # Prometheus text format (redline.streams.worker_metrics)
        worker.metrics.watch_consumer(lambda: app.consumer)

        @app.page("/metrics")  # type: ignore[untyped-decorator]
        async def metrics(view: Any, request: Any) -> Any:
            return view.bytes(worker.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    return {
        "classify": app.agent(topics.texts, name="redline.classify")(classify),
        "judge": app.agent(
            topics.judge_requests, name="redline.judge", concurrency=settings.judge_concurrency
        )(judge),
        # as many resolve actors as judge actors: each verdict's step awaits its sends' delivery, so one
        # actor made the judge loop wait on a broker round trip per verdict (bench_stream)
        "resolve": app.agent(
            topics.judge_verdicts, name="redline.resolve", concurrency=settings.judge_concurrency
        )(resolve),
    }
