"""The classify step: decode a batch of texts, embed, score, route (accept / judge / unresolved).

Every decodable text yields exactly one :class:`Prediction` and exactly one next message: a
:class:`LabelResult` (accepted, or unresolved when no judge is configured or scoring failed) or a
:class:`JudgeRequest`. Every undecodable message yields exactly one :class:`DeadLetter`.
The decisions come from ``collaborators.policy``: in a worker a judge budget
(:class:`redline.core.judge_budget.BudgetedRouter`), or a fixed threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from redline.core.uncertainty import Action
from redline.errors import RecordError
from redline.schemas import (
    Candidate,
    JudgeRequest,
    LabelContext,
    LabelResult,
    Prediction,
    TextIn,
    decode,
    encode,
)
from redline.streams.agents import collaborators as co
from redline.streams.agents.dead_letters import Outgoing, dead_letter

log = logging.getLogger(__name__)


def decode_batch(messages: Sequence[Any]) -> tuple[list[TextIn], list[Outgoing]]:
    """Split raw messages into decoded texts and dead letters (one per bad message)."""
    texts: list[TextIn] = []
    dead: list[Outgoing] = []
    for message in messages:
        try:
            texts.append(decode(TextIn, message.value))
        except RecordError as exc:
            letter = dead_letter(message, str(exc), stage="classify")
            dead.append(Outgoing("deadletter", message.key, encode(letter)))
    return texts, dead


def _candidates(row: np.ndarray, index: dict[str, int], labels: Sequence[str]) -> list[Candidate]:
    return [Candidate(label, float(min(1.0, max(0.0, row[index[label]])))) for label in labels]


def _unresolved(
    text: TextIn, candidates: list[Candidate], reason: str, version: str | None = None
) -> LabelResult:
    return LabelResult(
        id=text.id,
        text=text.text,
        label=None,
        status="unresolved",
        confidence=candidates[0].p if candidates else 0.0,
        candidates=candidates,
        model_version=co.model_version if version is None else version,
        reason=reason,
        metadata=text.metadata,
    )


def _contexts(labels: Sequence[str], x: np.ndarray) -> list[LabelContext]:
    lookup = co.examples
    k = co.context_examples
    return [
        LabelContext(
            label=label,
            description=co.descriptions.get(label, ""),
            examples=list(lookup.nearest_examples(x, label, k)) if lookup is not None and k > 0 else [],
        )
        for label in labels
    ]


def score_texts(texts: Sequence[TextIn]) -> list[tuple[Prediction, LabelResult | JudgeRequest]]:
    """Embed and score ``texts`` with the installed collaborators and route each one."""
    if not texts:
        return []
    model, version = co.model, co.model_version  # one model for the whole batch (learning swaps it)
    if co.embedder is None or model is None:
        raise RuntimeError("no model loaded: the worker has no embedder or model installed")
    strings = [t.text for t in texts]
    X = np.asarray(co.embedder.encode(strings), dtype=np.float32)
    scores = model.predict_scores(X, strings)
    P = np.asarray(scores.proba, dtype=np.float64)
    classes = [str(c) for c in model.classes_]
    index = {c: i for i, c in enumerate(classes)}
    unc = np.asarray(scores.uncertainty(co.uncertainty_kind), dtype=np.float64)
    routes = co.policy.route(P, classes, unc)
    out: list[tuple[Prediction, LabelResult | JudgeRequest]] = []
    for text, x, row, route in zip(texts, X, P, routes, strict=True):
        cands = _candidates(row, index, route.candidates)
        u = float(min(1.0, max(0.0, route.uncertainty)))
        next_msg: LabelResult | JudgeRequest
        if route.action is Action.ACCEPT and route.label is not None:
            next_msg = LabelResult(
                id=text.id,
                text=text.text,
                label=route.label,
                status="accepted",
                confidence=cands[route.candidates.index(route.label)].p,
                candidates=cands,
                model_version=version,
                metadata=text.metadata,
            )
            kind = "accept"
        elif route.action is Action.ASK and co.judge is not None and cands:
            next_msg = JudgeRequest(
                id=text.id,
                text=text.text,
                candidates=cands,
                contexts=_contexts(route.candidates, x),
                index=0,
                uncertainty=u,
                model_version=version,
                metadata=text.metadata,
            )
            kind = "judge"
        else:
            reason = (
                "uncertain and no judge configured" if route.action is Action.ASK else "policy: unresolved"
            )
            next_msg = _unresolved(text, cands, reason, version)
            kind = "unresolved"
        prediction = Prediction(
            id=text.id,
            text=text.text,
            candidates=cands,
            uncertainty=u,
            route=kind,  # type: ignore[arg-type]
            model_version=version,
            reason=next_msg.reason if isinstance(next_msg, LabelResult) else "",
            metadata=text.metadata,
        )
        out.append((prediction, next_msg))
    return out


def _route_outgoing(pairs: Sequence[tuple[Prediction, LabelResult | JudgeRequest]]) -> list[Outgoing]:
    out: list[Outgoing] = []
    for prediction, next_msg in pairs:
        key = prediction.id.encode("utf-8")
        out.append(Outgoing("predictions", key, encode(prediction)))
        topic = "labels" if isinstance(next_msg, LabelResult) else "judge_requests"
        out.append(Outgoing(topic, key, encode(next_msg)))
    return out


def classify_messages(messages: Sequence[Any]) -> list[Outgoing]:
    """The whole step for one batch of raw messages: what to send, in order.

    When scoring the batch fails, each text is scored alone; a text that still fails ends as an
    unresolved :class:`LabelResult` naming the error, so no id is lost.
    """
    texts, out = decode_batch(messages)
    try:
        return out + _route_outgoing(score_texts(texts))
    except Exception as exc:  # scoring failed for the batch: isolate the bad text(s)
        log.warning("scoring a batch of %d failed (%r); retrying one by one", len(texts), exc)
    for text in texts:
        try:
            out += _route_outgoing(score_texts([text]))
        except Exception as exc:
            result = _unresolved(text, [], f"classification failed: {exc!r}"[:500])
            out.append(Outgoing("labels", text.id.encode("utf-8"), encode(result)))
    return out
