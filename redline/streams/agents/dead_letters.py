"""Turning a message that cannot be processed into a :class:`DeadLetter` (nothing is dropped)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from redline.schemas import DeadLetter


@dataclass(frozen=True)
class Outgoing:
    """One message an agent step wants sent: topic (a ``Topics`` field name), key and value bytes."""

    topic: str
    key: bytes | None
    value: bytes


def _b64(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return base64.b64encode(bytes(raw)).decode("ascii")


def guess_id(value: Any, key: Any) -> str | None:
    """The text id of a bad message when it can still be read (from the JSON value, else the key)."""
    try:
        data = json.loads(value) if value is not None else None
        if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"].strip():
            return str(data["id"])
        if isinstance(data, dict) and isinstance(data.get("request"), dict):
            rid = data["request"].get("id")
            if isinstance(rid, str) and rid.strip():
                return rid
    except (ValueError, TypeError):
        pass
    if isinstance(key, bytes | bytearray):
        try:
            text = bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            return None
        return text or None
    return None


def _int(value: Any) -> int:
    return -1 if value is None else int(value)


def dead_letter(message: Any, reason: str, *, stage: str) -> DeadLetter:
    """A dead letter for a Faust ``Message`` (anything with topic, partition, offset, key, value)."""
    value = getattr(message, "value", None)
    key = getattr(message, "key", None)
    return DeadLetter(
        reason=reason,
        topic=str(getattr(message, "topic", "")),
        partition=_int(getattr(message, "partition", None)),
        offset=_int(getattr(message, "offset", None)),
        original_b64=_b64(value),
        key_b64=_b64(key) if key is not None else None,
        id=guess_id(value, key),
        stage=stage,
        at=time.time(),
    )
