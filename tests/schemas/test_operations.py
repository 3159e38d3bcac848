"""Control commands, events and dead letters: their rules, and the bounded dead letter."""

from __future__ import annotations

import base64
import hashlib
import json

import jsonschema
import pytest
from schema_examples import schema_of

from redline.errors import RecordError
from redline.schemas import (
    MAX_CONTROL_EXAMPLES,
    MAX_DEAD_LETTER_BYTES,
    MAX_DEAD_LETTER_KEY_BYTES,
    ControlCommand,
    DeadLetter,
    Event,
    decode,
    encode,
)

CONTROL = jsonschema.Draft202012Validator(schema_of("control"))


def _check(doc: dict, reason: str | None) -> None:
    """``doc`` decodes (reason None) or is rejected with ``reason``; the schema agrees either way."""
    raw = json.dumps(doc).encode()
    if reason is None:
        assert decode(ControlCommand, raw).command == doc["command"]
        CONTROL.validate(doc)
    else:
        with pytest.raises(RecordError, match=reason):
            decode(ControlCommand, raw)
        assert not CONTROL.is_valid(doc)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"command": "add_label", "label": "crypto", "examples": ["buy btc", "sell eth"]}, None),
        ({"command": "add_label", "label": "crypto", "examples": ["buy btc", "  "]}, "at least 2 non-empty"),
        ({"command": "add_label", "label": "crypto"}, "at least 2 non-empty"),
        ({"command": "add_label", "label": " ", "examples": ["a", "b"]}, "add_label needs a non-empty label"),
        ({"command": "update_description", "label": "crypto", "description": "coins"}, None),
        ({"command": "update_description", "description": "coins"}, "needs a non-empty label"),
        ({"command": "remove_label", "label": "crypto"}, None),
        ({"command": "remove_label", "label": ""}, "remove_label needs a non-empty label"),
        ({"command": "retrain"}, None),
        ({"command": "retrain", "label": ""}, None),
        ({"command": "rename_label", "label": "x"}, "Input should be 'add_label'"),
        ({"command": "set_policy", "policy": {"judge_share": 0.2, "threshold": None}}, None),
        ({"command": "set_policy", "policy": {"max_candidates": 50, "context_examples": 0}}, None),
        ({"command": "set_policy", "policy": {"threshold": 1, "judge_share": 0}}, None),
        ({"command": "set_policy"}, "set_policy needs at least one of judge_share"),
        ({"command": "set_policy", "policy": {"share": 0.2}}, "unknown policy key 'share'"),
        ({"command": "set_policy", "policy": {"judge_share": 2}}, r"judge_share must be .*, got 2"),
        ({"command": "set_policy", "policy": {"judge_share": None}}, "judge_share must be a number"),
        ({"command": "set_policy", "policy": {"threshold": -0.1}}, r"threshold .* or null"),
        ({"command": "set_policy", "policy": {"max_candidates": 0}}, r"max_candidates .* in 1..50"),
        ({"command": "set_policy", "policy": {"max_candidates": 51}}, "max_candidates must be an integer"),
        ({"command": "set_policy", "policy": {"context_examples": 21}}, r"context_examples .* 0..20"),
        ({"command": "set_policy", "policy": {"context_examples": "3"}}, r"\$\.policy\.context_examples"),
        ({"command": "retrain", "policy": {"judge_share": 0.5}}, "policy is read only by set_policy"),
    ],
)  # fmt: skip
def test_control_commands(doc: dict, reason: str | None) -> None:
    _check({"id": "c1", **doc}, reason)


def test_add_label_examples_are_bounded() -> None:
    many = ["ex"] * (MAX_CONTROL_EXAMPLES + 1)
    _check({"id": "c", "command": "add_label", "label": "l", "examples": many}, "at most 1000 items")
    long = ["ok", "x" * 20_001]
    _check({"id": "c", "command": "add_label", "label": "l", "examples": long}, r"\$\.examples\[1\]")
    _check({"id": "c", "command": "add_label", "label": "l", "examples": ["x" * 20_000, "y"]}, None)


def test_policy_integer_keys_refuse_fractions() -> None:
    with pytest.raises(RecordError, match="max_candidates must be an integer"):
        ControlCommand(id="c", command="set_policy", policy={"max_candidates": 2.5})


@pytest.mark.parametrize(
    "kind", ["applied", "rejected", "info", "drift", "recovered", "new_label_suggested", "model"]
)
def test_event_kinds(kind: str) -> None:
    event = Event(id="e", kind=kind, subject="s")  # type: ignore[arg-type]
    assert decode(Event, encode(event)) == event and event.labels == [] and event.details == {}


def test_event_details_are_any_json_object_and_labels_strings() -> None:
    details = {"a": [1, 2.5, None, {"b": "c"}], "t": True}
    event = Event(id="e", kind="new_label_suggested", subject="s", labels=["x", "y"], details=details)
    assert decode(Event, encode(event)).details == details
    with pytest.raises(RecordError, match=r"\$\.details"):
        Event(id="e", kind="info", subject="s", details={"x": object()})
    with pytest.raises(RecordError, match=r"\$\.details: the number at \.a\[0\] is not finite"):
        decode(Event, b'{"id": "e", "kind": "info", "subject": "s", "details": {"a": [1e999]}}')
    with pytest.raises(RecordError, match=r"the text at \.a \(a key\) holds a lone surrogate"):
        Event(id="e", kind="info", subject="s", details={"a": {"\udc00": 1}})
    with pytest.raises(RecordError, match=r"\$\.labels\[0\]"):
        decode(Event, b'{"id": "e", "kind": "info", "subject": "s", "labels": [1]}')
    with pytest.raises(RecordError, match="Input should be 'applied'"):
        decode(Event, b'{"id": "e", "kind": "exploded", "subject": "s"}')


def test_dead_letter_of_keeps_small_messages_whole() -> None:
    value, key = b"\x00\xffbinary", b"key"
    letter = DeadLetter.of(
        value, key, reason="r", topic="t", partition=0, offset=1, stage="s", at=2.0, id="a"
    )
    back = decode(DeadLetter, encode(letter))
    assert base64.b64decode(back.original_b64) == value and base64.b64decode(back.key_b64 or "") == key
    assert (back.original_size, back.truncated, back.key_size, back.key_truncated) == (8, False, 3, False)
    assert back.original_sha256 == hashlib.sha256(value).hexdigest()
    assert back.key_sha256 == hashlib.sha256(key).hexdigest()
    assert (back.id, back.stage, back.at, back.partition, back.offset) == ("a", "s", 2.0, 0, 1)


def test_dead_letter_of_bounds_value_and_key() -> None:
    value, key = bytes(range(256)) * 1000, b"k" * 5000
    letter = DeadLetter.of(value, key, reason="r" * 5000, topic="t", partition=3, offset=4, id="i" * 999)
    assert base64.b64decode(letter.original_b64) == value[:MAX_DEAD_LETTER_BYTES]
    assert base64.b64decode(letter.key_b64 or "") == key[:MAX_DEAD_LETTER_KEY_BYTES]
    assert (letter.original_size, letter.truncated, letter.key_size, letter.key_truncated) == (
        256_000,
        True,
        5000,
        True,
    )
    assert letter.original_sha256 == hashlib.sha256(value).hexdigest()
    assert len(letter.reason) == 2000 and letter.id is not None and len(letter.id) == 256
    assert len(encode(letter)) < 100_000
    jsonschema.Draft202012Validator(schema_of("deadletter")).validate(json.loads(encode(letter)))


def test_dead_letter_of_a_message_without_value_or_key() -> None:
    letter = DeadLetter.of(None, None, reason="no value", topic="t", partition=-1, offset=-1)
    assert (letter.original_b64, letter.original_size, letter.original_sha256, letter.key_b64) == (
        "",
        0,
        "",
        None,
    )


def test_dead_letter_of_text_keeps_lone_surrogates_as_bytes_and_cleans_its_own_fields() -> None:
    letter = DeadLetter.of("a\ud800", "k", reason="bad \udc00", topic="t", partition=0, offset=0, id="\ud800")
    assert base64.b64decode(letter.original_b64) == "a\ud800".encode("utf-8", "surrogatepass")
    assert letter.reason == "bad ?" and letter.id == "?"
    assert decode(DeadLetter, encode(letter)) == letter


def test_dead_letter_refuses_more_than_its_bound() -> None:
    too_long = base64.b64encode(b"x" * (MAX_DEAD_LETTER_BYTES + 3)).decode()
    with pytest.raises(RecordError, match=r"\$\.original_b64"):
        DeadLetter(reason="r", topic="t", partition=0, offset=0, original_b64=too_long)
    with pytest.raises(RecordError, match=r"\$\.original_sha256"):
        DeadLetter(reason="r", topic="t", partition=0, offset=0, original_b64="", original_sha256="xyz")


def test_version_one_dead_letter_is_still_read() -> None:
    raw = b'{"reason":"r","topic":"t","partition":0,"offset":7,"original_b64":"e30K","schema_version":1}'
    letter = decode(DeadLetter, raw)
    assert letter.schema_version == 1 and letter.original_sha256 == "" and not letter.truncated
