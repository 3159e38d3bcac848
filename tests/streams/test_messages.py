"""The raw-message edge: decode or dead-letter; nothing undecodable escapes as an exception."""

from __future__ import annotations

import base64
import json

from redline.schemas import DeadLetter, LabelResult, TextIn, decode
from redline.streams.messages import dead_letter, decode_or_dead_letter, keyed


def test_a_good_message_decodes(msg) -> None:
    text, letter = decode_or_dead_letter(TextIn, msg(b'{"id": "a", "text": "hi"}', b"a"), "classify")
    assert letter is None and text is not None and (text.id, text.text) == ("a", "hi")


def test_bad_messages_become_dead_letters_with_reason_bytes_and_id(msg) -> None:
    cases = [
        (msg(b"\xff\xfe", b"b", 1), "not UTF-8", "b"),
        (msg(b'{"id": "c"}', b"c", 2), "text", "c"),
        (msg(None, None, 3), "no value", None),
        (msg(b'{"id": "d", "text": "x", "schema_version": 99}', None, 4), "schema_version 99", "d"),
    ]
    for message, reason, rid in cases:
        record, out = decode_or_dead_letter(TextIn, message, "classify")
        assert record is None and out is not None and out.topic == "deadletter"
        letter = decode(DeadLetter, out.value)
        assert reason in letter.reason, letter.reason
        assert letter.id == rid and letter.stage == "classify" and letter.offset == message.offset
        assert base64.b64decode(letter.original_b64) == (message.value or b"")


def test_an_id_that_cannot_be_encoded_is_not_copied_into_the_dead_letter(msg) -> None:
    raw = b'{"id": "\\ud800", "text": "hi"}'  # a lone surrogate: valid JSON, not valid UTF-8 text
    record, out = decode_or_dead_letter(TextIn, msg(raw, None), "classify")
    assert record is None and out is not None
    letter = decode(DeadLetter, out.value)
    assert letter.id is None and base64.b64decode(letter.original_b64) == raw


def test_dead_letter_of_any_message_shape(msg) -> None:
    out = dead_letter(msg(b"x" * 10, b"k"), "because", "judge")
    letter = decode(DeadLetter, out.value)
    assert (letter.reason, letter.stage, out.key) == ("because", "judge", b"k")


def test_keyed_records_are_keyed_by_text_id() -> None:
    out = keyed("labels", "id-1", TextIn(id="id-1", text="t"))
    assert out.key == b"id-1" and json.loads(out.value)["id"] == "id-1" and out.status == ""


def test_a_result_carries_its_status_beside_its_bytes() -> None:
    result = LabelResult(
        id="id-2", text="t", label="a", status="accepted", confidence=0.9, candidates=[], model_version="v"
    )
    out = keyed("labels", "id-2", result)
    assert out.status == "accepted" == json.loads(out.value)["status"]
