"""Several workers, one deployment, on a real broker: state in Kafka, every worker in step.

Workers are real ``redline worker`` processes (MiniLM embeddings, a model fitted on a small CLINC150
seed set, a simulated expert as judge); texts go in and results come out through the real topics.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from worker_processes import Fitted, fit_folder, page, start_worker, stop, wait_for, wait_ready

from redline.schemas import ControlCommand, Event, LabelResult, TextIn, decode, encode
from redline.streams.clients import Collected, collect, produce, text_messages
from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]

# learning and drift handling off: versions change only by command, and no worker boosts the judge share
# of a drifting label (a boost is per worker, so two groups would route the same text differently)
NO_LEARNING = ("--learn-every", "0", "--no-drift")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    return fit_folder(tmp_path_factory.mktemp("fitted"), n_classes=12)


def _ids_done(topic: str, ids: set[bytes]):
    def done(got: Collected) -> bool:
        return ids <= {r.key for r in got.records[topic]}

    return done


def _control(bootstrap: str, topics: TopicNames, command: ControlCommand, timeout_s: float = 300) -> Event:
    """Send a command and wait for its applied / rejected event."""
    asyncio.run(produce(bootstrap, topics.control, [(command.id.encode(), encode(command))]))

    def answered(got: Collected) -> bool:
        return any(
            decode(Event, r.value).command_id == command.id and decode(Event, r.value).kind != "model"
            for r in got.records[topics.events]
        )

    got = asyncio.run(collect(bootstrap, [topics.events], answered, timeout_s=timeout_s))
    events = [decode(Event, r.value) for r in got.records[topics.events]]
    [event] = [e for e in events if e.command_id == command.id and e.kind != "model"]
    return event


def _describe(command_id: str, label: str, description: str) -> ControlCommand:
    return ControlCommand(id=command_id, command="update_description", label=label, description=description)


def test_without_a_published_model_or_a_folder_a_worker_says_so(kafka_bootstrap, tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "redline", "worker", "--bootstrap", kafka_bootstrap,
         "--topic-prefix", f"empty{uuid.uuid4().hex[:6]}.", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing is published" in lines[0] and "--model" in lines[0], proc.stderr


def test_three_workers_one_deployment(kafka_bootstrap, fitted, tmp_path) -> None:
    """Three workers on 4 partitions; the first publishes the folder, the others start from Kafka alone.
    Every id gets a result, the texts are spread over the workers, a label added mid-stream reaches every
    worker, and a worker started with only the broker address labels exactly as the running ones.

    Learning is off here (versions change only by command), so that the probe of another group, which
    reads the whole stream again, meets the same versions as the deployment did."""
    run = uuid.uuid4().hex[:8]
    prefix = f"dep{run}."
    topics = TopicNames.with_prefix(prefix)
    app_id = f"redline-dep-{run}"
    first = start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "w1", *NO_LEARNING)
    workers = [first]
    try:
        wait_ready(first)
        version = page(first)["model_version"]
        workers += [
            start_worker(
                fitted, kafka_bootstrap, prefix, app_id, tmp_path, f"w{i}", *NO_LEARNING, with_model=False
            )
            for i in (2, 3)
        ]
        for w in workers[1:]:
            wait_ready(w)
            assert page(w)["model_version"] == version  # started from the broker alone, same model
        texts = [TextIn(id=f"{run}-{i}", text=fitted.test[i % len(fitted.test)].text) for i in range(1000)]
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(texts)))
        ids = {t.id.encode() for t in texts}
        got = asyncio.run(
            collect(kafka_bootstrap, [topics.labels], _ids_done(topics.labels, ids), timeout_s=900)
        )
        results = [decode(LabelResult, r.value) for r in got.records[topics.labels] if r.key in ids]
        assert {r.id for r in results} == {t.id for t in texts}
        shares = [page(w)["texts"] for w in workers]
        assert sum(shares) >= len(texts) and sum(s > 0 for s in shares) >= 2, shares
        leaders = [page(w)["leader"] for w in workers]
        assert sum(leaders) == 1, leaders

        # add a label mid-deployment: every worker switches to the version that has it
        command = ControlCommand(
            id=f"add-{run}", command="add_label", label=fitted.new_label, examples=fitted.new_examples,
            description="a class added at run time",
        )  # fmt: skip
        event = _control(kafka_bootstrap, topics, command)
        assert event.kind == "applied", event
        added = event.model_version
        for w in workers:
            wait_for(
                w, lambda s, v=added: int(s["model_version"][1:]) >= int(v[1:]) and s["labels"] == 13, 30
            )
        new = [TextIn(id=f"{run}-new-{i}", text=t) for i, t in enumerate(fitted.new_test)]
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(new)))
        new_ids = {t.id.encode() for t in new}
        got = asyncio.run(
            collect(kafka_bootstrap, [topics.labels], _ids_done(topics.labels, new_ids), timeout_s=600)
        )
        labelled = [decode(LabelResult, r.value) for r in got.records[topics.labels] if r.key in new_ids]
        share = sum(r.label == fitted.new_label for r in labelled) / len(labelled)
        assert share > 0.6, Counter(r.label for r in labelled)
        assert all(int(r.model_version[1:]) >= int(added[1:]) for r in labelled)

        # a worker of its own group, started with only the broker address, labels like the deployment
        probe = start_worker(fitted, kafka_bootstrap, prefix, f"{app_id}-probe", tmp_path, "probe",
                             *NO_LEARNING, with_model=False)  # fmt: skip
        workers.append(probe)
        wait_ready(probe)
        now = page(workers[0])["model_version"]
        wait_for(probe, lambda s: s["model_version"] == now, 60)
        assert not page(probe)["leader"]  # it leads its own group, but the deployment belongs to the other
        again = [TextIn(id=f"{run}-again-{i}", text=t.text) for i, t in enumerate(fitted.test[:60])]
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(again)))
        again_ids = {t.id.encode() for t in again}

        def twice(got: Collected) -> bool:  # one result from the deployment, one from the probe's group
            counts = Counter(r.key for r in got.records[topics.labels] if r.key in again_ids)
            return len(counts) == len(again_ids) and min(counts.values()) >= 2

        got = asyncio.run(collect(kafka_bootstrap, [topics.labels], twice, timeout_s=900))
        by_id: dict[str, list[LabelResult]] = {}
        for r in got.records[topics.labels]:
            if r.key in again_ids:
                result = decode(LabelResult, r.value)
                by_id.setdefault(result.id, []).append(result)
        both = [rs for rs in by_id.values() if len(rs) == 2 and rs[0].model_version == rs[1].model_version]
        assert len(both) >= 30, {k: [(r.model_version, r.status) for r in v] for k, v in by_id.items()}
        for a, b in both:  # two groups, the same model: the same answer (embeddings of texts in other
            # batches differ in the last float bits, so probabilities agree to 1e-5, not bit for bit)
            assert (a.label, a.status) == (b.label, b.status)
            assert [c.label for c in a.candidates] == [c.label for c in b.candidates]
            assert [c.p for c in a.candidates] == pytest.approx([c.p for c in b.candidates], abs=1e-5)
    finally:
        codes = [stop(w) for w in workers]
    assert codes == [0] * len(workers)


def test_the_learning_worker_dies_and_another_takes_over(kafka_bootstrap, fitted, tmp_path) -> None:
    """SIGKILL the leader: another worker leads, applies the next command, and versions keep rising;
    remove_label then stops a label on every worker."""
    run = uuid.uuid4().hex[:8]
    prefix = f"lead{run}."
    topics = TopicNames.with_prefix(prefix)
    app_id = f"redline-lead-{run}"
    workers = [start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "a")]
    try:
        wait_ready(workers[0])
        workers.append(start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "b", with_model=False))
        wait_ready(workers[1])
        label = fitted.test[0].label
        first = _control(kafka_bootstrap, topics, _describe(f"d1-{run}", label, "one"))
        assert first.kind == "applied", first
        leader = next(w for w in workers if wait_for(w, lambda s: "leader" in s)["leader"])
        survivor = next(w for w in workers if w is not leader)
        stop(leader, 9)
        second = _control(kafka_bootstrap, topics, _describe(f"d2-{run}", label, "two"))
        assert second.kind == "applied", second
        assert int(second.model_version[1:]) > int(first.model_version[1:])
        assert wait_for(survivor, lambda s: s["leader"], 60)["leader"]

        gone = fitted.test[0].label
        removed = _control(
            kafka_bootstrap, topics, ControlCommand(id=f"rm-{run}", command="remove_label", label=gone)
        )
        assert removed.kind == "applied", removed
        wait_for(survivor, lambda s: s["labels"] == 11, 30)
        texts = [TextIn(id=f"{run}-{i}", text=e.text) for i, e in enumerate(fitted.test) if e.label == gone]
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(texts)))
        ids = {t.id.encode() for t in texts}
        got = asyncio.run(
            collect(kafka_bootstrap, [topics.labels], _ids_done(topics.labels, ids), timeout_s=600)
        )
        results = [decode(LabelResult, r.value) for r in got.records[topics.labels] if r.key in ids]
        assert results and all(r.label != gone for r in results)
        assert all(c.label != gone for r in results for c in r.candidates)  # never asked about either
    finally:
        for w in workers:
            stop(w)
