"""The leader's commands against a background refit: a command that changes the model drops a refit
started before it (its parameters would undo the change); a policy change keeps it.

A real worker of :mod:`stream_world` and a real model; the control-plane producer is a fake at the
boundary that only hands out offsets.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from redline.schemas import ControlCommand, encode
from redline.streams.leader import Leader
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
    await leader._command(SimpleNamespace(value=encode(command), key=None, offset=0, partition=0))
    assert command.id in leader.info.applied_commands  # applied and published
    assert (leader.refit_job is None) is dropped
    if command.command == "update_description":
        assert leader.model.descriptions_["alarm"] == "wake me"
