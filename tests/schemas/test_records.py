"""Records round-trip through JSON, agree with their exported JSON Schema, and reject bad input."""

from __future__ import annotations

import base64
import json

import jsonschema
import pytest

from redline.cli import main
from redline.errors import RecordError
from redline.schemas import (
    RECORD_BY_TOPIC,
    SCHEMA_DIR,
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
    decode,
    encode,
    export_schemas,
)

CANDS = [Candidate("transfer", 0.55), Candidate("balance", 0.30)]
REQUEST = JudgeRequest(
    id="t1",
    text="move 100 dollars to savings",
    candidates=CANDS,
    contexts=[LabelContext("transfer", "send money", ["send 5 to bob"]), LabelContext("balance")],
    index=1,
    uncertainty=0.7,
    model_version="m1",
    attempts=[JudgeAttempt("transfer", False, p_yes=0.1, reason="no")],
    metadata={"source": "app", "n": 3},
)

EXAMPLES = {
    "texts": TextIn(id="t1", text="what is my balance", metadata={"user": "u1", "score": 0.5, "ok": True}),
    "predictions": Prediction(
        id="t1", text="x", candidates=CANDS, uncertainty=0.4, route="judge", model_version="m1"
    ),
    "judge.requests": REQUEST,
    "judge.verdicts": JudgeVerdict(
        request=REQUEST, attempt=JudgeAttempt("balance", True, p_yes=0.9), judge="simulated:0.95"
    ),
    "labels": LabelResult(
        id="t1",
        text="x",
        label="balance",
        status="corrected",
        confidence=0.30,
        candidates=CANDS,
        model_version="m1",
        judge=JudgeInfo(
            "simulated:0.95", 2, [JudgeAttempt("transfer", False), JudgeAttempt("balance", True)]
        ),
    ),
    "control": ControlCommand(id="c1", command="add_label", label="crypto", examples=["buy btc", "sell eth"]),
    "events": Event(id="e1", kind="rejected", subject="add_label crypto", reason="exists", command_id="c1"),
    "deadletter": DeadLetter(
        reason="invalid JSON", topic="redline.texts", partition=0, offset=7, original_b64="e30K"
    ),
}


def _schema(topic: str) -> dict:
    return json.loads((SCHEMA_DIR / f"redline.{topic}.schema.json").read_text())


@pytest.mark.parametrize("topic", sorted(RECORD_BY_TOPIC))
def test_round_trip_and_schema(topic: str) -> None:
    record = EXAMPLES[topic]
    raw = encode(record)
    assert decode(type(record), raw) == record
    schema = _schema(topic)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(raw), schema, cls=jsonschema.Draft202012Validator)
    assert schema["x-redline-topic"] == f"redline.{topic}"


def test_every_topic_has_an_example() -> None:
    assert set(EXAMPLES) == set(RECORD_BY_TOPIC)


def test_schema_files_are_up_to_date() -> None:
    assert export_schemas(check=True) == []


def test_export_command_writes_and_checks(tmp_path, capsys) -> None:
    assert main(["schemas", "export", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.schema.json"))) == len(RECORD_BY_TOPIC)
    assert main(["schemas", "export", "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "redline.texts.schema.json").write_text("{}")
    capsys.readouterr()
    assert main(["schemas", "export", "--out", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "redline.texts.schema.json" in err[0]


def test_minimal_text_defaults_version() -> None:
    rec = decode(TextIn, b'{"id": "a", "text": "hello", "extra": "ignored"}')
    assert rec == TextIn(id="a", text="hello")
    assert rec.schema_version == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (None, "no value"),
        (b"\xff\xfe not utf8", "not UTF-8"),
        (b"{not json", "invalid JSON"),
        (b'["a list"]', "expected an object"),
        (b'{"text": "hi"}', "missing required field 'id'"),
        (b'{"id": "a"}', "missing required field 'text'"),
        (b'{"id": 5, "text": "hi"}', "$.id: expected a string"),
        (b'{"id": "a", "text": "   "}', "text must be a non-empty"),
        (b'{"id": "", "text": "hi"}', "id must be a non-empty"),
        (b'{"id": "a", "text": "hi", "schema_version": 2}', "schema_version 2 is not supported"),
        (b'{"id": "a", "text": "hi", "schema_version": true}', "expected an integer"),
        (b'{"id": "a", "text": "hi", "metadata": {"k": [1]}}', "$.metadata.k"),
    ],
)
def test_bad_texts_are_rejected_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(RecordError, match=None) as info:
        decode(TextIn, raw)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "doc",
    [
        {"text": "hi"},
        {"id": "", "text": "hi"},
        {"id": "a", "text": "   "},
        {"id": "a", "text": "hi", "schema_version": 2},
        {"id": 5, "text": "hi"},
        {"id": "a", "text": "x" * 20_001},
    ],
)
def test_schema_rejects_what_the_decoder_rejects(doc: dict) -> None:
    with pytest.raises(RecordError):
        decode(TextIn, json.dumps(doc).encode())
    assert not jsonschema.Draft202012Validator(_schema("texts")).is_valid(doc)


def test_label_and_status_must_agree() -> None:
    doc = json.loads(encode(EXAMPLES["labels"]))
    doc["label"] = None
    with pytest.raises(RecordError, match="does not fit"):
        decode(LabelResult, json.dumps(doc).encode())


def test_judge_request_index_must_point_at_a_candidate() -> None:
    doc = json.loads(encode(REQUEST))
    doc["index"] = 2
    with pytest.raises(RecordError, match="outside"):
        decode(JudgeRequest, json.dumps(doc).encode())


def test_dead_letter_keeps_original_bytes() -> None:
    original = b"\x00\xffbinary"
    letter = DeadLetter(
        reason="r", topic="t", partition=0, offset=1, original_b64=base64.b64encode(original).decode()
    )
    back = decode(DeadLetter, encode(letter))
    assert base64.b64decode(back.original_b64) == original


def test_non_ascii_text_survives() -> None:
    rec = TextIn(id="ü", text="¿Cuál es mi saldo? 残高")
    assert decode(TextIn, encode(rec)) == rec
