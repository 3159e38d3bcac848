"""Typed, versioned records for every redline topic, their JSON codec and JSON Schema files (pydantic)."""

from __future__ import annotations

from redline.schemas.codec import decode, encode, from_dict, json_schema, to_dict
from redline.schemas.embedding import decode_embedding, encode_embedding
from redline.schemas.export import SCHEMA_DIR, export_schemas, render_schemas
from redline.schemas.fields import (
    MAX_CONTROL_EXAMPLES,
    MAX_DEAD_LETTER_BYTES,
    MAX_DEAD_LETTER_KEY_BYTES,
    MAX_EMBEDDING_DIM,
    MAX_RECORD_BYTES,
    MAX_TEXT_CHARS,
    SCHEMA_VERSION,
    Scalar,
)
from redline.schemas.operations import POLICY_KEYS, CommandName, EventKind
from redline.schemas.records import (
    RECORD_BY_TOPIC,
    STATUSES,
    Candidate,
    ControlCommand,
    DeadLetter,
    Event,
    JudgeAttempt,
    JudgeInfo,
    JudgeRequest,
    JudgeVerdict,
    LabelContext,
    LabelResult,
    Prediction,
    PredictionRoute,
    Status,
    TextIn,
)

__all__ = [
    "MAX_CONTROL_EXAMPLES",
    "MAX_DEAD_LETTER_BYTES",
    "MAX_DEAD_LETTER_KEY_BYTES",
    "MAX_EMBEDDING_DIM",
    "MAX_RECORD_BYTES",
    "MAX_TEXT_CHARS",
    "POLICY_KEYS",
    "RECORD_BY_TOPIC",
    "SCHEMA_DIR",
    "SCHEMA_VERSION",
    "STATUSES",
    "Candidate",
    "CommandName",
    "ControlCommand",
    "DeadLetter",
    "Event",
    "EventKind",
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
    "decode",
    "decode_embedding",
    "encode",
    "encode_embedding",
    "export_schemas",
    "from_dict",
    "json_schema",
    "render_schemas",
    "to_dict",
]
