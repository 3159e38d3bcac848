"""Start-up of a stream worker: build the :class:`~redline.streams.worker.Worker` from its settings and
the deployment's state in Kafka, register the agents and background tasks, and run Faust."""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from threading import Thread
from typing import Any

from redline.adapters.embedder import Embedder, EmbeddingSettings
from redline.adapters.jsonl_files import read_examples
from redline.adapters.model_files import FittedModel, check_embedder, read_model_folder, read_model_metadata
from redline.core.classifier import RedClassifier
from redline.core.engine import JudgePolicy, StreamEngine
from redline.core.judge_budget import BudgetedRouter
from redline.errors import ConfigError, ModelError
from redline.judge.specs import build_judge, parse_judge_spec
from redline.streams.deployment import DeploymentState, policy_of, starting_state
from redline.streams.kafka_io import quiet_client_logs
from redline.streams.process_memory import map_large_blocks
from redline.streams.settings import StreamSettings
from redline.streams.worker import Worker


def build_router(settings: StreamSettings, quantiles: Sequence[float] | None) -> BudgetedRouter:
    """The worker's router, warm-started from the fit-time uncertainty quantiles when there are some."""
    try:
        return BudgetedRouter(
            share=settings.judge_share,
            prior=list(quantiles) if quantiles else None,
            fixed_threshold=settings.uncertainty_threshold,
        )
    except ConfigError as exc:
        raise ModelError(f"the model's uncertainty_quantiles are unusable: {exc}") from exc


def limit_blas_threads(threads: int) -> Any:
    """Limit the BLAS libraries loaded in this process (numpy's OpenBLAS) to ``threads`` threads, for
    every thread of the process (``0``: leave them). Returns threadpoolctl's limiter
    (``restore_original_limits()`` undoes it), or None."""
    if threads <= 0:
        return None
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency; only a worker needs it

    return threadpool_limits(limits=threads, user_api="blas")


def embed_threads(cores: int | None, batches: int = 1) -> int:
    """The embedder's threads in a worker when ``REDLINE_EMBED_THREADS`` is not set: every core but one
    (the worker's event loops, its producer and, on a small machine, the broker need a core), shared
    among the ``batches`` embedded at once, at least one each."""
    # measured on 2 cores: one ONNX thread cost less CPU per text at every batch size (9.4 against 13.2
    # ms for one CLINC150 text, 6.1 against 7.8 for 8, 4.6 against 4.8 for 64); bench_stream at 150
    # labels, two interleaved pairs each: the worker's CPU per text 7-16 % lower in a burst and 8 %
    # lower at a fixed rate, texts/s the same with the defaults (104 / 97 against 107 / 96), their p99
    # at 45 texts/s 297 / 194 against 386 / 213 ms. The cost: classify only, bound by the model
    # thread's wall time where CPU is spare, ran 4-7 % slower in those pairs and 17-18 % in the make
    # bench-stream run after (138 against 166 texts/s at 150 labels, 73 against 89 at 1000; the
    # defaults at 1000 labels 48 against 43); REDLINE_EMBED_THREADS=2 gives it back. The embedding
    # alone (bench_stream's yardstick) keeps every core.
    return max(1, ((cores or 1) - 1) // max(1, batches))


def _cores() -> int | None:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def worker_embedder(settings: StreamSettings) -> Embedder:
    """The embedder of a worker (from the ``REDLINE_EMBED_*`` settings; not loaded yet); its threads,
    unless set, leave a core to the rest of the worker (:func:`embed_threads`), shared among the batches
    embedded at once."""
    # no on-disk cache in a worker: stream texts rarely repeat and several workers may share a disk
    embedding = EmbeddingSettings.from_env(batch_size=settings.batch_size, cache=False)
    if embedding.threads is None:
        embedding = embedding.model_copy(update={"threads": embed_threads(_cores(), settings.embed_batches)})
    return embedding.build()


def build_worker(
    settings: StreamSettings,
    *,
    judge_truth: Path | None = None,
    embedder: Embedder | None = None,
    state: DeploymentState | None = None,
) -> tuple[Worker, str]:
    """The worker for ``settings`` and its start-up line (what it loaded, from where).

    The state comes from Kafka (the newest snapshot and every example); with nothing published and
    ``--model DIR`` given, the folder is published first. ``state`` is for tests that bring their own.
    """
    parse_judge_spec(settings.judge)  # a bad spec fails before any model work
    if embedder is None:
        embedder = worker_embedder(settings)
    embedder_id = str(getattr(embedder, "model_id", "") or "")
    if state is None:
        state = asyncio.run(starting_state(settings, _folder_reader(settings, embedder), embedder_id))
    published, store = state.published, state.store
    check_embedder({"embedder": published.info.embedder}, embedder, where=settings.topics.models)
    model = RedClassifier.from_params(published.params)
    rows = store.rows()
    truth = {e.text: str(e.label) for e in read_examples(judge_truth)} if judge_truth is not None else None
    judge = build_judge(settings.judge, truth=truth, X=rows.X, labels=list(rows.labels))
    engine = StreamEngine(
        model,
        published.version,
        build_router(settings, published.info.uncertainty_quantiles),
        JudgePolicy(**dict(published.info.policy)),
        examples=store.index(),
        judge_available=judge is not None,
    )
    worker = Worker(
        settings, embedder, judge, settings.judge.strip(), engine, store=store, published=published
    )
    owner = published.info.group
    follower = (
        f"; the deployment belongs to group {owner!r}: this worker (group {settings.app_id!r}) follows it "
        "and never learns or applies commands"
        if owner and owner != settings.app_id
        else ""
    )
    line = (
        f"{state.note}loaded {published.version} ({len(engine.classes)} labels, {len(store)} examples) "
        f"from {settings.topics.models}; {policy_line(settings, engine.policy)}{follower}"
    )
    return worker, line


def _folder_reader(settings: StreamSettings, embedder: Embedder) -> Callable[[], FittedModel] | None:
    """Reads ``--model DIR`` when the deployment needs it (nothing published yet); a folder that is not
    there, or of other embeddings, fails now (from its manifest), whether or not it is needed."""
    folder = settings.model_dir
    if folder is None:
        return None
    check_embedder(read_model_metadata(folder), embedder, where=folder)  # what the folder's read would find
    return partial(read_model_folder, folder)


def policy_line(settings: StreamSettings, policy: JudgePolicy) -> str:
    """How the worker routes texts to the judge, and whether its own flags were overridden."""
    if policy.threshold is not None:
        text = f"judge asked at uncertainty >= {policy.threshold} (fixed threshold)"
    else:
        text = f"judge share {policy.judge_share:g}"
    wanted = policy_of(settings)
    if wanted != policy:
        text += " (the deployment's policy; change it with `redline control set-policy`)"
    return text


def settle(modules: list[str]) -> None:
    """Import ``modules`` (on a thread: a module's first import is its cost), then take every object
    alive now out of the cyclic garbage collector's reach (:func:`gc.freeze`).

    What a worker builds to start (the imports of Faust, aiokafka, scikit-learn, onnxruntime; the model,
    the example store) lives as long as the process, but each full collection walked it again: ~190,000
    objects at 1000 labels, ~100 ms with every thread stopped (gc.callbacks in a bench_stream worker), a
    stall that held the texts of that moment back 250-400 ms (accepted p99 at half rate 289-562 ms in
    eight runs of the 1000-label defaults; 285-296 ms in four with the objects frozen, no full collection
    in the phase). Models and engines installed later are freed by their reference counts, frozen or not.
    """
    for name in modules:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


def run_worker(settings: StreamSettings, *, judge_truth: Path | None = None) -> int:
    """Build the worker, register the agents and tasks, and run the Faust worker until SIGINT/SIGTERM."""
    # deferred: faust pulls in aiohttp, mode and venusian (start-up time of every other command)
    import faust

    from redline.streams.agents import register_agents
    from redline.streams.app import create_app
    from redline.streams.log_format import logging_config

    quiet_client_logs()
    limit_blas_threads(settings.blas_threads)  # numpy is loaded: the limit holds for every thread
    map_large_blocks()  # before the first large arrays: freed ones go back to the system
    embedder = worker_embedder(settings)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-warm-up") as warm_up:
        # the embedding model loads (onnxruntime import, session) while the deployment's state is read
        loaded = warm_up.submit(embedder.encode, ["warm up"])
        worker, line = build_worker(settings, judge_truth=judge_truth, embedder=embedder)
        loaded.result()  # the weights are loaded before the worker joins the group
    app, topics = create_app(settings)
    worker.attach(topics)
    register_agents(app, topics, worker)

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def _assigned(sender: Any, assigned: Any, **_: Any) -> None:
        if not worker.assigned:
            # river takes 1.2 s to import (river.drift pulls in scikit-learn): the drift watch imported it
            # on the event loop at the first result, a stall inside the first burst; importing it before
            # the group join made a restart ready in 3.3-5.6 s instead of 1.7-3.0 (CPU shared with the reads).
            # Likewise scikit-learn's clustering for new-intent suggestions: its import (0.6-0.7 s) was
            # 1.5 % of the samples of a 1000-label burst and 3.3 % of a 150-label one (py-spy, bench_stream)
            modules = ["river.drift", *(["sklearn.cluster"] if worker.keeps_unresolved_embeddings else [])]
            Thread(target=settle, args=(modules if settings.drift else [],), daemon=True).start()
        worker.assigned = True
        names = sorted({tp.topic for tp in assigned})
        print(f"redline worker: assigned {len(assigned)} partition(s) of {', '.join(names)}", file=sys.stderr)

    print(f"redline worker: {line}; judge {worker.judge_name}; web port {settings.web_port}", file=sys.stderr,
          flush=True)  # fmt: skip
    runner = faust.Worker(
        app,
        loglevel=settings.loglevel,
        quiet=True,
        redirect_stdouts=False,
        logging_config=logging_config(settings),
    )
    # no progress spinner: Faust's sets the root logger to DEBUG for good, so every debug call of faust,
    # mode and aiokafka built a LogRecord (82,000 getpid calls, one per record, in 25 s of a judging
    # worker under strace; 3-6 % of its py-spy samples); it also wrote terminal escapes between JSON lines
    runner.spinner = None
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        worker.close()
    return 0
