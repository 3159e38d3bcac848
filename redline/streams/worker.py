"""Start-up of a stream worker: load the model, build embedder and judge, install them, run Faust."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redline.errors import ConfigError, ModelError
from redline.streams.settings import StreamSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model read from a folder written by ``redline fit``."""

    model: Any
    version: str
    metadata: dict[str, Any]
    folder: Path | None = None


def load_model(model_dir: Path) -> LoadedModel:
    """Read a ``redline fit`` folder (snapshot manifest + arrays) into a ``RedClassifier``."""
    from redline.adapters.snapshot_store import MANIFEST_FILE, FileSnapshotStore
    from redline.core.classifier import RedClassifier

    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder (write one with `redline fit`)")
    snapshot = FileSnapshotStore(folder).load("")
    model = RedClassifier.from_state(snapshot.state)
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    digest = manifest.get("arrays_sha256") or hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    return LoadedModel(model, f"{folder.name}@{str(digest)[:12]}", dict(snapshot.metadata), folder)


def build_judge(spec: str, model: Any, *, truth_path: Path | None = None, seed: int = 0) -> Any:
    """The judge a spec names: ``none`` -> None; ``simulated[-hard]:<acc>`` (evaluation only, needs
    ``truth_path``: a JSONL of ``{"text", "label"}``); ``openai`` or ``openai:<model>`` -> OpenAIJudge
    configured from the environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``REDLINE_JUDGE_*``)."""
    spec = spec.strip()
    if spec == "none":
        return None
    if spec.startswith("simulated"):
        from redline.adapters.jsonl_files import read_examples
        from redline.core.labels import label_embeddings
        from redline.judge.simulated_expert import SimulatedExpert

        if truth_path is None:
            raise ConfigError(
                f"judge {spec!r} is a simulated expert: give the ground truth with --judge-truth FILE"
            )
        truth = {e.text: str(e.label) for e in read_examples(truth_path)}
        classes = [str(c) for c in model.classes_]
        E = label_embeddings(model.X_, [str(v) for v in model.y_], classes)
        return SimulatedExpert.from_spec(spec, truth, dict(zip(classes, E, strict=True)), seed=seed)
    if spec == "openai" or spec.startswith("openai:"):
        from redline.judge.openai_judge import OpenAIJudge
        from redline.judge.settings import JudgeSettings

        name = spec.partition(":")[2] or None
        return OpenAIJudge(JudgeSettings.from_env(model=name))
    raise ConfigError(f"judge spec {spec!r} not understood: expected none, simulated:<acc>, openai[:<model>]")


def build_router(settings: StreamSettings, metadata: dict[str, Any]) -> Any:
    """The classify step's router: a judge budget (``judge_share`` of the texts, warm-started from the
    fit-time uncertainty quantiles in the model's metadata), or a fixed ``uncertainty_threshold``."""
    from redline.core.judge_budget import BudgetedRouter

    prior = metadata.get("uncertainty_quantiles")
    try:
        return BudgetedRouter(
            share=settings.judge_share,
            max_candidates=settings.max_candidates,
            prior=prior if prior else None,
            fixed_threshold=settings.uncertainty_threshold,
        )
    except ConfigError as exc:
        raise ModelError(f"the model's uncertainty_quantiles are unusable: {exc}") from exc


def install_collaborators(
    settings: StreamSettings,
    loaded: LoadedModel,
    *,
    embedder: Any | None = None,
    judge_truth: Path | None = None,
) -> None:
    """Fill :mod:`redline.streams.agents.collaborators` for a worker run."""
    from redline.adapters.model_files import check_embedder
    from redline.streams.agents import collaborators

    model = loaded.model
    if embedder is None:
        from redline.adapters.embedder import EmbeddingSettings

        # no on-disk cache in a worker: stream texts rarely repeat and several workers may share a disk
        embedder = EmbeddingSettings.from_env(batch_size=settings.batch_size, cache=False).build()
    check_embedder(loaded.metadata, embedder, where=loaded.folder or loaded.version)
    collaborators.install(
        embedder=embedder,
        model=model,
        model_version=loaded.version,
        uncertainty_kind=model.config.uncertainty if model.config is not None else "margin",
        policy=build_router(settings, loaded.metadata),
        judge=build_judge(settings.judge, model, truth_path=judge_truth),
        judge_name=settings.judge,
        examples=model,
        descriptions=dict(getattr(model, "descriptions_", {})),
        context_examples=settings.context_examples,
    )


def resume_from_models_topic(settings: StreamSettings, loaded: LoadedModel) -> str:
    """Continue from the newest model on ``<prefix>models`` when it descends from ``loaded``.

    Returns a note for the start-up line ("" when the folder's model is used as it is).
    """
    from redline.streams.agents import learning
    from redline.streams.model_snapshots import read_latest

    try:
        latest = asyncio.run(read_latest(settings))
    except Exception as exc:
        print(
            f"redline worker: cannot read {settings.topics.models} ({exc!r}); using {loaded.version}",
            file=sys.stderr,
        )
        return ""
    if latest is None:
        return ""
    model, lineage = latest
    if lineage.base_version != loaded.version:
        return f"; ignored {settings.topics.models} (its model descends from {lineage.base_version})"
    learning.restore(model, lineage.version, lineage.base_version, lineage.updates, lineage.learned)
    return f"; resumed {lineage.version} from {settings.topics.models} ({lineage.learned} texts learned)"


def _routing_note(settings: StreamSettings, router: Any) -> str:
    if settings.uncertainty_threshold is not None:
        return f"judge asked at uncertainty >= {settings.uncertainty_threshold} (fixed threshold)"
    start = "fit-time uncertainties" if router.prior is not None else "the first batch"
    return f"judge share {settings.judge_share:g} (threshold adapts; starts from {start})"


def run_worker(settings: StreamSettings, *, judge_truth: Path | None = None) -> int:
    """Load everything, create the topics, and run the Faust worker until SIGINT/SIGTERM."""
    import faust

    from redline.streams.app import create_app
    from redline.streams.topics import ensure_topics

    if settings.model_dir is None:
        raise ConfigError("a worker needs a model: pass --model DIR (written by `redline fit`)")
    loaded = load_model(settings.model_dir)
    install_collaborators(settings, loaded, judge_truth=judge_truth)
    from redline.streams.agents import collaborators

    collaborators.embedder.encode(["warm up"])  # type: ignore[union-attr]  # load weights before joining
    created = asyncio.run(ensure_topics(settings))
    resumed = resume_from_models_topic(settings, loaded)
    app, _topics = create_app(settings)

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def _assigned(sender: Any, assigned: Any, **_: Any) -> None:
        names = sorted({tp.topic for tp in assigned})
        print(f"redline worker: assigned {len(assigned)} partition(s) of {', '.join(names)}", file=sys.stderr)

    print(
        f"redline worker: model {loaded.version} ({len(loaded.model.classes_)} labels), "
        f"judge {settings.judge}, "
        f"{_routing_note(settings, collaborators.policy)}, topics created: {len(created)}, "
        f"web port {settings.web_port}{resumed}",
        file=sys.stderr,
        flush=True,
    )
    worker = faust.Worker(app, loglevel=settings.loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
