"""Signed snapshots on a real broker: a worker with a model secret refuses a snapshot signed otherwise."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from worker_processes import Fitted, fit_folder, page, start_worker, stop, wait_ready

from redline.adapters.model_files import read_model_folder
from redline.schemas import Event, decode
from redline.streams.clients import Collected, collect
from redline.streams.model_topic import SnapshotInfo, publish
from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    return fit_folder(tmp_path_factory.mktemp("signed"), n_classes=6)


async def _forge(bootstrap: str, topic: str, fitted: Fitted, key: bytes) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        params = read_model_folder(fitted.model_dir).model.params_state()
        info = SnapshotInfo.new(examples_offset=0, control_offset=0, policy={}, reason="forged")
        return (await publish(producer, topic, params, info, secret=key)).offset
    finally:
        await producer.stop()


def test_a_worker_refuses_a_snapshot_signed_with_another_key(kafka_bootstrap, fitted, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"sig{run}."
    topics = TopicNames.with_prefix(prefix)
    worker = start_worker(
        fitted, kafka_bootstrap, prefix, f"redline-sig-{run}", tmp_path, "w1",
        "--model-secret", "the deployment's key", "--learn-every", "0",
    )  # fmt: skip
    try:
        wait_ready(worker)
        version = page(worker)["model_version"]
        offset = asyncio.run(_forge(kafka_bootstrap, topics.models, fitted, b"an attacker's key"))

        def refused(got: Collected) -> bool:
            return any(decode(Event, r.value).subject == "model" for r in got.records[topics.events]
                       if decode(Event, r.value).kind == "rejected")  # fmt: skip

        got = asyncio.run(collect(kafka_bootstrap, [topics.events], refused, timeout_s=120))
        [event] = [
            e for e in (decode(Event, r.value) for r in got.records[topics.events])
            if e.kind == "rejected" and e.subject == "model"
        ]  # fmt: skip
        assert f"offset {offset}" in event.reason and "signature does not match" in event.reason
        assert "attacker" not in event.reason and "deployment's key" not in event.reason
        assert page(worker)["model_version"] == version  # it kept its model
    finally:
        stop(worker)
