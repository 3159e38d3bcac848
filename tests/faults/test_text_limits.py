"""``--max-text-chars`` and ``--truncate-texts`` reach the classify step: a longer text is dead-lettered
with the reason, or cut to the limit and classified (even one over the schema's own 20,000 characters)."""

from __future__ import annotations

import json

from redline.schemas import DeadLetter, LabelResult, Prediction, decode
from redline.streams.settings import StreamSettings


def _value(text: str, i: str = "t1") -> bytes:
    return json.dumps({"id": i, "text": text}).encode()


async def _classify(world, msg, tmp_path, value: bytes, **limits) -> dict[str, list]:
    world.worker.settings = StreamSettings(data_dir=tmp_path / "w", **limits)
    await (await world.worker.classify_batch([msg(value, b"t1")]))
    by_topic: dict[str, list] = {}
    for item in world.sent:
        by_topic.setdefault(item.topic, []).append(item.value)
    return by_topic


async def test_a_text_over_the_limit_is_dead_lettered_with_the_reason(world, msg, tmp_path) -> None:
    sent = await _classify(world, msg, tmp_path, _value("clear weather " + "y" * 30), max_text_chars=20)
    assert set(sent) == {"deadletter"}
    [letter] = [decode(DeadLetter, v) for v in sent["deadletter"]]
    assert letter.id == "t1" and letter.stage == "classify"
    assert "44 characters" in letter.reason and "20" in letter.reason and "\n" not in letter.reason


async def test_a_text_at_the_limit_is_classified(world, msg, tmp_path) -> None:
    sent = await _classify(world, msg, tmp_path, _value("clear weather"), max_text_chars=13)
    [result] = [decode(LabelResult, v) for v in sent["labels"]]
    assert result.text == "clear weather" and "deadletter" not in sent


async def test_with_truncation_a_long_text_is_cut_to_the_limit(world, msg, tmp_path) -> None:
    sent = await _classify(
        world, msg, tmp_path, _value("clear weather" + "y" * 30), max_text_chars=13, truncate_texts=True
    )
    [result] = [decode(LabelResult, v) for v in sent["labels"]]
    [prediction] = [decode(Prediction, v) for v in sent["predictions"]]
    assert result.text == prediction.text == "clear weather" and result.label == "weather"


async def test_truncation_reaches_texts_over_the_schema_limit_too(world, msg, tmp_path) -> None:
    value = _value("clear weather" + "z" * 25_000)
    sent = await _classify(world, msg, tmp_path, value, max_text_chars=13, truncate_texts=True)
    [result] = [decode(LabelResult, v) for v in sent["labels"]]
    assert result.text == "clear weather" and "deadletter" not in sent


async def test_truncation_does_not_rescue_other_defects(world, msg, tmp_path) -> None:
    bad = [b'{"id": "t1", "text": 5}', b'{"id": "t1", "text": "\\ud800' + b"y" * 40 + b'"}', b"{nope"]
    for value in bad:
        world.sent.clear()
        sent = await _classify(world, msg, tmp_path, value, max_text_chars=13, truncate_texts=True)
        assert set(sent) == {"deadletter"}, value
