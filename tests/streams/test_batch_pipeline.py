"""BatchPipeline: batches classified in order, acknowledged only once their outputs are delivered."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from redline.streams.delivery import BatchPipeline


class _Message:
    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.refs = 1

    def incref(self) -> None:
        self.refs += 1


def _events(*offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(message=_Message(o)) for o in offsets]


async def test_acknowledges_a_batch_only_after_its_delivery() -> None:
    acked: list[int] = []
    delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def step(messages):
        return delivery

    async def ack(event):
        acked.append(event.message.offset)

    pipeline = BatchPipeline(step, ack)
    events = _events(0, 1, 2)
    await pipeline.submit(events)
    assert all(e.message.refs == 2 for e in events)  # Faust's own ack of the batch is not the final one
    await asyncio.sleep(0.01)
    assert acked == []  # classified and handed over, not yet on the broker
    delivery.set_result(None)
    await pipeline.drain()
    assert acked == [0, 1, 2]


async def test_ordered_steps_run_one_after_the_other_in_order() -> None:
    running: list[int] = []
    order: list[int] = []

    async def step(messages):
        first = messages[0].offset
        running.append(first)
        assert len(running) == 1, "two classification steps at once"
        await asyncio.sleep(0.005 * (3 - first % 3))  # later batches are quicker: order must still hold
        order.append(first)
        running.remove(first)
        return asyncio.sleep(0)

    async def ack(event):
        pass

    pipeline = BatchPipeline(step, ack, depth=10)
    for k in range(6):
        await pipeline.submit(_events(k))
    await pipeline.drain()
    assert order == list(range(6))


async def test_unordered_steps_overlap() -> None:
    at_once = 0
    most = 0

    async def step(messages):
        nonlocal at_once, most
        at_once += 1
        most = max(most, at_once)
        await asyncio.sleep(0.02)
        at_once -= 1
        return asyncio.sleep(0)

    async def ack(event):
        pass

    pipeline = BatchPipeline(step, ack, depth=8, ordered=False)
    for k in range(5):
        await pipeline.submit(_events(k))
    await pipeline.drain()
    assert most >= 3


async def test_a_failed_delivery_leaves_its_events_unacknowledged_and_is_raised() -> None:
    acked: list[int] = []

    async def failed():
        raise ConnectionError("broker gone")

    async def step(messages):
        return asyncio.ensure_future(failed()) if messages[0].offset == 1 else asyncio.sleep(0)

    async def ack(event):
        acked.append(event.message.offset)

    pipeline = BatchPipeline(step, ack, depth=2)
    await pipeline.submit(_events(0))
    await pipeline.submit(_events(1))
    with pytest.raises(ConnectionError):
        await pipeline.submit(_events(2))
        await pipeline.drain()
    assert 1 not in acked and 0 in acked


@pytest.mark.parametrize("failing", ["step", "prepare"])
async def test_a_failed_step_is_raised_and_the_next_batch_still_runs(failing: str) -> None:
    acked: list[int] = []

    async def prepare(messages):
        if failing == "prepare" and messages[0].offset == 0:
            raise RuntimeError("embedding failed")
        return messages

    async def step(messages):
        if failing == "step" and messages[0].offset == 0:
            raise RuntimeError("embedding failed")
        return asyncio.sleep(0)

    async def ack(event):
        acked.append(event.message.offset)

    pipeline = BatchPipeline(step, ack, depth=5, prepare=prepare if failing == "prepare" else None)
    await pipeline.submit(_events(0))
    await pipeline.submit(_events(1))
    with pytest.raises(RuntimeError):
        await pipeline.drain()
    await pipeline.drain()
    assert acked == [1]  # the failed batch's events keep their reference: their offsets are not committed


async def test_prepared_batches_overlap_and_their_steps_stay_in_order() -> None:
    preparing = 0
    most = 0
    order: list[int] = []

    async def prepare(messages):
        nonlocal preparing, most
        preparing += 1
        most = max(most, preparing)
        first = messages[0].offset
        await asyncio.sleep(0.005 * (4 - first % 4))  # later batches are quicker: order must still hold
        preparing -= 1
        return ("embedded", first)

    running: list[int] = []

    async def step(work):
        kind, first = work
        assert kind == "embedded"
        running.append(first)
        assert len(running) == 1, "two ordered steps at once"
        await asyncio.sleep(0.001)
        order.append(first)
        running.remove(first)
        return asyncio.sleep(0)

    acked: list[int] = []

    async def ack(event):
        acked.append(event.message.offset)

    pipeline = BatchPipeline(step, ack, depth=3, prepare=prepare)
    for k in range(8):
        await pipeline.submit(_events(k))
    await pipeline.drain()
    assert most >= 2  # batches were prepared at once
    assert order == list(range(8)) and acked == list(range(8))


async def test_a_failed_step_is_logged_at_once_even_with_no_next_batch(caplog) -> None:
    """The agent raises a failed batch's error at its next submit; with no further texts that may be
    much later, so the failure is logged when it happens."""

    async def prepare(messages):
        raise RuntimeError("embedding failed")

    async def step(messages):  # pragma: no cover - never reached
        return asyncio.sleep(0)

    async def ack(event):  # pragma: no cover - never reached
        raise AssertionError

    pipeline = BatchPipeline(step, ack, depth=5, prepare=prepare)
    with caplog.at_level("ERROR", logger="redline.streams.delivery"):
        await pipeline.submit(_events(0, 1))
        await asyncio.sleep(0.01)  # no next batch
        assert any("a batch of 2 texts failed" in r.message and "embedding failed" in r.message
                   for r in caplog.records)  # fmt: skip
    with pytest.raises(RuntimeError):
        await pipeline.drain()
