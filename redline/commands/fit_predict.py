"""``redline fit`` (train, write a model folder) and ``redline predict`` (label a JSONL file)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from redline.adapters.jsonl_files import STDIO, read_examples, write_jsonl
from redline.adapters.model_files import check_embedder, read_model_folder, write_model_folder
from redline.commands.engine_inputs import EmbedderFactory, embed_texts, read_training
from redline.core.config import EngineConfig
from redline.core.judge_budget import held_out_uncertainty, uncertainty_quantiles


def fit(args: argparse.Namespace, new_embedder: EmbedderFactory) -> int:
    """Train on ``--train`` and write the model folder ``--out``."""
    # deferred: the classifier pulls in scipy.sparse (about 0.15 s); `redline --help` need not pay for it
    from redline.core.classifier import RedClassifier

    examples, descriptions = read_training(args.train, args.labels)
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
