"""The classify step: a batch of raw ``redline.texts`` messages -> what to send.

Every decodable text yields one :class:`~redline.schemas.Prediction` and one next record: a
:class:`~redline.schemas.LabelResult` (accepted, or unresolved when no judge is configured) or a
:class:`~redline.schemas.JudgeRequest` for its first candidate, carrying the text's embedding so that
learning never embeds it again. Every undecodable message yields one dead letter. The decisions are the
engine's (:meth:`redline.core.engine.StreamEngine.decide`); this module only turns them into records.

The step has two halves, so that a worker can embed several batches at once while it decides and sends
them one after the other, in the order they were read: :func:`embed` (decode and embed) and
:func:`decide` (the engine's decisions and the records); :func:`classify` is both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from redline.adapters.embedder import Embedder
from redline.core.engine import Action, Decision, StreamEngine
from redline.errors import RecordError
from redline.schemas import (
    MAX_RECORD_BYTES,
    MAX_TEXT_CHARS,
    Candidate,
    JudgeRequest,
    LabelContext,
    LabelResult,
    Prediction,
    TextIn,
    encode_embedding,
    from_dict,
)
from redline.streams.messages import Outgoing, dead_letter, decode_or_dead_letter, keyed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedBatch:
    """A batch of raw messages, read and embedded: what :func:`decide` needs.

    Attributes
    ----------
    messages : sequence
        The raw messages, as read.
    letters : list of Outgoing
        The dead letters of the messages that are not valid texts.
    texts : list of TextIn
        The valid texts, in order.
    X : ndarray of shape (len(texts), dimension)
        Their embeddings (a row of zeros where ``errors`` names the text).
    errors : dict of int to str
        Texts that could not be embedded, by position in ``texts``: why.
    """

    messages: Sequence[Any]
    letters: list[Outgoing]
    texts: list[TextIn]
    X: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)


def classify(
    messages: Sequence[Any],
    embedder: Embedder,
    engine: StreamEngine,
    max_text_chars: int = MAX_TEXT_CHARS,
    truncate: bool = False,
) -> list[Outgoing]:
    """The whole step for one batch of raw messages, in order: dead letters first, then per text its
    prediction and its next record (:func:`embed`, then :func:`decide`).

    A text longer than ``max_text_chars`` is dead-lettered, or with ``truncate`` cut to that length.
    When embedding or scoring the batch fails, each text is tried alone; a text that still fails ends
    as an unresolved result naming the error, so no id is lost.
    """
    return decide(embed(messages, embedder, max_text_chars, truncate), engine)


def embed(
    messages: Sequence[Any], embedder: Embedder, max_text_chars: int = MAX_TEXT_CHARS, truncate: bool = False
) -> EmbeddedBatch:
    """Read the texts of ``messages`` (dead letters for the others) and embed them in one call; when
    that fails, each text alone (one that still fails is named in ``errors``)."""
    texts: list[TextIn] = []
    letters: list[Outgoing] = []
    for message in messages:
        text, letter = _read_text(message, max_text_chars, truncate)
        if letter is not None:
            letters.append(letter)
        elif text is not None:
            texts.append(text)
    if not texts:
        return EmbeddedBatch(messages, letters, texts, np.zeros((0, 0), dtype=np.float32))
    try:
        return EmbeddedBatch(messages, letters, texts, _vectors([t.text for t in texts], embedder))
    except Exception as exc:  # one bad text must not take its batch with it: isolate it
        log.warning("embedding a batch of %d failed (%r); retrying one by one", len(texts), exc)
    rows: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    for i, text in enumerate(texts):
        try:
            rows[i] = _vectors([text.text], embedder)[0]
        except Exception as exc:
            errors[i] = f"classification failed: {exc!r}"
    width = len(next(iter(rows.values()))) if rows else 0
    X = np.zeros((len(texts), width), dtype=np.float32)
    for i, row in rows.items():
        X[i] = row
    return EmbeddedBatch(messages, letters, texts, X, errors)


def decide(batch: EmbeddedBatch, engine: StreamEngine) -> list[Outgoing]:
    """The records of an embedded batch, in order: its dead letters, then per text its prediction and
    its next record. When the engine fails on the batch, each text is decided alone; a text that still
    fails (or could not be embedded) ends as an unresolved result naming the error."""
    out = list(batch.letters)
    if not batch.texts:
        return out
    if not batch.errors:
        try:
            return out + _records(batch.texts, batch.X, engine)
        except Exception as exc:  # one bad text must not take its batch with it: isolate it
            log.warning("classifying a batch of %d failed (%r); retrying one by one", len(batch.texts), exc)
    for i, text in enumerate(batch.texts):
        error = batch.errors.get(i)
        if error is None:
            try:
                out += _records([text], batch.X[i : i + 1], engine)
                continue
            except Exception as exc:
                error = f"classification failed: {exc!r}"
        out.append(keyed("labels", text.id, _result(text, None, "unresolved", (), engine.version, error)))
    return out


def _vectors(strings: list[str], embedder: Embedder) -> np.ndarray:
    X = np.asarray(embedder.encode(strings), dtype=np.float32)
    if X.shape[0] != len(strings):
        raise ValueError(f"the embedder returned {X.shape[0]} vectors for {len(strings)} texts")
    return X


def _read_text(message: Any, max_chars: int, truncate: bool) -> tuple[TextIn | None, Outgoing | None]:
    """The message's text within ``max_chars`` characters (cut, with ``truncate``), or its dead letter."""
    text, letter = decode_or_dead_letter(TextIn, message, "classify")
    if text is None and truncate:
        text = _cut(message.value, max_chars)  # over the schema's own limit; None: another defect
    if text is None:
        return None, letter
    if len(text.text) <= max_chars:
        return text, None
    if truncate:
        return replace(text, text=text.text[:max_chars]), None
    reason = (
        f"text of {len(text.text)} characters is longer than the {max_chars} character limit "
        "(--max-text-chars; --truncate-texts cuts it instead)"
    )
    return None, dead_letter(message, reason, "classify")


def _cut(value: Any, max_chars: int) -> TextIn | None:
    """The text record of ``value`` with its text cut to ``max_chars``, when only its length was wrong."""
    if not isinstance(value, bytes | str) or len(value) > MAX_RECORD_BYTES:
        return None
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):  # invalid JSON or UTF-8, a 5,000-digit integer, deep nesting
        return None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str) or len(data["text"]) <= max_chars:
        return None
    try:
        return from_dict(TextIn, {**data, "text": data["text"][:max_chars]})
    except RecordError:
        return None


def _records(texts: Sequence[TextIn], X: np.ndarray, engine: StreamEngine) -> list[Outgoing]:
    strings = [t.text for t in texts]
    out: list[Outgoing] = []
    for text, x, decision in zip(texts, X, engine.decide(X, strings), strict=True):
        candidates = tuple(Candidate(c.label, c.p) for c in decision.candidates)
        nxt = _next_record(text, x, decision, candidates, engine.version)
        prediction = Prediction(
            id=text.id,
            text=text.text,
            candidates=list(candidates),
            uncertainty=decision.uncertainty,
            route=decision.action.value,
            model_version=engine.version,
            reason=decision.reason,
            metadata=text.metadata,
        )
        out.append(keyed("predictions", text.id, prediction))
        out.append(keyed("labels" if isinstance(nxt, LabelResult) else "judge_requests", text.id, nxt))
    return out


def _next_record(
    text: TextIn, x: np.ndarray, decision: Decision, candidates: tuple[Candidate, ...], version: str
) -> LabelResult | JudgeRequest:
    if decision.action is Action.ASK:
        return JudgeRequest(
            id=text.id,
            text=text.text,
            candidates=list(candidates),
            contexts=[LabelContext(c.label, c.description, list(c.examples)) for c in decision.contexts],
            index=0,
            uncertainty=decision.uncertainty,
            model_version=version,
            metadata=text.metadata,
            embedding=encode_embedding(x),
        )
    if decision.action is Action.ACCEPT:
        return _result(text, decision.label, "accepted", candidates, version, "", decision.confidence)
    return _result(text, None, "unresolved", candidates, version, decision.reason, decision.confidence)


def _result(
    text: TextIn,
    label: str | None,
    status: str,
    candidates: tuple[Candidate, ...],
    version: str,
    reason: str,
    confidence: float = 0.0,
) -> LabelResult:
    return LabelResult(
        id=text.id,
        text=text.text,
        label=label,
        status=status,  # type: ignore[arg-type]
        confidence=confidence,
        candidates=list(candidates),
        model_version=version,
        reason=reason[:500],
        metadata=text.metadata,
    )
