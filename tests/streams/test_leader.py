"""The leader's commands against a background refit (a command that changes the model drops a refit
started before it: its parameters would undo the change; a policy change keeps it), and the size of a
learning step.

A real worker of :mod:`stream_world` and a real model; the control-plane producer is a fake at the
boundary that only hands out offsets.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import numpy as np
import pytest
from stream_world import LABELS, make_world

from redline.schemas import ControlCommand, ExampleRecord, encode, encode_embedding
from redline.streams.leader import Leader
from redline.streams.leader_commands import apply_command
from redline.streams.model_topic import SnapshotInfo


class OffsetProducer:
    """Answers every send with the next offset (what ``send_and_wait`` returns that the leader reads)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None):
        self.sent.append((topic, key, value))
        return SimpleNamespace(offset=len(self.sent) - 1)


def _leader(world) -> Leader:
    world.worker.producer = OffsetProducer()
    leader = Leader(world.worker, lambda: True)
    leader.model = world.model.copy()
    leader.info = SnapshotInfo.new(examples_offset=0, control_offset=0, policy={})
    return leader


def _confirm(world, n: int) -> None:
    """``n`` judge-confirmed examples on the store (offsets 100 on), as the examples topic brings them."""
    rng = np.random.default_rng(0)
    for i in range(n):
        x = rng.normal(size=16).astype(np.float32)
        record = ExampleRecord(
            id=f"judged:t{i}", text=f"text {i}", label=LABELS[i % 4], source="validated",
            embedder="table@1", embedding=encode_embedding(x / np.linalg.norm(x)),
        )  # fmt: skip
        world.worker.store.apply(100 + i, record.id.encode(), encode(record))


@pytest.mark.parametrize(
    ("command", "dropped"),
    [
        (ControlCommand(id="c1", command="update_description", label="alarm", description="wake me"), True),
        (ControlCommand(id="c2", command="remove_label", label="alarm"), True),
        (ControlCommand(id="c3", command="set_policy", policy={"judge_share": 0.1}), False),
    ],
)
async def test_a_command_that_changes_the_model_drops_the_refit_running_meanwhile(
    world, command: ControlCommand, dropped: bool
) -> None:
    leader = _leader(world)
    running: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
    leader.refit_job = running
    await apply_command(leader, SimpleNamespace(value=encode(command), key=None, offset=0, partition=0))
    assert command.id in leader.info.applied_commands  # applied and published
    assert (leader.refit_job is None) is dropped
    if command.command == "update_description":
        assert leader.model.descriptions_["alarm"] == "wake me"


async def test_a_learning_step_learns_at_most_twice_learn_every_the_oldest_first(tmp_path) -> None:
    """Examples confirmed while the leader paused come in steps of at most 2 x learn_every (one step of
    1,307 at 1000 labels took 60 s and 1.1 GiB), oldest first; the rest in the next steps."""
    world = make_world(tmp_path, learn_every=2)
    try:
        leader = _leader(world)
        _confirm(world, 9)
        steps = []
        started = time.time()
        for _ in range(4):
            leader.last_update = time.monotonic() - 1000.0  # the pause is over
            before = leader.model.n_train_
            await leader._learn_if_due()
            steps.append((leader.model.n_train_ - before, leader.learned_offset))
        work = world.worker.stats_page()["model_work"]
    finally:
        world.worker.close()
    assert steps[:3] == [(4, 104), (4, 108), (1, 109)] and steps[3][0] == 0
    # the stats page shows each step and its publish: when, how long (what a latency is read against)
    assert [w["kind"] for w in work] == ["learn", "publish"] * 3
    # `at` is rounded to the millisecond: it may read a little before `started`
    assert all(started - 0.01 <= w["at"] <= time.time() and 0 <= w["seconds"] < 60 for w in work)


def test_the_classify_path_is_saturated_while_its_batches_come_full() -> None:
    from redline.streams.stats import ClassifyLoad

    load = ClassifyLoad()
    assert load.saturated_for(0.0) == 0.0  # no batch yet
    load.batch(64, 64, 10.0)
    load.batch(64, 64, 10.5)
    assert load.saturated_for(10.6) == pytest.approx(0.6)
    assert load.saturated_for(11.6) == 0.0  # no batch for over a second: the input ran dry
    load.batch(64, 64, 11.7)
    load.batch(20, 64, 11.8)  # closed on its timer, short: nothing was waiting
    assert load.saturated_for(11.9) == 0.0
    load.batch(64, 64, 12.0)
    assert load.saturated_for(12.5) == pytest.approx(0.5)  # counted from the new full batch


def test_a_learning_step_yields_to_the_classify_path_only_while_it_classifies() -> None:
    from redline.streams.stats import ClassifyLoad, YieldToClassify

    load = ClassifyLoad()
    started = time.monotonic() - 0.05  # the step computed for 50 ms so far
    idle = YieldToClassify(load, started, ratio=3.0)
    idle()  # nothing classified yet: no sleep
    assert idle.slept_s == 0.0
    load.batch(10, 64, time.monotonic())  # a batch just now: the stream is classifying
    busy = YieldToClassify(load, started, ratio=1.0)
    before = time.monotonic()
    busy()
    assert busy.slept_s >= 0.05  # as long as it computed (ratio 1)
    assert time.monotonic() - before >= 0.05
    assert busy.last >= before + 0.05  # the next pause counts from here
    busy.last = time.monotonic() - 10.0
    load.batch(10, 64, time.monotonic())
    slept = busy.slept_s
    busy()
    assert busy.slept_s - slept == pytest.approx(1.0)  # at most a second each time
    off = YieldToClassify(load, time.monotonic() - 0.05, ratio=0.0)
    off()  # --learn-yield 0: never sleeps
    assert off.slept_s == 0.0


async def test_a_due_learning_step_waits_for_a_burst_at_most_learn_defer_s(tmp_path) -> None:
    """While the leader's classify path is saturated a due step waits (the burst is classified first);
    it runs once a batch comes short, or after learn_defer_s whatever the load."""
    world = make_world(tmp_path, learn_every=2)
    try:
        leader = _leader(world)
        _confirm(world, 6)
        load, full = world.worker.load, world.worker.settings.batch_size

        async def step() -> int:
            leader.last_update = time.monotonic() - 1000.0  # the pause is over
            before = leader.model.n_train_
            await leader._learn_if_due()
            return leader.model.n_train_ - before

        load.batch(full, full, time.monotonic())
        assert await step() == 0  # saturated: deferred
        load.batch(full, full, time.monotonic())
        assert await step() == 0
        load.batch(1, full, time.monotonic())  # the burst is over
        assert await step() == 4
        load.batch(full, full, time.monotonic())
        assert await step() == 0  # the next step waits for the next burst
        leader.due_since = time.monotonic() - world.worker.settings.learn_defer_s  # ... learn_defer_s at most
        load.batch(full, full, time.monotonic())
        assert await step() == 2
    finally:
        world.worker.close()


async def test_catching_up_waits_for_the_store_to_reach_the_examples_topics_end(world) -> None:
    """The store reads the examples in batched fetches; before the drift watch relearns the examples of
    the results it read, the leader waits until the store holds what the broker holds now."""
    leader = _leader(world)
    end = 103  # the store holds none of 100-102 yet

    async def examples_end() -> int:
        return end

    world.worker.examples_end = examples_end

    async def arrive_late() -> None:
        await asyncio.sleep(0.3)
        _confirm(world, 3)  # offsets 100-102: the reader's next fetch

    late = asyncio.create_task(arrive_late())
    started = time.monotonic()
    await leader.catch_up_store(timeout_s=5.0)
    assert world.worker.store.next_offset >= end
    assert 0.25 <= time.monotonic() - started < 2.0
    await late
    started = time.monotonic()
    await leader.catch_up_store(timeout_s=5.0)  # there already: at once (not after its 5 s timeout)
    assert time.monotonic() - started < 0.5
    end = 10_000
    await leader.catch_up_store(timeout_s=0.2)  # never reached: gives up after its timeout
    assert world.worker.store.next_offset < end


async def test_catching_up_goes_on_when_the_broker_cannot_say_where_the_examples_end(world) -> None:
    leader = _leader(world)

    async def unreachable() -> int:
        raise ConnectionError("no broker")

    world.worker.examples_end = unreachable
    started = time.monotonic()
    await leader.catch_up_store(timeout_s=5.0)  # logged; the relearn goes on with what the store holds
    assert time.monotonic() - started < 1.0  # at once, not after its 5 s timeout
