"""The raw-message edge of every agent: decode a Kafka message or dead-letter it; what to send.

Topics carry raw bytes; each agent decodes with :mod:`redline.schemas` itself, so a message that
does not decode becomes one :class:`~redline.schemas.DeadLetter` (reason + the original bytes)
instead of a crashed agent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, TypeVar

from redline.errors import RecordError
from redline.schemas import DeadLetter, decode, encode

R = TypeVar("R")


@dataclass(frozen=True)
class Outgoing:
    """One message a step wants sent: ``topic`` (a :class:`~redline.streams.topics.Topics` field
    name), key and value bytes; ``status``: a result's status, so that counting the results sent need
    not decode what was just encoded."""

    topic: str
    key: bytes | None
    value: bytes
    status: str = ""


def keyed(topic: str, record_id: str, record: Any) -> Outgoing:
    """An :class:`Outgoing` of ``record`` keyed by its text id (all records of one id share a partition)."""
    status = getattr(record, "status", "")
    return Outgoing(
        topic, record_id.encode("utf-8"), encode(record), status if isinstance(status, str) else ""
    )


def decode_or_dead_letter(
    record_type: type[R], message: Any, stage: str
) -> tuple[R, None] | tuple[None, Outgoing]:
    """``(record, None)`` when ``message.value`` decodes to ``record_type``, else ``(None, dead letter)``."""
    try:
        return decode(record_type, message.value), None
    except RecordError as exc:
        return None, dead_letter(message, str(exc), stage)


def dead_letter(message: Any, reason: str, stage: str) -> Outgoing:
    """The dead letter of a Faust ``Message`` (anything with topic, partition, offset, key, value)."""
    value = getattr(message, "value", None)
    key = getattr(message, "key", None)
    letter = DeadLetter.of(
        value,
        key,
        reason=reason,
        topic=str(getattr(message, "topic", "")),
        partition=_int(getattr(message, "partition", None)),
        offset=_int(getattr(message, "offset", None)),
        stage=stage,
        at=time.time(),
        id=_guess_id(value, key),
    )
    return Outgoing("deadletter", key if isinstance(key, bytes) else None, encode(letter))


def _int(value: Any) -> int:
    return -1 if value is None else int(value)


def _utf8(text: str) -> bool:
    """False for a string holding a lone surrogate (a JSON ``"\\ud800"`` escape): not encodable."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _guess_id(value: Any, key: Any) -> str | None:
    """The text id of a bad message when it can still be read (from the JSON value, else the key)."""
    try:
        data = json.loads(value) if isinstance(value, bytes | str) and len(value) < 1_000_000 else None
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        found = data.get("id")
        if not isinstance(found, str) and isinstance(data.get("request"), dict):
            found = data["request"].get("id")
        if isinstance(found, str) and found.strip() and len(found) <= 256 and _utf8(found):
            return found
    if isinstance(key, bytes | bytearray):
        try:
            text = bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            return None
        return text if text.strip() and len(text) <= 256 else None
    return None
