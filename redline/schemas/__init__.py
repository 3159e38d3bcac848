"""Typed, versioned records for every redline topic, their JSON codec and JSON Schema files."""

from __future__ import annotations

from redline.schemas.codec import decode, encode, from_dict, json_schema, to_dict
from redline.schemas.export import SCHEMA_DIR, export_schemas, render_schemas
from redline.schemas.records import (
    RECORD_BY_TOPIC,
    SCHEMA_VERSION,
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
    TextIn,
    decode_embedding,
    encode_embedding,
)

__all__ = [
    "RECORD_BY_TOPIC",
    "SCHEMA_DIR",
    "SCHEMA_VERSION",
    "Candidate",
    "ControlCommand",
    "DeadLetter",
    "Event",
    "JudgeAttempt",
    "JudgeInfo",
    "JudgeRequest",
    "JudgeVerdict",
    "LabelContext",
    "LabelResult",
    "Prediction",
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
