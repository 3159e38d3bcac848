"""Typed records <-> plain JSON, and their JSON Schema, from one source of truth.

Every record on a redline topic is a frozen dataclass (see :mod:`redline.schemas.records`).
This module converts such a dataclass to and from JSON bytes with strict validation on
the way in, and derives a JSON Schema (draft 2020-12) from the same type hints, so the
schema files that consumers in other languages read can never disagree with the code.

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Literal[...]``,
``X | None``, ``list[T]``, ``dict[str, T]`` and nested record dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from redline.errors import RecordError

R = TypeVar("R")

#: JSON scalar types allowed in free-form ``metadata`` maps
Scalar = str | int | float | bool | None

_JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SCHEMA_ID_BASE = "https://redline.dev/schemas/"


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` (decoded JSON) against ``tp`` and build the typed value."""
    if tp is Any:
        return value
    if tp is type(None) or tp is None:
        if value is not None:
            raise RecordError(f"{path}: expected null, got {_type_name(value)}")
        return None
    if _is_union(tp):
        errors = []
        for option in get_args(tp):
            try:
                return _convert(value, option, path)
            except RecordError as exc:
                errors.append(str(exc))
        raise RecordError(f"{path}: {_type_name(value)} matches none of the allowed types")
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp) or isinstance(value, bool) != any(
            isinstance(a, bool) for a in get_args(tp)
        ):
            allowed = ", ".join(repr(a) for a in get_args(tp))
            raise RecordError(f"{path}: {value!r} is not one of {allowed}")
        return value
    if origin is list or origin is tuple:
        if not isinstance(value, list):
            raise RecordError(f"{path}: expected an array, got {_type_name(value)}")
        (item_tp,) = get_args(tp)[:1]
        return [_convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or origin is Mapping:
        if not isinstance(value, dict):
            raise RecordError(f"{path}: expected an object, got {_type_name(value)}")
        _, val_tp = get_args(tp)
        return {str(k): _convert(v, val_tp, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise RecordError(f"{path}: expected a boolean, got {_type_name(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(f"{path}: expected an integer, got {_type_name(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordError(f"{path}: expected a number, got {_type_name(value)}")
        if not math.isfinite(value):
            raise RecordError(f"{path}: expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise RecordError(f"{path}: expected a string, got {_type_name(value)}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, path=path)
    raise TypeError(f"unsupported field type {tp!r} at {path}")  # a programming error, not bad input


def from_dict(cls: type[R], data: Any, *, path: str = "$") -> R:
    """Build record ``cls`` from decoded JSON, validating every field.

    Unknown fields are ignored (forward compatibility); missing required fields, wrong
    types and values rejected by the record's own ``validate()`` raise :class:`RecordError`.
    """
    if not isinstance(data, dict):
        raise RecordError(f"{path}: expected an object, got {_type_name(data)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _convert(data[f.name], hints[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{path}: missing required field {f.name!r}")
    record = cls(**kwargs)
    validate = getattr(record, "validate", None)
    if validate is not None:
        validate()
    return record


def to_dict(record: Any) -> dict[str, Any]:
    """The record as plain JSON-ready data (nested records become objects)."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"not a record: {record!r}")
    return _plain(record)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def encode(record: Any) -> bytes:
    """Serialise a record to compact UTF-8 JSON bytes."""
    return json.dumps(to_dict(record), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def decode(cls: type[R], raw: bytes | str | None) -> R:
    """Parse JSON bytes into record ``cls``; any defect raises :class:`RecordError` with the reason."""
    if raw is None:
        raise RecordError("empty message (no value)")
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    else:
        text = raw
    if not text.strip():
        raise RecordError("empty message")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return from_dict(cls, data)


# --------------------------------------------------------------------------- JSON Schema


def _schema_for(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if _is_union(tp):
        options = [_schema_for(a, defs) for a in get_args(tp)]
        return {"anyOf": options}
    origin = get_origin(tp)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is list or origin is tuple:
        return {"type": "array", "items": _schema_for(get_args(tp)[0], defs)}
    if origin is dict or origin is Mapping:
        return {"type": "object", "additionalProperties": _schema_for(get_args(tp)[1], defs)}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"unsupported field type {tp!r}")


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        prop = _schema_for(hints[f.name], defs)
        extra = getattr(cls, "__field_schema__", {}).get(f.name)
        if extra:
            prop = {**prop, **extra}
        if f.default is not dataclasses.MISSING:
            prop["default"] = f.default
        props[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    if doc:
        schema["description"] = " ".join(doc.split())
    return schema


def json_schema(cls: type, *, topic: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of record ``cls``, derived from its type hints."""
    defs: dict[str, Any] = {}
    body = _object_schema(cls, defs)
    defs.pop(cls.__name__, None)
    schema: dict[str, Any] = {
        "$schema": _JSON_SCHEMA_DIALECT,
        "$id": f"{_SCHEMA_ID_BASE}{cls.__name__}.json",
        "title": cls.__name__,
    }
    if topic:
        schema["x-redline-topic"] = topic
    schema.update(body)
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema
