"""One typed, versioned record per topic.

Every record carries ``schema_version``; a reader accepts versions up to
:data:`SCHEMA_VERSION` and rejects newer ones with a clear reason (they may carry meaning it
cannot honour). Unknown extra fields are ignored, so adding an optional field is not a breaking
change. Records are frozen dataclasses; :mod:`redline.schemas.codec` turns them into JSON bytes
and JSON Schema files (``redline/schemas/json/*.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from redline.errors import RecordError

#: the version of every record layout this code writes and the newest it reads
SCHEMA_VERSION = 1

#: longest text accepted on ``redline.texts`` (characters)
MAX_TEXT_CHARS = 20_000

Status = Literal["accepted", "validated", "corrected", "unresolved", "judge_unavailable"]
Route = Literal["accept", "judge", "unresolved"]

Scalar = str | int | float | bool | None


_VERSION_SCHEMA: dict[str, object] = {"minimum": 1, "maximum": SCHEMA_VERSION}
_ID_SCHEMA: dict[str, object] = {"minLength": 1, "maxLength": 256, "pattern": "\\S"}
_PROB_SCHEMA: dict[str, object] = {"minimum": 0.0, "maximum": 1.0}


def _check_version(record: object, version: int) -> None:
    if version < 1 or version > SCHEMA_VERSION:
        raise RecordError(
            f"{type(record).__name__}.schema_version {version} is not supported "
            f"(this reader knows 1..{SCHEMA_VERSION})"
        )


def _check_id(record_id: str, what: str = "id") -> None:
    if not record_id.strip():
        raise RecordError(f"{what} must be a non-empty string")
    if len(record_id) > 256:
        raise RecordError(f"{what} is longer than 256 characters")


def _check_probability(value: float, what: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise RecordError(f"{what} must lie in [0, 1], got {value}")


@dataclass(frozen=True)
class TextIn:
    """A text to classify, produced to ``redline.texts`` by anyone.

    ``id`` is the caller's key: exactly one :class:`LabelResult` with this id appears on
    ``redline.labels``. ``metadata`` is copied unchanged onto the result.
    """

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {
        "id": _ID_SCHEMA,
        "text": {"minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": "\\S"},
        "schema_version": _VERSION_SCHEMA,
    }

    id: str
    text: str
    metadata: dict[str, Scalar] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def validate(self) -> None:
        """Raise :class:`RecordError` when the record cannot be classified."""
        _check_version(self, self.schema_version)
        _check_id(self.id)
        if not self.text.strip():
            raise RecordError("text must be a non-empty string")
        if len(self.text) > MAX_TEXT_CHARS:
            raise RecordError(f"text is longer than {MAX_TEXT_CHARS} characters ({len(self.text)})")


@dataclass(frozen=True)
class Candidate:
    """A label and the model's probability for it."""

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {"p": _PROB_SCHEMA}

    label: str
    p: float


@dataclass(frozen=True)
class Prediction:
    """The model's view of one text (``redline.predictions``) and the route the policy chose."""

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {
        "id": _ID_SCHEMA,
        "schema_version": _VERSION_SCHEMA,
    }

    id: str
    text: str
    candidates: list[Candidate]
    uncertainty: float
    route: Route
    model_version: str
    reason: str = ""
    metadata: dict[str, Scalar] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def validate(self) -> None:
        """Raise :class:`RecordError` on an impossible prediction."""
        _check_version(self, self.schema_version)
        _check_id(self.id)
        for c in self.candidates:
            _check_probability(c.p, "candidate probability")


@dataclass(frozen=True)
class LabelContext:
    """What the judge is shown about one candidate label."""

    label: str
    description: str = ""
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JudgeAttempt:
    """One yes/no question already asked about a text, and the answer."""

    label: str
    valid: bool | None
    p_yes: float | None = None
    reason: str = ""
    cached: bool = False
    latency_ms: float = 0.0
    cost: float = 0.0


@dataclass(frozen=True)
class JudgeRequest:
    """Ask the judge about candidate ``index`` of ``candidates`` (``redline.judge.requests``).

    The request carries everything needed to continue (candidates, their contexts, the answers
    so far), so the judge and resolver agents keep no state between messages.
    """

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {
        "id": _ID_SCHEMA,
        "index": {"minimum": 0},
        "schema_version": _VERSION_SCHEMA,
    }

    id: str
    text: str
    candidates: list[Candidate]
    contexts: list[LabelContext]
    index: int
    uncertainty: float
    model_version: str
    attempts: list[JudgeAttempt] = field(default_factory=list)
    metadata: dict[str, Scalar] = field(default_factory=dict)
    embedding: str = ""
    schema_version: int = SCHEMA_VERSION

    def validate(self) -> None:
        """Raise :class:`RecordError` when the request does not point at a candidate."""
        _check_version(self, self.schema_version)
        _check_id(self.id)
        if not 0 <= self.index < len(self.candidates):
            raise RecordError(f"index {self.index} is outside the {len(self.candidates)} candidates")
        if len(self.contexts) != len(self.candidates):
            raise RecordError("contexts must align with candidates")

    @property
    def label(self) -> str:
        """The candidate label this request asks about."""
        return self.candidates[self.index].label


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge's answer to a :class:`JudgeRequest` (``redline.judge.verdicts``)."""

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {"schema_version": _VERSION_SCHEMA}

    request: JudgeRequest
    attempt: JudgeAttempt
    judge: str
    schema_version: int = SCHEMA_VERSION

    def validate(self) -> None:
        """Raise :class:`RecordError` when the verdict answers another question than asked."""
        _check_version(self, self.schema_version)
        if self.attempt.label != self.request.label:
            raise RecordError("verdict label differs from the requested candidate")


@dataclass(frozen=True)
class JudgeInfo:
    """How the judge took part in a result."""

    judge: str
    calls: int
    attempts: list[JudgeAttempt] = field(default_factory=list)
    cost: float = 0.0


@dataclass(frozen=True)
class LabelResult:
    """The one final answer for a text id (``redline.labels``).

    ``status``: *accepted* (model confident), *validated* (judge said yes to the model's top
    label), *corrected* (judge said yes to a lower-ranked candidate), *unresolved* (no label:
    every candidate rejected, the judge failed, or no judge was available; ``reason`` says which).
    ``confidence`` is the model's probability of ``label`` (of the top candidate when unresolved).
    """

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {
        "id": _ID_SCHEMA,
        "confidence": _PROB_SCHEMA,
        "schema_version": _VERSION_SCHEMA,
    }

    id: str
    text: str
    label: str | None
    status: Status
    confidence: float
    candidates: list[Candidate]
    model_version: str
    judge: JudgeInfo | None = None
    reason: str = ""
    metadata: dict[str, Scalar] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def validate(self) -> None:
        """Raise :class:`RecordError` when label and status disagree."""
        _check_version(self, self.schema_version)
        _check_id(self.id)
        _check_probability(self.confidence, "confidence")
        if (self.label is None) != (self.status in ("unresolved", "judge_unavailable")):
            raise RecordError(f"status {self.status!r} does not fit label {self.label!r}")


@dataclass(frozen=True)
class ControlCommand:
    """An operator's command (``redline.control``); today: add a label at run time."""

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {
        "id": _ID_SCHEMA,
        "label": {"minLength": 1, "pattern": "\\S"},
        "examples": {"minItems": 2},
        "schema_version": _VERSION_SCHEMA,
    }

    id: str
    command: Literal["add_label"]
    label: str
    description: str = ""
    examples: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def validate(self) -> None:
        """Raise :class:`RecordError` on a command that cannot be applied."""
        _check_version(self, self.schema_version)
        _check_id(self.id)
        if not self.label.strip():
            raise RecordError("label must be a non-empty string")
        if self.command == "add_label" and len([e for e in self.examples if e.strip()]) < 2:
            raise RecordError("add_label needs at least 2 non-empty examples")


@dataclass(frozen=True)
class Event:
    """What happened to a command or the model (``redline.events``)."""

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {"schema_version": _VERSION_SCHEMA}

    id: str
    kind: Literal["applied", "rejected", "info"]
    subject: str
    reason: str = ""
    command_id: str | None = None
    model_version: str | None = None
    at: float = 0.0
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be processed (``redline.deadletter``), kept byte for byte.

    ``original_b64`` is the message value base64-encoded (empty for a message without a value);
    ``id`` is the text id when it could still be read from the bad message.
    """

    __field_schema__: ClassVar[dict[str, dict[str, object]]] = {"schema_version": _VERSION_SCHEMA}

    reason: str
    topic: str
    partition: int
    offset: int
    original_b64: str
    key_b64: str | None = None
    id: str | None = None
    stage: str = ""
    at: float = 0.0
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def of(
        cls,
        value: bytes | str | None,
        key: bytes | str | None,
        *,
        reason: str,
        topic: str,
        partition: int,
        offset: int,
        stage: str,
        at: float,
        id: str | None,
    ) -> DeadLetter:
        """The dead letter of a message's raw value and key."""
        import base64

        def b64(raw: bytes | str) -> str:
            data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
            return base64.b64encode(data).decode("ascii")

        return cls(
            reason=reason, topic=topic, partition=partition, offset=offset,
            original_b64=b64(value) if value is not None else "",
            key_b64=b64(key) if key is not None else None, id=id, stage=stage, at=at,
        )  # fmt: skip


#: the record each topic carries, by the topic's name without the ``redline.`` prefix
RECORD_BY_TOPIC: dict[str, type] = {
    "texts": TextIn,
    "predictions": Prediction,
    "labels": LabelResult,
    "judge.requests": JudgeRequest,
    "judge.verdicts": JudgeVerdict,
    "control": ControlCommand,
    "events": Event,
    "deadletter": DeadLetter,
}


def encode_embedding(vector: object) -> str:
    """A text's embedding as base64 of little-endian float32 (carried by judge requests)."""
    import base64

    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_embedding(value: str) -> object:
    """The float32 vector of :func:`encode_embedding` (RecordError when it is not one)."""
    import base64
    import binascii

    import numpy as np

    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise RecordError("embedding is not base64") from None
    if not raw or len(raw) % 4:
        raise RecordError("embedding is not a float32 vector")
    vec = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.isfinite(vec).all():
        raise RecordError("embedding holds NaN or infinity")
    return vec
