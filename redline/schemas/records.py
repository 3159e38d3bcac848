"""One typed, versioned record per topic (the operator's records are in :mod:`.operations`).

Library: pydantic v2 (dataclasses in strict mode), chosen over msgspec by ``benchmarks/bench_codec.py``
(Python 3.11, pydantic 2.14 / msgspec 0.23, the same mirror records in both, on the shared 2-core dev
machine). msgspec decodes 1.6-3.5x faster (TextIn 638k vs 398k records/s, JudgeRequest with 5
candidates and contexts 190k vs 71k, LabelResult 337k vs 98k), but these records through pydantic
(216k / 43k / 78k, with every rule) are 38-110x faster than the hand-written codec they replace
(5.6k / 0.6k / 0.7k) and far above what a worker that embeds every text can use. Its errors are as
clear on the eight defective inputs, and all stay inside its own error type where msgspec let a
``RecursionError`` escape on 2000 nested brackets; it validates records built in code (msgspec checks
constraints only when decoding); it writes draft 2020-12 JSON Schema with our constraints; it is
already installed (openai depends on it) and named by the developers' guide.

Every record carries ``schema_version``; a reader accepts 1..:data:`SCHEMA_VERSION` and rejects newer
ones with a clear reason (they may carry meaning it cannot honour). Unknown extra fields are ignored, so
adding an optional field is not a breaking change. Records are frozen; build a changed copy with
``dataclasses.replace(record, field=value)`` (validated again). :mod:`redline.schemas.codec` turns them
into JSON bytes and JSON Schema files (``redline/schemas/json/*.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import ConfigDict, Field, model_validator

from redline.schemas.fields import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    RECORD_CONFIG,
    SCHEMA_VERSION,
    EmbeddingB64,
    Id,
    Metadata,
    Probability,
    Scalar,
    Text,
    Version,
    record,
    rule_error,
)
from redline.schemas.operations import ControlCommand, DeadLetter, Event

__all__ = [
    "EXAMPLE_SOURCES",
    "MAX_TEXT_CHARS",
    "RECORD_BY_TOPIC",
    "SCHEMA_VERSION",
    "STATUSES",
    "Candidate",
    "ControlCommand",
    "DeadLetter",
    "Event",
    "ExampleRecord",
    "ExampleSource",
    "JudgeAttempt",
    "JudgeInfo",
    "JudgeRequest",
    "JudgeVerdict",
    "LabelContext",
    "LabelResult",
    "Prediction",
    "PredictionRoute",
    "Scalar",
    "Status",
    "TextIn",
]

Status = Literal["accepted", "validated", "corrected", "unresolved", "judge_unavailable"]
#: every status of a :class:`LabelResult`, in order (the labelled ones first)
STATUSES: tuple[str, ...] = get_args(Status)
#: the statuses of a result without a label
UNLABELLED: tuple[str, ...] = ("unresolved", "judge_unavailable")

PredictionRoute = Literal["accept", "judge", "unresolved"]

ExampleSource = Literal["seed", "validated", "corrected", "control"]
#: where a labelled example came from: the fitted seed set, a judge-confirmed result, an operator
EXAMPLE_SOURCES: tuple[str, ...] = get_args(ExampleSource)


@record
class TextIn:
    """A text to classify, produced to ``redline.texts`` by anyone.

    ``id`` is the caller's key: exactly one LabelResult with this id appears on ``redline.labels``.
    ``metadata`` is copied unchanged onto the result.
    """

    id: Id
    text: Text
    metadata: Metadata = field(default_factory=dict)
    schema_version: Version = SCHEMA_VERSION


@record
class Candidate:
    """A label and the model's probability for it."""

    label: str
    p: Probability


@record
class Prediction:
    """The model's view of one text (``redline.predictions``) and the route the policy chose."""

    id: Id
    text: Text
    candidates: list[Candidate]
    uncertainty: float
    route: PredictionRoute
    model_version: str
    reason: str = ""
    metadata: Metadata = field(default_factory=dict)
    schema_version: Version = SCHEMA_VERSION


@record
class LabelContext:
    """What the judge is shown about one candidate label."""

    label: str
    description: str = ""
    examples: list[str] = field(default_factory=list)


@record
class JudgeAttempt:
    """One yes/no question already asked about a text, and the answer (``valid`` None: no answer)."""

    label: str
    valid: bool | None
    p_yes: float | None = None
    reason: str = ""
    cached: bool = False
    latency_ms: float = 0.0
    cost: float = 0.0


@record
class JudgeRequest:
    """Ask the judge about candidate ``index`` of ``candidates`` (``redline.judge.requests``).

    The request carries everything needed to continue (candidates, their contexts, the answers so far,
    the text's embedding as base64 of little-endian float32), so the judge and resolver keep no state
    between messages and the learner never embeds a text again.
    """

    id: Id
    text: Text
    candidates: list[Candidate]
    contexts: list[LabelContext]
    index: Annotated[int, Field(ge=0)]
    uncertainty: float
    model_version: str
    attempts: list[JudgeAttempt] = field(default_factory=list)
    metadata: Metadata = field(default_factory=dict)
    embedding: EmbeddingB64 = ""
    schema_version: Version = SCHEMA_VERSION

    @model_validator(mode="after")
    def _points_at_a_candidate(self) -> JudgeRequest:
        if self.index >= len(self.candidates):
            raise rule_error(f"index {self.index} is outside the {len(self.candidates)} candidates")
        if len(self.contexts) != len(self.candidates):
            raise rule_error(
                f"contexts must align with candidates ({len(self.contexts)} vs {len(self.candidates)})"
            )
        return self

    @property
    def label(self) -> str:
        """The candidate label this request asks about."""
        return self.candidates[self.index].label


@record
class JudgeVerdict:
    """The judge's answer to a JudgeRequest (``redline.judge.verdicts``)."""

    request: JudgeRequest
    attempt: JudgeAttempt
    judge: str
    schema_version: Version = SCHEMA_VERSION

    @model_validator(mode="after")
    def _answers_the_request(self) -> JudgeVerdict:
        if self.attempt.label != self.request.label:
            raise rule_error(
                f"verdict label {self.attempt.label!r} differs from the requested {self.request.label!r}"
            )
        return self


@record
class JudgeInfo:
    """How the judge took part in a result."""

    judge: str
    calls: Annotated[int, Field(ge=0)]
    attempts: list[JudgeAttempt] = field(default_factory=list)
    cost: float = 0.0


_LABEL_FITS_STATUS: Mapping[str, Any] = MappingProxyType(
    {
        "if": {"properties": {"status": {"enum": list(UNLABELLED)}}},
        "then": {"properties": {"label": {"type": "null"}}},
        "else": {"properties": {"label": {"type": "string"}}},
    }
)


@record
class LabelResult:
    """The one final answer for a text id (``redline.labels``).

    ``status``: *accepted* (model confident), *validated* (judge said yes to the model's top label),
    *corrected* (judge said yes to a lower-ranked candidate), *unresolved* (no label: every candidate
    rejected or no judge configured; ``reason`` says which), *judge_unavailable* (no label: the judge
    could not answer after its retries; never learned). ``label`` is null exactly for the last two.
    ``confidence`` is the model's probability of ``label`` (of the top candidate without a label).
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        **RECORD_CONFIG, json_schema_extra={"allOf": [dict(_LABEL_FITS_STATUS)]}
    )

    id: Id
    text: Text
    label: str | None
    status: Status
    confidence: Probability
    candidates: list[Candidate]
    model_version: str
    judge: JudgeInfo | None = None
    reason: str = ""
    metadata: Metadata = field(default_factory=dict)
    schema_version: Version = SCHEMA_VERSION

    @model_validator(mode="after")
    def _label_fits_status(self) -> LabelResult:
        if (self.label is None) != (self.status in UNLABELLED):
            raise rule_error(f"status {self.status!r} does not fit label {self.label!r}")
        return self


@record
class ExampleRecord:
    """One labelled example of the training state (``redline.examples``, compacted, key = ``id``).

    Seed examples (``redline fit --publish``), judge-confirmed results (*validated* / *corrected*) and
    examples sent with ``add_label`` all land here, with the text's embedding (base64 of little-endian
    float32) and the embedder that computed it, so a worker rebuilds its training data without
    embedding anything again. A null value for a key (a tombstone) removes that example.
    """

    id: Id
    text: Text
    label: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"\S")]
    source: ExampleSource
    embedder: str
    embedding: EmbeddingB64
    model_version: str = ""
    at: float = 0.0
    schema_version: Version = SCHEMA_VERSION

    @model_validator(mode="after")
    def _has_an_embedding(self) -> ExampleRecord:
        if not self.embedding:
            raise rule_error("an example needs its embedding")
        return self


#: the record each topic carries, by the topic's name without the ``redline.`` prefix
RECORD_BY_TOPIC: Mapping[str, type] = MappingProxyType(
    {
        "texts": TextIn,
        "predictions": Prediction,
        "labels": LabelResult,
        "judge.requests": JudgeRequest,
        "judge.verdicts": JudgeVerdict,
        "control": ControlCommand,
        "events": Event,
        "examples": ExampleRecord,
        "deadletter": DeadLetter,
    }
)
