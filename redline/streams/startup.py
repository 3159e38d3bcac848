"""Start-up of a stream worker: build the :class:`~redline.streams.worker.Worker` from its settings,
create the topics, register the agents and run Faust."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from redline.adapters.embedder import Embedder, EmbeddingSettings
from redline.adapters.jsonl_files import read_examples
from redline.adapters.model_files import FittedModel, check_embedder, read_model_folder
from redline.core.engine import JudgePolicy, StreamEngine
from redline.core.judge_budget import BudgetedRouter
from redline.errors import ConfigError, ModelError
from redline.judge.specs import build_judge, parse_judge_spec
from redline.streams.model_snapshots import ModelLineage, read_latest
from redline.streams.settings import StreamSettings
from redline.streams.worker import Worker


def build_router(settings: StreamSettings, metadata: dict[str, Any]) -> BudgetedRouter:
    """The router: a judge budget (``judge_share`` of the texts, warm-started from the fit-time
    uncertainty quantiles in the model's metadata), or a fixed ``uncertainty_threshold``."""
    prior = metadata.get("uncertainty_quantiles")
    try:
        return BudgetedRouter(
            share=settings.judge_share,
            prior=prior if prior else None,
            fixed_threshold=settings.uncertainty_threshold,
        )
    except ConfigError as exc:
        raise ModelError(f"the model's uncertainty_quantiles are unusable: {exc}") from exc


def build_engine(settings: StreamSettings, loaded: FittedModel, *, judge_available: bool) -> StreamEngine:
    """The engine a worker decides with, from a loaded model and the settings."""
    policy = JudgePolicy(
        judge_share=settings.judge_share,
        threshold=settings.uncertainty_threshold,
        max_candidates=settings.max_candidates,
        context_examples=settings.context_examples,
    )
    return StreamEngine(
        loaded.model,
        loaded.version,
        build_router(settings, loaded.metadata),
        policy,
        judge_available=judge_available,
    )


def build_worker(
    settings: StreamSettings, *, judge_truth: Path | None = None, embedder: Embedder | None = None
) -> tuple[Worker, str]:
    """The worker for ``settings`` and a note for its start-up line (what it resumed from)."""
    if settings.model_dir is None:
        raise ConfigError("a worker needs a model: pass --model DIR (written by `redline fit`)")
    parse_judge_spec(settings.judge)  # a bad spec fails before any model work
    loaded = read_model_folder(settings.model_dir)
    if embedder is None:
        # no on-disk cache in a worker: stream texts rarely repeat and several workers may share a disk
        embedder = EmbeddingSettings.from_env(batch_size=settings.batch_size, cache=False).build()
    check_embedder(loaded.metadata, embedder, where=loaded.folder)
    truth = {e.text: str(e.label) for e in read_examples(judge_truth)} if judge_truth is not None else None
    model = loaded.model
    judge = build_judge(settings.judge, truth=truth, X=model.X_, labels=[str(v) for v in model.y_])
    engine = build_engine(settings, loaded, judge_available=judge is not None)
    engine, lineage, note = resume(settings, engine)
    return Worker(settings, embedder, judge, settings.judge.strip(), engine, lineage), note


def resume(settings: StreamSettings, engine: StreamEngine) -> tuple[StreamEngine, ModelLineage, str]:
    """Continue from the newest model on ``<prefix>models`` when it descends from the engine's model
    (same loaded version): a restart keeps what the stream has learned. Returns the engine to use, its
    lineage and a note for the start-up line ("" when the folder's model is used as it is)."""
    start = ModelLineage.start(engine.version)
    try:
        latest = asyncio.run(read_latest(settings))
    except Exception as exc:
        print(f"redline worker: cannot read {settings.topics.models} ({exc!r}); using {engine.version}",
              file=sys.stderr)  # fmt: skip
        return engine, start, ""
    if latest is None:
        return engine, start, ""
    model, lineage = latest
    if lineage.base_version != engine.version:
        return (
            engine,
            start,
            f"; ignored {settings.topics.models} (its model descends from {lineage.base_version})",
        )
    note = f"; resumed {lineage.version} from {settings.topics.models} ({lineage.learned} texts learned)"
    return engine.with_model(model, lineage.version), lineage, note


def run_worker(settings: StreamSettings, *, judge_truth: Path | None = None) -> int:
    """Build the worker, create the topics, and run the Faust worker until SIGINT/SIGTERM."""
    # deferred: faust pulls in aiohttp, mode and venusian (start-up time of every other command)
    import faust

    from redline.streams.agents import register_agents
    from redline.streams.app import create_app
    from redline.streams.topics import ensure_topics

    worker, resumed = build_worker(settings, judge_truth=judge_truth)
    worker.embedder.encode(["warm up"])  # load the weights before joining the group
    created = asyncio.run(ensure_topics(settings))
    app, topics = create_app(settings)
    worker.attach(topics)
    register_agents(app, topics, worker)

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def _assigned(sender: Any, assigned: Any, **_: Any) -> None:
        worker.ready = True
        names = sorted({tp.topic for tp in assigned})
        print(f"redline worker: assigned {len(assigned)} partition(s) of {', '.join(names)}", file=sys.stderr)

    engine = worker.engine
    print(
        f"redline worker: model {engine.version} ({len(engine.classes)} labels), judge {worker.judge_name}, "
        f"{routing_note(settings, engine.router)}, topics created: {len(created)}, "
        f"web port {settings.web_port}{resumed}",
        file=sys.stderr,
        flush=True,
    )
    runner = faust.Worker(app, loglevel=settings.loglevel, quiet=True, redirect_stdouts=False)
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        worker.close()
    return 0


def routing_note(settings: StreamSettings, router: BudgetedRouter) -> str:
    """How the worker routes texts to the judge, for its start-up line."""
    if settings.uncertainty_threshold is not None:
        return f"judge asked at uncertainty >= {settings.uncertainty_threshold} (fixed threshold)"
    start = "fit-time uncertainties" if router.prior is not None else "the first batch"
    return f"judge share {settings.judge_share:g} (threshold adapts; starts from {start})"
