"""Records <-> compact UTF-8 JSON and JSON Schema (draft 2020-12), all done by pydantic.

:func:`decode` raises only :class:`~redline.errors.RecordError`, with a one-line reason, for any input:
invalid UTF-8, a lone surrogate escape anywhere, integers past 4300 digits, nesting deeper than 200,
more than ``MAX_RECORD_BYTES``, non-object JSON, wrong types and broken record rules. :func:`encode`
writes fields in declaration order, so ``encode(decode(encode(r))) == encode(r)``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError
from pydantic.dataclasses import is_pydantic_dataclass
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticSerializationError, SchemaSerializer, SchemaValidator

from redline.errors import RecordError
from redline.schemas.fields import MAX_RECORD_BYTES, validation_reason
from redline.schemas.records import RECORD_BY_TOPIC

R = TypeVar("R")

_JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SCHEMA_ID_BASE = "https://redline.dev/schemas/"
_SURROGATE_HINT = " (a \\ud800-\\udfff escape must be half of a surrogate pair)"


def _validator(cls: type) -> SchemaValidator:
    validator = getattr(cls, "__pydantic_validator__", None) if is_pydantic_dataclass(cls) else None
    if not isinstance(validator, SchemaValidator):
        raise RecordError(f"{getattr(cls, '__name__', cls)!r} is not a record type")
    return validator


def _serializer(record: object) -> SchemaSerializer:
    serializer = getattr(type(record), "__pydantic_serializer__", None)
    if not is_pydantic_dataclass(type(record)) or not isinstance(serializer, SchemaSerializer):
        raise RecordError(f"not a record: {type(record).__name__}")
    return serializer


def encode(record: Any) -> bytes:
    """The record as compact UTF-8 JSON bytes (RecordError when it holds text that is not UTF-8)."""
    try:
        return _serializer(record).to_json(record, warnings="error")
    except (PydanticSerializationError, ValueError) as exc:
        name = type(record).__name__
        if "surrogate" in str(exc):
            raise RecordError(f"{name} holds a string with a lone surrogate: not writable as UTF-8") from None
        raise RecordError(f"{name} cannot be written as JSON: {str(exc)[:200]}") from None


def to_dict(record: Any) -> dict[str, Any]:
    """The record as plain JSON-ready data (nested records become dicts)."""
    return cast(dict[str, Any], _serializer(record).to_python(record, mode="json"))


def decode(cls: type[R], raw: bytes | bytearray | memoryview | str | None) -> R:
    """Parse JSON into record ``cls``; any defect of ``raw`` raises RecordError with the reason."""
    validator = _validator(cls)
    if raw is None:
        raise RecordError("empty message (no value)")
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes | str):
        raise RecordError(f"a message is bytes or text, not {type(raw).__name__}")
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordError(f"message of {len(raw)} bytes is larger than the {MAX_RECORD_BYTES} byte limit")
    if not raw or raw.isspace():
        raise RecordError("empty message")
    try:
        record = validator.validate_json(raw)
    except ValidationError as exc:
        raise RecordError(_decode_reason(raw, exc)) from None
    except (ValueError, RecursionError) as exc:  # not seen from pydantic; kept so nothing else escapes
        raise RecordError(f"{cls.__name__} could not be read: {str(exc)[:200]}") from None
    return record  # type: ignore[no-any-return]


def _decode_reason(raw: bytes | str, exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        if isinstance(raw, bytes):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return f"not UTF-8: {err.reason} at byte {err.start}"
        detail = str((first.get("ctx") or {}).get("error", first["msg"]))
        hint = _SURROGATE_HINT if "surrogate" in detail or "hex escape" in detail else ""
        return f"invalid JSON: {detail}{hint}"
    if first["type"] == "string_unicode":
        return "not valid text: the message holds a lone surrogate"
    return validation_reason(None, exc)


def from_dict(cls: type[R], data: Any) -> R:
    """Build record ``cls`` from decoded JSON data, exactly as :func:`decode` of ``json.dumps(data)``."""
    _validator(cls)
    try:
        text = json.dumps(data, ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise RecordError(f"{cls.__name__}: not JSON data: {str(exc)[:200]}") from None
    return decode(cls, text)


class _RecordSchema(GenerateJsonSchema):
    """pydantic's JSON Schema without a title on every property (the property name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema(cls: type, *, topic: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of record ``cls``; ``topic`` defaults to the topic it is on."""
    _validator(cls)
    if topic is None:
        topic = next((f"redline.{t}" for t, c in RECORD_BY_TOPIC.items() if c is cls), None)
    body = TypeAdapter(cls).json_schema(schema_generator=_RecordSchema)
    schema: dict[str, Any] = {
        "$schema": _JSON_SCHEMA_DIALECT,
        "$id": f"{_SCHEMA_ID_BASE}{topic or cls.__name__}.schema.json",
        "title": cls.__name__,
    }
    if topic:
        schema["x-redline-topic"] = topic
    schema.update({k: v for k, v in body.items() if k != "title"})
    return schema
