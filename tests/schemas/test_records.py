"""Records round-trip through JSON, agree with their exported JSON Schema, and reject bad input."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest
from schema_examples import CANDS, EXAMPLES, REQUEST, schema_of

from redline.cli import main
from redline.errors import RecordError
from redline.schemas import (
    RECORD_BY_TOPIC,
    SCHEMA_VERSION,
    STATUSES,
    Candidate,
    JudgeAttempt,
    JudgeInfo,
    JudgeRequest,
    JudgeVerdict,
    LabelResult,
    Prediction,
    TextIn,
    decode,
    encode,
    export_schemas,
    from_dict,
    json_schema,
    to_dict,
)

VALIDATOR = jsonschema.Draft202012Validator


@pytest.mark.parametrize("topic", sorted(RECORD_BY_TOPIC))
def test_round_trip_and_schema(topic: str) -> None:
    record = EXAMPLES[topic]
    raw = encode(record)
    back = decode(type(record), raw)
    assert back == record
    assert encode(back) == raw  # encoded once: a decoded record writes the same bytes
    assert from_dict(type(record), to_dict(record)) == record
    assert to_dict(record) == json.loads(raw)
    schema = schema_of(topic)
    VALIDATOR.check_schema(schema)
    VALIDATOR(schema).validate(json.loads(raw))
    assert schema["x-redline-topic"] == f"redline.{topic}"
    assert schema["$id"] == f"https://redline.dev/schemas/redline.{topic}.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_topic_has_an_example() -> None:
    assert set(EXAMPLES) == set(RECORD_BY_TOPIC)


def test_encoding_is_compact_utf8_in_field_order() -> None:
    raw = encode(TextIn(id="ü", text="¿Cuál es mi saldo? 残高"))
    assert raw == '{"id":"ü","text":"¿Cuál es mi saldo? 残高","metadata":{},"schema_version":2}'.encode()


def test_schema_files_are_up_to_date() -> None:
    assert export_schemas(check=True) == []


def test_json_schema_defaults_to_the_records_topic() -> None:
    assert json_schema(TextIn)["x-redline-topic"] == "redline.texts"
    nested = json_schema(Candidate)
    assert nested["$id"].endswith("/Candidate.schema.json") and "x-redline-topic" not in nested


def test_export_command_writes_and_checks(tmp_path, capsys) -> None:
    assert main(["schemas", "export", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.schema.json"))) == len(RECORD_BY_TOPIC)
    assert main(["schemas", "export", "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "redline.texts.schema.json").write_text("{}")
    capsys.readouterr()
    assert main(["schemas", "export", "--out", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "redline.texts.schema.json" in err[0]


def test_minimal_text_defaults_version_and_ignores_unknown_fields() -> None:
    rec = decode(TextIn, b'{"id": "a", "text": "hello", "extra": "ignored"}')
    assert rec == TextIn(id="a", text="hello")
    assert rec.schema_version == SCHEMA_VERSION == 2


@pytest.mark.parametrize("version", [1, 2])
def test_known_versions_are_read_and_kept(version: int) -> None:
    raw = json.dumps({"id": "a", "text": "hi", "schema_version": version}).encode()
    rec = decode(TextIn, raw)
    assert rec.schema_version == version and json.loads(encode(rec))["schema_version"] == version


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b" \n ", "empty message"),
        (None, "no value"),
        (b"\xff\xfe not utf8", "not UTF-8: invalid start byte at byte 0"),
        (b"{not json", "invalid JSON"),
        (b'["a list"]', "$: Input should be an object, got array"),
        (b"42", "got integer"),
        (b'{"text": "hi"}', "$: missing required field 'id'"),
        (b'{"id": "a"}', "$: missing required field 'text'"),
        (b'{"id": "a", "text": "hi", "metadata": {"k": [1]}, "schema_version": 9}', "(and 1 more error)"),
        (b'{"id": 5, "text": "hi"}', "$.id: Input should be a valid string, got integer"),
        (b'{"id": "a", "text": "   "}', "$.text: must hold a non-space character"),
        (b'{"id": "", "text": "hi"}', "$.id: String should have at least 1 character"),
        (json.dumps({"id": "a" * 257, "text": "hi"}).encode(), "$.id: String should have at most 256"),
        (json.dumps({"id": "a", "text": "x" * 20_001}).encode(), "$.text: String should have at most 20000"),
        (b'{"id": "a", "text": "hi", "schema_version": 3}', "schema_version 3 is newer than this reader"),
        (b'{"id": "a", "text": "hi", "schema_version": 0}', "schema_version 0 is not a version"),
        (b'{"id": "a", "text": "hi", "schema_version": true}', "valid integer, got boolean"),
        (b'{"id": "a", "text": "hi", "schema_version": "2"}', "valid integer, got string"),
        (b'{"id": "a", "text": "hi", "metadata": {"k": [1]}}', "$.metadata.k: expected one of string,"),
        (b'{"id": "a", "text": "hi", "metadata": []}', "$.metadata: Input should be an object, got array"),
        (b'{"id": "a", "text": "hi", "metadata": {"a\\nb": [1]}}', '$.metadata["a\\nb"]: expected one of'),
        (b'{"id": "a", "text": "hi \\ud800"}', "surrogate pair"),
        (b'{"id": "\\udc00", "text": "hi"}', "surrogate"),
        (b'{"id": "a", "text": "hi", "metadata": {"\\ud800": 1}}', "surrogate"),
        (b'{"id": "a", "text": "hi", "metadata": {"k": "\\ud800x"}}', "surrogate"),
        (b'{"id": "a", "text": "hi", "metadata": {"k": ' + b"9" * 5000 + b"}}", "number out of range"),
        (b'{"id": "a", "text": "hi", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}", "recursion limit"),
        (
            b'{"id": "a", "text": "hi", "metadata": {"k": NaN}}',
            "$.metadata.k: Input should be a finite number",
        ),
        (b'{"id": "a", "text": "hi"} trailing', "invalid JSON"),
    ],
)
def test_bad_texts_are_rejected_with_a_one_line_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        decode(TextIn, raw)
    message = str(info.value)
    assert reason in message and "\n" not in message and len(message) < 400


def test_text_input_may_be_str_but_not_hold_a_lone_surrogate() -> None:
    assert decode(TextIn, '{"id": "a", "text": "hi"}') == TextIn("a", "hi")
    with pytest.raises(RecordError, match="lone surrogate"):
        decode(TextIn, '{"id": "a", "text": "\ud800"}')


def test_a_huge_message_is_refused_before_parsing() -> None:
    with pytest.raises(RecordError, match="larger than"):
        decode(TextIn, b" " * (8 * 1024 * 1024 + 1))


@pytest.mark.parametrize(
    "doc",
    [
        {"text": "hi"},
        {"id": "", "text": "hi"},
        {"id": "a", "text": "   "},
        {"id": "a", "text": "hi", "schema_version": 3},
        {"id": 5, "text": "hi"},
        {"id": "a", "text": "x" * 20_001},
        {"id": "a", "text": "hi", "metadata": {"k": {}}},
    ],
)
def test_schema_rejects_what_the_decoder_rejects(doc: dict) -> None:
    with pytest.raises(RecordError):
        decode(TextIn, json.dumps(doc).encode())
    assert not VALIDATOR(schema_of("texts")).is_valid(doc)


@pytest.mark.parametrize("status", STATUSES)
def test_label_is_null_exactly_when_the_result_has_none(status: str) -> None:
    unlabelled = status in ("unresolved", "judge_unavailable")
    doc = json.loads(encode(EXAMPLES["labels"]))
    schema = VALIDATOR(schema_of("labels"))
    for label in (None, "balance"):
        doc.update(status=status, label=label)
        fits = (label is None) == unlabelled
        assert schema.is_valid(doc) == fits
        if fits:
            assert decode(LabelResult, json.dumps(doc).encode()).status == status
        else:
            with pytest.raises(RecordError, match="does not fit"):
                decode(LabelResult, json.dumps(doc).encode())


def test_statuses_in_order() -> None:
    assert STATUSES == ("accepted", "validated", "corrected", "unresolved", "judge_unavailable")


@pytest.mark.parametrize("confidence", [-0.01, 1.01])
def test_probabilities_lie_in_zero_one(confidence: float) -> None:
    with pytest.raises(RecordError, match="confidence"):
        dataclasses.replace(EXAMPLES["labels"], confidence=confidence)
    with pytest.raises(RecordError, match=r"\$\.candidates\[0\]\.p"):
        decode(Prediction, encode(EXAMPLES["predictions"]).replace(b'"p":0.55', f'"p":{confidence}'.encode()))


def test_judge_request_index_must_point_at_a_candidate() -> None:
    doc = json.loads(encode(REQUEST))
    doc["index"] = 2
    with pytest.raises(RecordError, match="index 2 is outside the 2 candidates"):
        decode(JudgeRequest, json.dumps(doc).encode())
    doc["index"] = -1
    with pytest.raises(RecordError, match="greater than or equal to 0"):
        decode(JudgeRequest, json.dumps(doc).encode())


def test_judge_request_contexts_align_with_candidates() -> None:
    with pytest.raises(RecordError, match="contexts must align"):
        dataclasses.replace(REQUEST, contexts=REQUEST.contexts[:1])


def test_judge_request_embedding_must_be_base64() -> None:
    with pytest.raises(RecordError, match=r"\$\.embedding"):
        dataclasses.replace(REQUEST, embedding="not base64!")
    assert decode(JudgeRequest, encode(dataclasses.replace(REQUEST, embedding=""))).embedding == ""


def test_verdict_must_answer_the_requested_candidate() -> None:
    with pytest.raises(RecordError, match="differs from the requested 'balance'"):
        JudgeVerdict(request=REQUEST, attempt=JudgeAttempt("transfer", True), judge="j")


def test_replace_builds_a_validated_copy() -> None:
    moved = dataclasses.replace(REQUEST, index=0, attempts=[])
    assert (moved.index, moved.label, moved.attempts, REQUEST.index) == (0, "transfer", [], 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        REQUEST.index = 0  # type: ignore[misc]


def test_building_a_bad_record_in_code_raises_record_error_naming_the_field() -> None:
    with pytest.raises(RecordError, match=r"TextIn: \$\.text: must hold a non-space"):
        TextIn("a", " ")
    with pytest.raises(RecordError, match=r"Candidate: \$\.p: Input should be a valid number, got string"):
        Candidate("x", "0.5")  # type: ignore[arg-type]
    with pytest.raises(RecordError, match=r"JudgeInfo: \$\.calls"):
        JudgeInfo("j", -1)
    with pytest.raises(RecordError, match="finite"):
        Candidate("x", float("nan"))


def test_nested_records_round_trip_from_plain_data() -> None:
    verdict = EXAMPLES["judge.verdicts"]
    back = from_dict(JudgeVerdict, to_dict(verdict))
    assert back == verdict and isinstance(back.request.candidates[0], Candidate)
    result = from_dict(LabelResult, json.loads(encode(EXAMPLES["labels"])))
    assert isinstance(result.judge, JudgeInfo) and result.judge.attempts[1].valid is True


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"id": "a", "text": "\ud800"}, "surrogate"),
        ({"id": "a", "text": "hi", "metadata": {"\udfff": 1}}, "surrogate"),
        ({"id": "a", "text": "hi", "metadata": {"k": float("nan")}}, "not JSON data"),
        ({"id": "a", "text": "hi", "metadata": {"k": object()}}, "not JSON data"),
        ({"id": "a", "text": "hi", "metadata": {"k": 10**5000}}, "not JSON data"),
        (["a"], "Input should be an object"),
    ],
)
def test_from_dict_rejects_what_decode_rejects(data: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        from_dict(TextIn, data)


def test_a_record_with_text_that_is_not_utf8_cannot_be_encoded() -> None:
    attempt = JudgeAttempt("x", None, reason="bad \ud800")
    with pytest.raises(RecordError, match="lone surrogate"):
        encode(attempt)
    with pytest.raises(RecordError, match="lone surrogate"):
        TextIn("a", "hi", {"\ud800": 1})


def test_codec_functions_refuse_what_is_not_a_record() -> None:
    with pytest.raises(RecordError, match="not a record"):
        encode({"id": "a"})
    with pytest.raises(RecordError, match="not a record type"):
        decode(dict, b"{}")


def test_metadata_scalars_keep_their_json_type() -> None:
    raw = (
        b'{"id":"a","text":"t","metadata":{"i":1,"f":1.0,"b":true,"n":null,"s":"1",'
        + b'"big":1234567890123456789012}}'
    )
    rec = decode(TextIn, raw)
    assert [type(v) for v in rec.metadata.values()] == [int, float, bool, type(None), str, int]
    assert decode(TextIn, encode(rec)) == rec


def test_old_positional_construction_still_works() -> None:
    result = LabelResult("a", "t", "balance", "accepted", 0.9, [Candidate("balance", 0.9)], "m")
    assert result.candidates == [CANDS[1].__class__("balance", 0.9)] and result.judge is None


def test_an_example_needs_its_embedding_and_a_known_source() -> None:
    from redline.errors import RecordError
    from redline.schemas import ExampleRecord

    base = dict(id="e", text="t", label="l", source="seed", embedder="m", embedding="AACAPw==")
    assert ExampleRecord(**base).label == "l"
    with pytest.raises(RecordError, match="needs its embedding"):
        ExampleRecord(**{**base, "embedding": ""})
    with pytest.raises(RecordError, match="source"):
        ExampleRecord(**{**base, "source": "guess"})
