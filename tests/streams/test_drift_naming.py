"""The leader's new-intent watch names a suggested label with the worker's LLM judge, never with the
simulated expert; a naming failure still publishes the suggestion (named from its words)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import numpy as np

from redline.core.new_intents import IntentSuggestion
from redline.streams.drift_watch import DriftWatch
from redline.streams.intent_watch import NewIntentWatch, llm_namer

TEXTS = ("how long until my replacement card arrives", "when will the new card come", "replacement card eta")


def _suggestion() -> IntentSuggestion:
    return IntentSuggestion(1, 8, 0.8, ("a", "b", "c"), TEXTS, np.ones((3, 4), dtype=np.float32), 8)


def _published(world) -> list[dict]:
    return [json.loads(o.value) for o in world.sent if o.topic == "events"]


class FakeLLM:
    """The boundary: an OpenAI judge's ``complete`` that answers (or fails) as told."""

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.asked: list[list[dict[str, str]]] = []

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 80) -> str:
        self.asked.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


async def _suggest(world) -> NewIntentWatch:
    async def write(topic, records):  # the control-plane producer's place: events go where results go
        await world.worker.send([SimpleNamespace(topic="events", key=k, value=v) for k, v in records])
        return list(range(len(records)))

    world.worker.write = write
    drift = DriftWatch(SimpleNamespace(worker=world.worker, info=None))
    assert drift.intents is not None  # new-intent suggestions are on by default
    await drift.intents._suggest(_suggestion())
    await drift.intents.stop()  # waits for the naming tasks
    return drift.intents


def test_the_simulated_expert_is_never_asked_to_name(world) -> None:
    assert llm_namer(world.worker) is None
    asyncio.run(_suggest(world))
    [event] = _published(world)
    assert event["kind"] == "new_label_suggested"
    assert event["details"]["named_by"] == "words"
    assert "not an LLM" in event["details"]["naming"]["note"]
    assert event["details"]["command"]["label"] == event["labels"][0] == "new_card_replacement"


def test_an_llm_judge_names_and_describes_the_label(world) -> None:
    llm = FakeLLM('{"name": "Card Delivery Time", "description": "When a replacement card arrives."}')
    world.worker.judge, world.worker.judge_name = llm, "openai:judge"
    asyncio.run(_suggest(world))
    [event] = _published(world)
    assert len(llm.asked) == 1 and TEXTS[0] in llm.asked[0][1]["content"]
    assert event["labels"] == ["card_delivery_time"] and event["details"]["named_by"] == "llm"
    command = event["details"]["command"]
    assert command == {"command": "add_label", "label": "card_delivery_time", "examples": list(TEXTS),
                       "description": "When a replacement card arrives."}  # fmt: skip
    assert world.worker.metrics.value("redline_drift_events_total", {"kind": "new_label_suggested"}) == 1


def test_a_failing_llm_still_publishes_the_suggestion(world) -> None:
    world.worker.judge, world.worker.judge_name = FakeLLM(TimeoutError("read timed out")), "openai:judge"
    asyncio.run(_suggest(world))
    [event] = _published(world)
    assert event["labels"] == ["new_card_replacement"] and event["details"]["named_by"] == "words"
    assert event["details"]["naming"]["note"] == "the LLM call failed: TimeoutError: read timed out"


def test_the_watch_follows_the_subsets_of_the_deciding_model(world) -> None:
    """``--config as-written`` models partition their labels: each subset becomes a scope of its own,
    and a newly installed model's partition replaces the old one."""
    watch = DriftWatch(SimpleNamespace(worker=world.worker, info=None))
    watch.follow_subsets()
    assert watch.monitor.groups == {}  # the flat model of the world: labels and "all" only
    labels = list(world.worker.engine.classes)
    partitioned = SimpleNamespace(partition_=SimpleNamespace(subsets_=[labels[:2], labels[2:]]))
    world.worker.engine = SimpleNamespace(model=partitioned, classes=labels)
    watch.follow_subsets()
    assert watch.monitor.groups == {labels[0]: "0", labels[1]: "0", **{lab: "1" for lab in labels[2:]}}
