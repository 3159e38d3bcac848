"""The Faust agents: thin loops that hand each message (or batch) to the worker object.

- ``classify``: ``redline.texts`` in batches (size or time, whichever comes first);
- ``judge``: ``redline.judge.requests`` (``judge_concurrency`` actors);
- ``resolve``: ``redline.judge.verdicts`` -> the next question or the result; learning in the background;
- ``control``: ``redline.control`` -> label set changes -> ``redline.events``.
The worker also serves ``/redline/stats/`` (counters) and ``/redline/ready/`` (200 once it has joined
its consumer group with a model loaded, 503 before): readiness is not read from logs.
"""

from __future__ import annotations

from typing import Any

from redline.streams.topics import Topics
from redline.streams.worker import Worker


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

    async def control(stream: Any) -> Any:
        async for event in stream.events():
            await worker.control_message(event.message)
            yield 1

    if settings.learn_every > 0:

        @app.timer(settings.learn_interval_s)  # type: ignore[untyped-decorator]
        async def learn_leftovers() -> None:
            if worker.learner.waiting:
                worker.start_update()

    @app.page("/redline/stats/")  # type: ignore[untyped-decorator]
    async def stats(view: Any, request: Any) -> Any:
        return view.json(worker.stats_page())

    @app.page("/redline/ready/")  # type: ignore[untyped-decorator]
    async def ready(view: Any, request: Any) -> Any:
        body = {"ready": worker.ready, "model_version": worker.engine.version}
        return view.json(body, status=200 if worker.ready else 503)

    return {
        "classify": app.agent(topics.texts, name="redline.classify")(classify),
        "judge": app.agent(
            topics.judge_requests, name="redline.judge", concurrency=settings.judge_concurrency
        )(judge),
        "resolve": app.agent(topics.judge_verdicts, name="redline.resolve")(resolve),
        "control": app.agent(topics.control, name="redline.control")(control),
    }
