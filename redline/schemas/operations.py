"""The operator's records: commands (``redline.control``), events and dead letters."""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, JsonValue, WithJsonSchema, model_validator

from redline.schemas.fields import (
    MAX_CONTROL_EXAMPLES,
    MAX_DEAD_LETTER_BYTES,
    MAX_DEAD_LETTER_KEY_BYTES,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    RECORD_CONFIG,
    SCHEMA_VERSION,
    DeadKeyB64,
    DeadValueB64,
    Id,
    JsonObject,
    Sha256Hex,
    Version,
    record,
    rule_error,
)

CommandName = Literal["add_label", "update_description", "remove_label", "retrain", "set_policy"]
#: the commands that act on one label (``label`` must name it)
LABEL_COMMANDS: tuple[str, ...] = ("add_label", "update_description", "remove_label")

EventKind = Literal["applied", "rejected", "info", "drift", "recovered", "new_label_suggested", "model"]

#: the keys ``set_policy`` understands: JSON Schema of each value
POLICY_KEYS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "judge_share": {"type": "number", "minimum": 0, "maximum": 1},
        "threshold": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]},
        "max_candidates": {"type": "integer", "minimum": 1, "maximum": 50},
        "context_examples": {"type": "integer", "minimum": 0, "maximum": 20},
    }
)
#: a policy change: the keys of POLICY_KEYS with their values
Policy = Annotated[
    dict[str, int | float | None],
    WithJsonSchema({"type": "object", "properties": dict(POLICY_KEYS), "additionalProperties": False}),
]
Example = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


def _policy_problem(key: str, value: int | float | None) -> str | None:
    """Why ``value`` cannot be policy ``key`` (None when it can)."""
    if key not in POLICY_KEYS:
        return f"unknown policy key {key!r} (known: {', '.join(POLICY_KEYS)})"
    if key == "threshold" and value is None:
        return None
    if key in ("judge_share", "threshold"):
        if value is None or not math.isfinite(value) or not 0 <= value <= 1:
            return f"{key} must be a number in [0, 1]{' or null' if key == 'threshold' else ''}, got {value}"
        return None
    low, high = (1, 50) if key == "max_candidates" else (0, 20)
    if not isinstance(value, int) or not low <= value <= high:
        return f"{key} must be an integer in {low}..{high}, got {value}"
    return None


def _when(command: str | list[str], then: dict[str, Any]) -> dict[str, Any]:
    names = [command] if isinstance(command, str) else command
    return {"if": {"properties": {"command": {"enum": names}}}, "then": then}


_COMMAND_RULES: tuple[JsonValue, ...] = (
    _when(list(LABEL_COMMANDS), {"required": ["label"], "properties": {"label": {"pattern": r"\S"}}}),
    _when("add_label", {"required": ["examples"],
                        "properties": {"examples": {"contains": {"pattern": r"\S"}, "minContains": 2}}}),
    _when("set_policy", {"required": ["policy"], "properties": {"policy": {"minProperties": 1}}}),
    {"if": {"properties": {"command": {"not": {"const": "set_policy"}}}},
     "then": {"properties": {"policy": {"maxProperties": 0}}}},
)  # fmt: skip


@record
class ControlCommand:
    """An operator's command (``redline.control``).

    *add_label* (``label``, ``description``, at least 2 non-empty ``examples``), *update_description*
    and *remove_label* name a ``label``; *retrain* takes nothing; *set_policy* changes the routing
    ``policy`` (``judge_share`` in [0, 1], ``threshold`` in [0, 1] or null, ``max_candidates`` 1..50,
    ``context_examples`` 0..20).
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        **RECORD_CONFIG, json_schema_extra={"allOf": list(_COMMAND_RULES)}
    )

    id: Id
    command: CommandName
    label: str = ""
    description: str = ""
    examples: Annotated[list[Example], Field(max_length=MAX_CONTROL_EXAMPLES)] = field(default_factory=list)
    policy: Policy = field(default_factory=dict)
    schema_version: Version = SCHEMA_VERSION

    @model_validator(mode="after")
    def _can_be_applied(self) -> ControlCommand:
        if self.command in LABEL_COMMANDS and not self.label.strip():
            raise rule_error(f"{self.command} needs a non-empty label")
        if self.command == "add_label" and sum(1 for e in self.examples if e.strip()) < 2:
            raise rule_error("add_label needs at least 2 non-empty examples")
        if self.command == "set_policy":
            if not self.policy:
                raise rule_error(f"set_policy needs at least one of {', '.join(POLICY_KEYS)}")
            for key, value in self.policy.items():
                problem = _policy_problem(key, value)
                if problem:
                    raise rule_error(problem)
        elif self.policy:
            raise rule_error(f"policy is read only by set_policy, not by {self.command}")
        return self


@record
class Event:
    """What happened to a command or the model (``redline.events``).

    ``labels`` names the labels concerned (e.g. drifting ones); ``details`` is any JSON object.
    """

    id: Id
    kind: EventKind
    subject: str
    reason: str = ""
    command_id: str | None = None
    model_version: str | None = None
    at: float = 0.0
    labels: list[str] = field(default_factory=list)
    details: JsonObject = field(default_factory=dict)
    schema_version: Version = SCHEMA_VERSION


def _bounded(raw: bytes | bytearray | memoryview | str | None, limit: int) -> tuple[str, int, str, bool]:
    """(base64 of the first ``limit`` bytes, full size, hex SHA-256, truncated) of a raw value or key."""
    if raw is None:
        return "", 0, "", False
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    head = data[:limit]
    return (
        base64.b64encode(head).decode("ascii"),
        len(data),
        hashlib.sha256(data).hexdigest(),
        len(data) > limit,
    )


def _printable(text: str) -> str:
    """``text`` with any lone surrogate replaced by ``?``, so that the letter can always be encoded."""
    return text.encode("utf-8", "replace").decode("utf-8")


@record
class DeadLetter:
    """A message that could not be processed (``redline.deadletter``), bounded in size.

    ``original_b64`` is base64 of at most the first 65536 bytes of the message value (empty without a
    value); ``original_size`` and ``original_sha256`` describe the whole value and ``truncated`` says
    whether bytes were left out; ``key_*`` likewise for the key (first 1024 bytes, null without a key).
    ``id`` is the text id when it could still be read. Build one with :meth:`DeadLetter.of`.
    Version-1 letters carry the whole value and no size or hash (0 and "").
    """

    reason: str
    topic: str
    partition: int
    offset: int
    original_b64: DeadValueB64
    key_b64: DeadKeyB64 | None = None
    id: str | None = None
    stage: str = ""
    at: float = 0.0
    original_size: Annotated[int, Field(ge=0)] = 0
    original_sha256: Sha256Hex = ""
    truncated: bool = False
    key_size: Annotated[int, Field(ge=0)] = 0
    key_sha256: Sha256Hex = ""
    key_truncated: bool = False
    schema_version: Version = SCHEMA_VERSION

    @classmethod
    def of(
        cls,
        value: bytes | bytearray | memoryview | str | None,
        key: bytes | bytearray | memoryview | str | None,
        *,
        reason: str,
        topic: str,
        partition: int,
        offset: int,
        stage: str = "",
        at: float = 0.0,
        id: str | None = None,
    ) -> DeadLetter:
        """The dead letter of a message's raw ``value`` and ``key``: bounded, hashed, base64-encoded.

        A ``str`` value or key is taken as its UTF-8 bytes (lone surrogates kept); ``reason`` is cut to
        2000 characters and ``id`` to 256; lone surrogates in the text fields become ``?``.
        """
        value_b64, value_size, value_sha, value_cut = _bounded(value, MAX_DEAD_LETTER_BYTES)
        key_b64, key_size, key_sha, key_cut = _bounded(key, MAX_DEAD_LETTER_KEY_BYTES)
        return cls(
            reason=_printable(reason[:2000]), topic=_printable(topic), partition=partition, offset=offset,
            original_b64=value_b64, key_b64=key_b64 if key is not None else None,
            id=_printable(id[:MAX_ID_CHARS]) if id is not None else None, stage=_printable(stage), at=at,
            original_size=value_size, original_sha256=value_sha, truncated=value_cut,
            key_size=key_size, key_sha256=key_sha, key_truncated=key_cut,
        )  # fmt: skip
