"""A real worker process against a real broker: every valid id gets exactly one result.

Produces CLINC150 test texts plus malformed messages to ``<prefix>texts``, runs ``redline worker``
as a subprocess (its own web port, a simulated expert as judge, real MiniLM embeddings and a real
model fitted on a small seed set), and reads ``<prefix>labels`` and ``<prefix>deadletter``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from redline.broker.ports import find_free_port
from redline.schemas import DeadLetter, LabelResult, TextIn, decode
from redline.streams.clients import collect, produce, text_messages
from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

N_CLASSES = 8
N_TEXTS = 48


def _fit_model(tmp: Path) -> tuple[Path, Path, list]:
    """Fit a real model on a small CLINC150 seed set; write it and the judge's truth file."""
    from redline.adapters.embedder import EmbeddingSettings
    from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig
    from redline.data import write_examples
    from redline.datasets import load_dataset, split_dataset

    split = split_dataset(load_dataset("clinc150"), seed_per_class=10, seed=0, max_classes=N_CLASSES)
    embedder = EmbeddingSettings.from_env().build()
    texts = [e.text for e in split.seed]
    X = embedder.encode(texts)
    model = RedClassifier(EngineConfig(seed=0)).fit(
        X, texts, [str(e.label) for e in split.seed], split.descriptions
    )
    model_dir = tmp / "model"
    FileSnapshotStore(model_dir).save("", Snapshot(model.to_state(), {"kind": "RedClassifier"}))
    truth = tmp / "truth.jsonl"
    write_examples(truth, split.test)
    return model_dir, truth, split.test


MALFORMED: list[tuple[bytes, bytes | None, str]] = [
    (b"bad-json", b'{"id": "bad-json", "text": ', "invalid JSON"),
    (b"bad-utf8", b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"no-text", b'{"id": "no-text"}', "missing required field 'text'"),
    (b"empty-text", b'{"id": "empty-text", "text": "  "}', "text must be a non-empty"),
    (b"future", b'{"id": "future", "text": "hi", "schema_version": 99}', "schema_version 99"),
    (b"tombstone", None, "no value"),
]


def test_worker_one_result_per_valid_id_and_dead_letters(kafka_bootstrap, tmp_path) -> None:
    model_dir, truth_file, test = _fit_model(tmp_path)
    run = uuid.uuid4().hex[:8]
    prefix = f"it{run}."
    topics = TopicNames.with_prefix(prefix)
    texts = [TextIn(id=f"{run}-{i}", text=e.text, metadata={"i": i}) for i, e in enumerate(test[:N_TEXTS])]
    truth = {t.id: str(e.label) for t, e in zip(texts, test, strict=False)}
    messages: list[tuple[bytes | None, bytes | None]] = list(text_messages(texts[: N_TEXTS // 2]))
    messages += [(key, value) for key, value, _ in MALFORMED]
    messages += text_messages(texts[N_TEXTS // 2 :])

    log = (tmp_path / "worker.log").open("wb")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "redline", "worker", "--model", str(model_dir), "--bootstrap", kafka_bootstrap,
         "--web-port", str(find_free_port()), "--topic-prefix", prefix, "--app-id", f"redline-it-{run}",
         "--judge", "simulated:0.95", "--judge-truth", str(truth_file), "--threshold", "0.3",
         "--batch-size", "16", "--batch-within", "0.2", "--data-dir", str(tmp_path / "worker")],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        asyncio.run(_wait_for_topics(kafka_bootstrap, topics.texts, worker, tmp_path))
        assert asyncio.run(produce(kafka_bootstrap, topics.texts, messages)) == len(messages)

        def done(got) -> bool:
            return (
                len({r.key for r in got.records[topics.labels]}) >= len(texts)
                and got.count(topics.deadletter) >= len(MALFORMED)
            ) or worker.poll() is not None

        got = asyncio.run(collect(kafka_bootstrap, [topics.labels, topics.deadletter], done, timeout_s=600))
        # give duplicates, if any, a moment to show up
        extra = asyncio.run(
            collect(kafka_bootstrap, [topics.labels, topics.deadletter], lambda _: False, timeout_s=3)
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
            code = worker.wait()
        log.close()
    output = (tmp_path / "worker.log").read_text(errors="replace")
    assert worker.returncode is not None
    results = [decode(LabelResult, r.value) for r in extra.records[topics.labels]]
    assert len(results) >= len(got.records[topics.labels]), output[-3000:]
    assert Counter(r.id for r in results) == Counter(list(truth)), output[-3000:]  # exactly one per valid id
    assert all(r.metadata == {"i": int(r.id.split("-")[1])} for r in results)

    letters = [decode(DeadLetter, r.value) for r in extra.records[topics.deadletter]]
    assert len(letters) == len(MALFORMED)
    by_key = {base64.b64decode(d.key_b64 or ""): d for d in letters}
    for key, value, reason in MALFORMED:
        letter = by_key[key]
        assert reason in letter.reason
        assert base64.b64decode(letter.original_b64) == (value or b"")
        assert letter.topic == topics.texts and letter.stage == "classify"

    statuses = Counter(r.status for r in results)
    assert statuses["accepted"] > 0 and (statuses["validated"] + statuses["corrected"]) > 0, statuses
    labelled = [r for r in results if r.label is not None]
    accuracy = sum(r.label == truth[r.id] for r in labelled) / len(labelled)
    assert accuracy > 0.8, (accuracy, statuses)
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]


async def _wait_for_topics(bootstrap: str, topic: str, worker: subprocess.Popen, tmp: Path) -> None:
    """Wait until the worker has created its topics (it does so before joining the group)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(600):
            if topic in await admin.list_topics():
                return
            if worker.poll() is not None:
                raise AssertionError((tmp / "worker.log").read_text(errors="replace")[-3000:])
            await asyncio.sleep(0.5)
        raise AssertionError("the worker never created its topics")
    finally:
        await admin.close()
