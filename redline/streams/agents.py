"""The Faust agents: thin loops that hand each message (or batch) to the worker object.

- ``classify``: ``redline.texts`` in batches (size or time, whichever comes first);
- ``judge``: ``redline.judge.requests`` in batches (``judge_concurrency`` questions at once) -> each
  verdict folded into its text's walk: the next question or the result;
- ``resolve``: ``redline.judge.verdicts`` (records that earlier versions wrote) -> the same;
Each batch is acknowledged once its outputs are on the broker (:mod:`.delivery`); learning runs in the
background.
Beside them runs the control plane (:mod:`.control_plane`): following ``redline.examples`` and
``redline.models`` and, on the elected leader, applying ``redline.control`` and learning.
The worker also serves ``/redline/stats/`` (counters) and ``/redline/ready/`` (200 once it has joined
its consumer group with a model loaded, 503 before): readiness is not read from logs; and, unless
``metrics`` is off, ``/metrics`` (Prometheus, :mod:`.worker_metrics`).
"""

from __future__ import annotations

from typing import Any

from redline.streams.control_plane import run_control_plane
from redline.streams.delivery import BatchPipeline
from redline.streams.topics import Topics
from redline.streams.worker import Worker
from redline.streams.worker_metrics import CONTENT_TYPE


def register_agents(app: Any, topics: Topics, worker: Worker) -> dict[str, Any]:
    """Define the agents and pages on ``app``; returns the agents by name (for ``test_context()``)."""
    settings = worker.settings
    hops = max(3, settings.judge_concurrency)  # batches of questions in flight: a slow judge is still busy

    async def classify(stream: Any) -> Any:
        # embed_batches batches embedded at once, decided and sent in order, acknowledged once delivered
        depth = max(3, settings.embed_batches + 1)
        batches = BatchPipeline(worker.decide_batch, stream.ack, depth, prepare=worker.embed_batch)
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            await batches.submit(events)
            yield len(events)

    async def judge(stream: Any) -> Any:
        batches = BatchPipeline(worker.judge_batch, stream.ack, hops, ordered=False)
        async for events in stream.take_events(settings.batch_size, within=settings.hop_within_s):
            await batches.submit(events)
            yield len(events)

    async def resolve(stream: Any) -> Any:
        # verdicts of earlier versions only: Faust's take_events wakes every `within` even with nothing
        # to take, and at hop_within_s this drain alone woke an idle worker 50-100 times a second
        batches = BatchPipeline(worker.resolve_batch, stream.ack, hops, ordered=False)
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            await batches.submit(events)
            yield len(events)

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
        # one actor each: the batches of judge questions (and old verdicts) are handled at once
        # (BatchPipeline, judge_concurrency questions in flight); one actor per question awaited a broker
        # round trip each
        "judge": app.agent(topics.judge_requests, name="redline.judge")(judge),
        "resolve": app.agent(topics.judge_verdicts, name="redline.resolve")(resolve),
    }
