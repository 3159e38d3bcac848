"""Property tests: nothing but RecordError escapes ``decode``; generated valid records round-trip."""

from __future__ import annotations

import json
from typing import Any, get_args

import jsonschema
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schema_examples import EXAMPLES, schema_of

from redline.errors import RecordError
from redline.schemas import (
    RECORD_BY_TOPIC,
    STATUSES,
    Candidate,
    ControlCommand,
    DeadLetter,
    Event,
    EventKind,
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
    encode_embedding,
    from_dict,
    to_dict,
)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = sorted(
    {*RECORD_BY_TOPIC.values(), Candidate, LabelContext, JudgeAttempt, JudgeInfo}, key=lambda c: c.__name__
)
DOCS: dict[type, dict[str, Any]] = {type(r): to_dict(r) for r in EXAMPLES.values()}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
surrogate_escapes = (
    st.lists(
        st.sampled_from(["\\ud800", "\\udfff", "\\udc00", "\\ud83d", "x", "\\u0041"]), min_size=1, max_size=4
    )
    .map("".join)
    .filter(lambda s: "\\ud" in s)
)
huge_ints = st.integers(min_value=4290, max_value=6000).map(lambda n: "-" * (n % 2) + "9" * n)
deep = st.integers(min_value=150, max_value=3000).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n])
)


#: JSON texts that break records in many ways (a value's type, range, emptiness, text, size and depth)
EDGE_VALUES = [
    "null", "true", "false", "0", "1", "2", "5", "-1", "1.5", "-0.0", "1e308", "1e999", "NaN",
    '""', '" "', '"x"', '"\\ud800"', '"a\\udfffb"', "[]", "[{}]", '["x", "y"]', "{}", '{"a": 1}',
    "9" * 5000, "[" * 1000 + "]" * 1000,
]  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member of a JSON document, as a path of keys and indexes."""
    members = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    out = []
    for key, child in members:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _only_record_error(cls: type, raw: bytes | str) -> None:
    try:
        record = decode(cls, raw)
    except RecordError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(record, cls) and decode(cls, encode(record)) == record


def _with_placeholder(cls: type, data: st.DataObject) -> tuple[str, bool]:
    """A valid document of ``cls`` as JSON text with one value or key (True) replaced by ``"@@"``."""
    doc = json.loads(
        json.dumps(DOCS.get(cls, {"label": "a", "p": 0.5, "judge": "j", "calls": 1, "valid": None}))
    )
    node: Any = doc
    while True:  # walk down to a random object or array, then mark one of its members
        members = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not members:
            break
        member = data.draw(st.sampled_from(members))
        child = node[member]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.booleans()):
            node["@@"] = node.pop(member)
            return json.dumps(doc), True
        node[member] = "@@"
        break
    return json.dumps(doc), False


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(cls: type, raw: bytes) -> None:
    _only_record_error(cls, raw)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@FUZZ
@given(value=json_values)
def test_arbitrary_json_values(cls: type, value: object) -> None:
    _only_record_error(cls, json.dumps(value).encode())
    _only_record_error(cls, json.dumps(value, ensure_ascii=False))


@pytest.mark.parametrize("cls", sorted(DOCS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_every_member_replaced_by_every_edge_value(cls: type) -> None:
    doc = DOCS[cls]
    for path in _paths(doc):
        copy = json.loads(json.dumps(doc))
        node = copy
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = "@@"
        text = json.dumps(copy)
        for value in EDGE_VALUES:
            _only_record_error(cls, text.replace('"@@"', value).encode())


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@FUZZ
@given(data=st.data())
def test_one_value_or_key_replaced_by_anything(cls: type, data: st.DataObject) -> None:
    text, is_key = _with_placeholder(cls, data)
    strings = surrogate_escapes.map(lambda s: f'"{s}"') | st.just('"k"')
    anything = (
        st.sampled_from(EDGE_VALUES)
        | json_values.map(json.dumps)
        | strings
        | huge_ints
        | deep
        | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "1.5e-400", '"\\u0000"'])
    )
    replacement = data.draw(strings if is_key else anything)
    _only_record_error(cls, text.replace('"@@"', replacement).encode())


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@FUZZ
@given(value=json_values)
def test_from_dict_raises_only_record_error(cls: type, value: object) -> None:
    doc = {**DOCS.get(cls, {}), "metadata": value} if isinstance(value, dict) else value
    try:
        from_dict(cls, doc)
    except RecordError:
        pass


# --------------------------------------------------------------------------- valid records round-trip

words = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
nonblank = st.text(st.characters(exclude_categories=("Cs", "Zs", "Cc", "Zl", "Zp")), min_size=1, max_size=20)
ids = st.tuples(words, nonblank, words).map("".join).map(lambda s: s[:256])
texts = st.tuples(words, nonblank, words).map("".join)
finite = st.floats(allow_nan=False, allow_infinity=False)
probs = st.floats(min_value=0.0, max_value=1.0)
scalars = st.none() | st.booleans() | st.integers() | finite | words
metadata = st.dictionaries(words, scalars, max_size=4)
candidates = st.lists(st.builds(Candidate, label=words, p=probs), min_size=1, max_size=5)
attempts = st.lists(
    st.builds(
        JudgeAttempt,
        label=words,
        valid=st.none() | st.booleans(),
        p_yes=st.none() | probs,
        reason=words,
        cached=st.booleans(),
        latency_ms=finite,
        cost=finite,
    ),
    max_size=3,
)
versions = st.sampled_from([1, 2])
details = st.dictionaries(
    words,
    st.recursive(
        st.none() | st.booleans() | st.integers() | finite | words,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(words, inner, max_size=3),
        max_leaves=8,
    ),
    max_size=3,
)


@st.composite
def judge_requests(draw: st.DrawFn) -> JudgeRequest:
    cands = draw(candidates)
    contexts = [LabelContext(c.label, draw(words), draw(st.lists(words, max_size=3))) for c in cands]
    vector = draw(
        st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=16)
    )
    return JudgeRequest(
        id=draw(ids), text=draw(texts), candidates=cands, contexts=contexts,
        index=draw(st.integers(0, len(cands) - 1)), uncertainty=draw(finite), model_version=draw(words),
        attempts=draw(attempts), metadata=draw(metadata),
        embedding=draw(st.just("") | st.just(encode_embedding(vector))), schema_version=draw(versions),
    )  # fmt: skip


@st.composite
def label_results(draw: st.DrawFn) -> LabelResult:
    status = draw(st.sampled_from(STATUSES))
    label = None if status in ("unresolved", "judge_unavailable") else draw(words)
    judge = draw(
        st.none() | st.builds(JudgeInfo, judge=words, calls=st.integers(0, 9), attempts=attempts, cost=finite)
    )
    return LabelResult(
        id=draw(ids),
        text=draw(texts),
        label=label,
        status=status,
        confidence=draw(probs),
        candidates=draw(candidates),
        model_version=draw(words),
        judge=judge,
        reason=draw(words),
        metadata=draw(metadata),
        schema_version=draw(versions),
    )


@st.composite
def control_commands(draw: st.DrawFn) -> ControlCommand:
    command = draw(
        st.sampled_from(["add_label", "update_description", "remove_label", "retrain", "set_policy"])
    )
    policy: dict[str, int | float | None] = {}
    if command == "set_policy":
        policy = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "judge_share": probs,
                    "threshold": st.none() | probs,
                    "max_candidates": st.integers(1, 50),
                    "context_examples": st.integers(0, 20),
                },
            ).filter(bool)
        )
    examples = draw(st.lists(texts, min_size=2 if command == "add_label" else 0, max_size=4))
    return ControlCommand(
        id=draw(ids),
        command=command,  # type: ignore[arg-type]
        label=draw(nonblank),
        description=draw(words),
        examples=examples,
        policy=policy,
        schema_version=draw(versions),
    )


@st.composite
def dead_letters(draw: st.DrawFn) -> DeadLetter:
    return DeadLetter.of(
        draw(st.none() | st.binary(max_size=200)),
        draw(st.none() | st.binary(max_size=20)),
        reason=draw(words),
        topic=draw(words),
        partition=draw(st.integers(-1, 99)),
        offset=draw(st.integers(-1, 2**62)),
        stage=draw(words),
        at=draw(finite),
        id=draw(st.none() | ids),
    )


RECORDS = {
    "texts": st.builds(TextIn, id=ids, text=texts, metadata=metadata, schema_version=versions),
    "predictions": st.builds(Prediction, id=ids, text=texts, candidates=candidates, uncertainty=finite,
                             route=st.sampled_from(["accept", "judge", "unresolved"]), model_version=words,
                             reason=words, metadata=metadata, schema_version=versions),
    "judge.requests": judge_requests(),
    "judge.verdicts": judge_requests().flatmap(lambda r: st.builds(
        JudgeVerdict, request=st.just(r), attempt=st.builds(JudgeAttempt, label=st.just(r.label),
                                                            valid=st.none() | st.booleans()), judge=words)),
    "labels": label_results(),
    "control": control_commands(),
    "events": st.builds(Event, id=ids, kind=st.sampled_from(get_args(EventKind)), subject=words, reason=words,
                        command_id=st.none() | words, at=finite, labels=st.lists(words, max_size=3),
                        details=details),
    "deadletter": dead_letters(),
}  # fmt: skip


@pytest.mark.parametrize("topic", sorted(RECORDS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_records_round_trip_and_fit_their_schema(topic: str, data: st.DataObject) -> None:
    try:
        record = data.draw(RECORDS[topic])
    except RecordError:
        reject()
    raw = encode(record)
    back = decode(RECORD_BY_TOPIC[topic], raw)
    assert back == record and encode(back) == raw
    jsonschema.Draft202012Validator(schema_of(topic)).validate(json.loads(raw))
