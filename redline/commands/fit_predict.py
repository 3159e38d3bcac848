"""``redline fit`` (train, write a model folder, ``--publish`` it) and ``redline predict`` (label texts)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from redline.adapters.jsonl_files import STDIO, read_examples, write_jsonl
from redline.adapters.model_files import FittedModel, check_embedder, read_model_folder, write_model_folder
from redline.commands import deployment_client
from redline.commands.engine_inputs import EmbedderFactory, embed_texts, read_training
from redline.core.config import EngineConfig
from redline.core.judge_budget import held_out_uncertainty, uncertainty_quantiles
from redline.errors import ConfigError, RedlineError

if TYPE_CHECKING:
    from redline.streams.settings import StreamSettings


async def publish(settings: StreamSettings, fitted: FittedModel, *, force: bool) -> Any:
    """Publish ``fitted`` as the deployment's model; returns the published snapshot (``.version``,
    ``.info.labels``, ``.info.examples``). Tests replace this attribute."""
    # deferred: the deployment module loads the stream layer (aiokafka), which only --publish needs
    from redline.streams.deployment import publish_model

    return await publish_model(settings, fitted, force=force)


def _publish_settings(args: argparse.Namespace) -> StreamSettings | None:
    """The deployment to publish to (checked reachable), None without ``--publish``."""
    if not args.publish:
        stray = deployment_client.given_deployment_flags(args) + (["--force"] if args.force else [])
        if stray:
            raise ConfigError(f"{stray[0]} is used only with --publish")
        return None
    settings = deployment_client.deployment_settings(args)
    asyncio.run(deployment_client.check_reachable(settings))  # before minutes of fitting, not after
    return settings


def fit(args: argparse.Namespace, new_embedder: EmbedderFactory) -> int:
    """Train on ``--train``, write the model folder ``--out``, and with ``--publish`` publish it."""
    # deferred: the classifier pulls in scipy.sparse (about 0.15 s); `redline --help` need not pay for it
    from redline.core.classifier import RedClassifier

    examples, descriptions = read_training(args.train, args.labels)
    deployment = _publish_settings(args)
    engine = EngineConfig.named(args.config, seed=args.seed)
    embedder = new_embedder()
    texts = [e.text for e in examples]
    X, seconds = embed_texts(embedder, texts)
    y = [str(e.label) for e in examples]
    model = RedClassifier(engine).fit(X, texts, y, descriptions)
    # uncertainties of texts the model has not seen (3-fold cross-fitting): they warm-start the
    # stream worker's judge budget (in-sample ones are far too low to be useful)
    held_out = held_out_uncertainty(
        lambda: RedClassifier(engine), X, texts, y, engine.uncertainty, seed=args.seed
    )
    metadata = {
        "embedder": getattr(embedder, "model_id", type(embedder).__name__),
        "dimension": int(X.shape[1]),
        "preset": args.config,
        "train_file": str(args.train),
        "examples": len(examples),
        "labels": len(model.classes_),
        "uncertainty_quantiles": uncertainty_quantiles(held_out),
    }
    where = write_model_folder(args.out, model, metadata)
    print(
        f"fitted {len(model.classes_)} labels on {len(examples)} examples "
        f"(embedding {seconds:.1f} s) -> {where}"
    )
    if deployment is not None:
        try:
            published = asyncio.run(publish(deployment, read_model_folder(where), force=args.force))
        except RedlineError as exc:  # same kind of error (and exit code), saying the folder is kept
            raise type(exc)(f"not published: {exc}; the model is in {where}") from None
        info = published.info
        print(
            f"published {published.version} ({info.labels} labels, {info.examples} examples) "
            f"to {deployment.topics.models}"
        )
    return 0


def predict(args: argparse.Namespace, new_embedder: EmbedderFactory) -> int:
    """Label every record of ``--in`` and write them to ``--out``."""
    embedder = new_embedder()
    fitted = read_model_folder(args.model)
    check_embedder(fitted.metadata, embedder, fitted.folder)
    model = fitted.model
    examples = read_examples(args.input, require_label=False)
    texts = [e.text for e in examples]
    X, seconds = embed_texts(embedder, texts)
    scores = model.predict_scores(X, texts)
    proba = scores.proba
    uncertainty = scores.uncertainty((model.config or EngineConfig()).uncertainty)
    classes = model.classes_.tolist()
    k = min(args.top_k, len(classes))
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]

    def records() -> Iterator[dict[str, Any]]:
        for i, e in enumerate(examples):
            rec: dict[str, Any] = {**e.extra, "text": e.text}
            if e.label is not None:
                rec["label"] = e.label
            top = order[i]
            rec["prediction"] = classes[top[0]]
            rec["confidence"] = round(float(proba[i, top[0]]), 6)
            rec["uncertainty"] = round(float(uncertainty[i]), 6)
            rec["candidates"] = [{"label": classes[j], "p": round(float(proba[i, j]), 6)} for j in top]
            yield rec

    n = write_jsonl(args.out, records())
    labelled = [(i, e.label) for i, e in enumerate(examples) if e.label is not None]
    summary = f"labelled {n} texts (embedding {seconds:.1f} s) -> {args.out}"
    if labelled:
        hits = sum(classes[order[i][0]] == label for i, label in labelled)
        summary += f"; accuracy on the {len(labelled)} labelled input texts: {hits / len(labelled):.4f}"
    print(summary, file=sys.stderr if str(args.out) == STDIO else sys.stdout)
    return 0
