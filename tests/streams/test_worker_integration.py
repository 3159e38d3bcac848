"""A real worker process against a real broker: every valid id gets exactly one result.

Produces CLINC150 test texts plus malformed messages to ``<prefix>texts``, runs ``redline worker``
as a subprocess (its own web port, a simulated expert as judge, real MiniLM embeddings and a real
model fitted on a small seed set), and reads ``<prefix>labels`` and ``<prefix>deadletter``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from worker_processes import Fitted, fit_folder, page, start_worker, stop, wait_for

from redline.schemas import SCHEMA_DIR, DeadLetter, Event, ExampleRecord, LabelResult, TextIn, decode
from redline.streams.clients import Collected, collect, produce, text_messages
from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

N_CLASSES = 8


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """A real model fitted on a small CLINC150 seed set of 8 labels; the judge's truth file also knows
    a 9th label, the one the control test adds at run time."""
    return fit_folder(tmp_path_factory.mktemp("fitted"), n_classes=N_CLASSES)


def _start_worker(fitted, bootstrap, prefix, app_id, tmp, log_name, *extra, threshold="0.3"):
    return start_worker(fitted, bootstrap, prefix, app_id, tmp, log_name.removesuffix(".log"), *extra,
                        threshold=threshold)  # fmt: skip


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    return stop(proc, sig)


async def _wait_for_topics(bootstrap: str, topic: str, worker: subprocess.Popen, log: Path) -> None:
    """Wait until the worker has created its topics (it does so before joining the group)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(600):
            if topic in await admin.list_topics():
                return
            if worker.poll() is not None:
                raise AssertionError(log.read_text(errors="replace")[-3000:])
            await asyncio.sleep(0.5)
        raise AssertionError("the worker never created its topics")
    finally:
        await admin.close()


def _texts(run: str, test: list, n: int) -> tuple[list[TextIn], dict[str, str]]:
    texts = [TextIn(id=f"{run}-{i}", text=e.text, metadata={"i": i}) for i, e in enumerate(test[:n])]
    return texts, {t.id: str(e.label) for t, e in zip(texts, test, strict=False)}


MALFORMED: tuple[tuple[bytes, bytes | None, str], ...] = (
    (b"bad-json", b'{"id": "bad-json", "text": ', "invalid JSON"),
    (b"bad-utf8", b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"no-text", b'{"id": "no-text"}', "missing required field 'text'"),
    (b"empty-text", b'{"id": "empty-text", "text": "  "}', "must hold a non-space character"),
    (b"future", b'{"id": "future", "text": "hi", "schema_version": 99}', "schema_version 99"),
    (b"tombstone", None, "no value"),
)


def test_worker_one_result_per_valid_id_and_dead_letters(kafka_bootstrap, fitted, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"it{run}."
    topics = TopicNames.with_prefix(prefix)
    texts, truth = _texts(run, fitted.test, 64)
    # wave 1: texts with malformed messages mixed in; wave 2 only after the model has learned
    wave1: list[tuple[bytes | None, bytes | None]] = list(text_messages(texts[:24]))
    wave1 += [(key, value) for key, value, _ in MALFORMED]
    wave1 += text_messages(texts[24:40])
    wave2 = text_messages(texts[40:])

    worker = _start_worker(
        fitted, kafka_bootstrap, prefix, f"redline-it-{run}", tmp_path, "worker.log", "--learn-every", "4",
        "--judge-share", "0.3", threshold=None,
    )  # fmt: skip
    watched = [topics.labels, topics.deadletter, topics.events]
    try:
        asyncio.run(_wait_for_topics(kafka_bootstrap, topics.texts, worker, tmp_path / "worker.log"))
        assert asyncio.run(produce(kafka_bootstrap, topics.texts, wave1)) == len(wave1)

        def learned_once(got: Collected) -> bool:
            return got.count(topics.events) > 0 or worker.poll() is not None

        asyncio.run(collect(kafka_bootstrap, watched, learned_once, timeout_s=600))
        first_update = decode(
            Event,
            asyncio.run(collect(kafka_bootstrap, [topics.events], learned_once, timeout_s=60))
            .records[topics.events][0]
            .value,
        )
        # the worker swaps in the snapshot it published (within seconds) before wave 2 goes in
        wait_for(worker, lambda s: int(s["model_version"][1:]) >= int(first_update.model_version[1:]), 30)
        assert asyncio.run(produce(kafka_bootstrap, topics.texts, wave2)) == len(wave2)

        def done(got: Collected) -> bool:
            return (
                len({r.key for r in got.records[topics.labels]}) >= len(texts)
                and got.count(topics.deadletter) >= len(MALFORMED)
            ) or worker.poll() is not None

        asyncio.run(collect(kafka_bootstrap, watched, done, timeout_s=600))
        # read everything again after a pause, so late duplicates would show up
        internal = [topics.predictions, topics.judge_requests, topics.judge_verdicts]
        internal += [topics.examples]
        got = asyncio.run(collect(kafka_bootstrap, watched + internal, lambda _: False, timeout_s=3))
        stats = page(worker)
    finally:
        code = _stop(worker)
    # every record the worker wrote, on every topic, is valid against the exported JSON Schema
    for topic in watched + internal:
        suffix = topic.removeprefix(prefix)
        schema = json.loads((SCHEMA_DIR / f"redline.{suffix}.schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema)
        for record in got.records[topic]:
            errors = [e.message for e in validator.iter_errors(json.loads(record.value))]
            assert not errors, (topic, errors)
    assert got.count(topics.predictions) == len(texts)
    assert got.count(topics.judge_verdicts) == 0 < got.count(topics.judge_requests)  # resolved in place
    assert stats["sent"]["labels"] == len(texts) and stats["sent"]["deadletter"] == len(MALFORMED)
    assert stats["learned"] > 0 and stats["judge"] == "simulated:0.95" and stats["leader"]
    # the judge budget: about 30 % of the texts (the most uncertain) went to the judge, warm-started
    routing = stats["routing"]
    assert routing["texts"] == len(texts) and routing["target_share"] == 0.3 and routing["warm_start"]
    assert abs(routing["judge_share"] - 0.3) <= 0.1, routing  # 64 texts: binomial sd about 0.057
    first_asks = [r for r in got.records[topics.judge_requests] if json.loads(r.value)["index"] == 0]
    assert routing["judge_asked"] == len(first_asks)
    output = (tmp_path / "worker.log").read_text(errors="replace")
    results = [decode(LabelResult, r.value) for r in got.records[topics.labels]]
    assert Counter(r.id for r in results) == Counter(list(truth)), output[-3000:]  # exactly one per valid id
    # the walk goes on in place (--judge-questions-per-hop 5, --max-candidates 5): one request per judged
    # text, its first question; the results carry every attempt
    judged = [r for r in results if r.judge is not None]
    assert got.count(topics.judge_requests) == len(judged) == len(first_asks)
    assert sum(len(r.judge.attempts) for r in judged) >= len(judged)
    assert all(r.metadata == {"i": int(r.id.split("-")[1])} for r in results)

    letters = [decode(DeadLetter, r.value) for r in got.records[topics.deadletter]]
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
    # every judge-confirmed result put its example on <prefix>examples (seed examples are there too)
    examples = [decode(ExampleRecord, r.value) for r in got.records[topics.examples]]
    confirmed = {r.id for r in results if r.status in ("validated", "corrected")}
    assert {e.id.removeprefix("judged:") for e in examples if e.source != "seed"} == confirmed
    # --learn-every 4: the leader (this worker) learned them and published each update (a "model"
    # event); wave 2, sent once the first update was in use, was scored by an updated model
    events = [decode(Event, r.value) for r in got.records[topics.events]]
    learned = {e.model_version for e in events if e.kind == "model" and e.reason.startswith("learned")}
    assert learned and {e.kind for e in events} == {"model"}, events
    wave2_versions = {r.model_version for r in results if int(r.id.split("-")[1]) >= 40}
    assert all(int(v[1:]) >= int(first_update.model_version[1:]) for v in wave2_versions), wave2_versions
    assert stats["model_version"] in learned
    assert code == 0, output[-3000:]  # SIGTERM is a clean shutdown
    assert "Traceback" not in output, output[-3000:]

    # the learned model is on <prefix>models: a restarted worker resumes from it
    more, _ = _texts(f"{run}b", fitted.test[64:], 4)
    again = _start_worker(
        fitted, kafka_bootstrap, prefix, f"redline-it-{run}", tmp_path, "again.log", "--learn-every", "0"
    )
    try:
        version = wait_for(again, lambda s: s["ready"])["model_version"]
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(more)))
        ids = {t.id.encode() for t in more}
        final = asyncio.run(
            collect(
                kafka_bootstrap,
                [topics.labels],
                lambda g: ids <= {r.key for r in g.records[topics.labels]} or again.poll() is not None,
                timeout_s=600,
            )
        )
    finally:
        _stop(again)
    log = (tmp_path / "again.log").read_text(errors="replace")
    assert "already holds a model" in log and f"loaded {version}" in log, log[-3000:]
    assert int(version[1:]) >= int(stats["model_version"][1:])  # the newest published model
    resumed = [decode(LabelResult, r.value) for r in final.records[topics.labels] if r.key in ids]
    assert len(resumed) == len(more) and {r.model_version for r in resumed} == {version}


def test_no_id_is_lost_when_a_worker_is_killed(kafka_bootstrap, fitted, tmp_path) -> None:
    """SIGKILL a worker mid-stream; a new one (same group) finishes: every id ends with a result.

    Delivery is at least once: texts whose offsets were not committed before the kill are processed
    again, so an id may have a duplicate result. Here (fixed threshold, no learning, a deterministic
    simulated expert) duplicates must agree; with the judge budget or learning they may differ, which
    is why consumers keep the first per id.
    """
    run = uuid.uuid4().hex[:8]
    prefix = f"kill{run}."
    topics = TopicNames.with_prefix(prefix)
    texts, truth = _texts(run, fitted.test, 240)
    app_id = f"redline-kill-{run}"
    no_learning = ("--learn-every", "0")  # so that a re-processed text meets the same model
    first = _start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "first.log", *no_learning)
    try:
        asyncio.run(_wait_for_topics(kafka_bootstrap, topics.texts, first, tmp_path / "first.log"))
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(texts)))
        partial = asyncio.run(
            collect(kafka_bootstrap, [topics.labels], lambda g: g.count(topics.labels) >= 20, timeout_s=600)
        )
        assert partial.count(topics.labels) >= 20, (tmp_path / "first.log").read_text(errors="replace")[
            -3000:
        ]
    finally:
        _stop(first, signal.SIGKILL)
    killed_at = partial.count(topics.labels)
    second = _start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "second.log", *no_learning)
    try:

        def done(got: Collected) -> bool:
            return len({r.key for r in got.records[topics.labels]}) >= len(texts) or second.poll() is not None

        got = asyncio.run(collect(kafka_bootstrap, [topics.labels], done, timeout_s=600))
    finally:
        code = _stop(second)
    output = (tmp_path / "second.log").read_text(errors="replace")
    results = [decode(LabelResult, r.value) for r in got.records[topics.labels]]
    by_id: dict[str, list[LabelResult]] = {}
    for r in results:
        by_id.setdefault(r.id, []).append(r)
    assert set(by_id) == set(truth), output[-3000:]
    for rs in by_id.values():  # a re-processed text gets the same answer again
        assert len({(r.label, r.status) for r in rs}) == 1
    assert killed_at < len(texts), "the first worker finished before it was killed; the test proved nothing"
    assert code == 0, output[-3000:]


def test_a_label_added_through_control_is_used_at_once(kafka_bootstrap, fitted, tmp_path) -> None:
    """``add_label`` on <prefix>control: an applied event, then texts of the new label get it."""
    from redline.schemas import ControlCommand, encode

    run = uuid.uuid4().hex[:8]
    prefix = f"ctl{run}."
    topics = TopicNames.with_prefix(prefix)
    # no learning: the only new version is the command's, so every result must carry it
    worker = _start_worker(
        fitted, kafka_bootstrap, prefix, f"redline-ctl-{run}", tmp_path, "ctl.log", "--learn-every", "0"
    )
    command = ControlCommand(
        id=f"cmd-{run}", command="add_label", label=fitted.new_label, examples=fitted.new_examples
    )
    texts = [TextIn(id=f"{run}-{i}", text=t) for i, t in enumerate(fitted.new_test)]
    try:
        asyncio.run(_wait_for_topics(kafka_bootstrap, topics.control, worker, tmp_path / "ctl.log"))
        asyncio.run(produce(kafka_bootstrap, topics.control, [(command.id.encode(), encode(command))]))

        def answered(g: Collected) -> bool:
            return any(decode(Event, r.value).kind == "applied" for r in g.records[topics.events])

        got = asyncio.run(collect(kafka_bootstrap, [topics.events], answered, timeout_s=600))
        [event] = [
            e for e in (decode(Event, r.value) for r in got.records[topics.events]) if e.kind == "applied"
        ]
        assert event.command_id == command.id and event.model_version, event
        wait_for(worker, lambda s: s["model_version"] == event.model_version, 30)  # the new label is in use
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(texts)))
        got = asyncio.run(
            collect(
                kafka_bootstrap,
                [topics.labels],
                lambda g: (
                    len({r.key for r in g.records[topics.labels]}) >= len(texts) or worker.poll() is not None
                ),
                timeout_s=600,
            )
        )
    finally:
        code = _stop(worker)
    results = [decode(LabelResult, r.value) for r in got.records[topics.labels]]
    assert Counter(r.id for r in results) == Counter(t.id for t in texts)
    share = sum(r.label == fitted.new_label for r in results) / len(results)
    assert share > 0.6, Counter(r.label for r in results)
    assert {r.model_version for r in results} == {event.model_version}
    assert code == 0


@pytest.fixture(scope="module")
def llm_base_url(tmp_path_factory: pytest.TempPathFactory):
    """A real OpenAI-compatible endpoint: llama.cpp serving SmolLM2-135M as model ``judge``."""
    from redline.errors import LLMServerError
    from redline.testing.llm_server import LlamaServer, ensure_deps

    try:
        model = ensure_deps(python=sys.executable)
        server = LlamaServer(
            model, log_path=tmp_path_factory.mktemp("llm") / "server.log", die_with_parent=True
        )
        server.start(timeout=180.0)
    except LLMServerError as exc:
        pytest.fail(f"cannot provision the local LLM server (try `make llm-server-deps`): {exc}")
    try:
        yield server.base_url
    finally:
        server.stop()


def test_worker_with_a_real_llm_judge(kafka_bootstrap, fitted, llm_base_url, tmp_path, monkeypatch) -> None:
    """The judge path over real HTTP: every text is judged by an LLM and still ends exactly once.

    SmolLM2-135M answers "no" to almost everything, so most texts end unresolved: this checks the
    wiring (requests, parsing, candidate walk), not judge quality.
    """
    run = uuid.uuid4().hex[:8]
    prefix = f"llm{run}."
    topics = TopicNames.with_prefix(prefix)
    texts, _ = _texts(run, fitted.test, 6)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_base_url)
    monkeypatch.setenv("REDLINE_JUDGE_TIMEOUT_S", "120")
    worker = _start_worker(
        fitted, kafka_bootstrap, prefix, f"redline-llm-{run}", tmp_path, "llm.log",
        "--judge", "openai:judge", "--threshold", "0", "--max-candidates", "2", "--judge-concurrency", "2",
    )  # fmt: skip
    try:
        asyncio.run(_wait_for_topics(kafka_bootstrap, topics.texts, worker, tmp_path / "llm.log"))
        asyncio.run(produce(kafka_bootstrap, topics.texts, text_messages(texts)))
        got = asyncio.run(
            collect(
                kafka_bootstrap,
                [topics.labels],
                lambda g: (
                    len({r.key for r in g.records[topics.labels]}) >= len(texts) or worker.poll() is not None
                ),
                timeout_s=600,
            )
        )
    finally:
        code = _stop(worker)
    output = (tmp_path / "llm.log").read_text(errors="replace")
    results = [decode(LabelResult, r.value) for r in got.records[topics.labels]]
    assert Counter(r.id for r in results) == Counter(t.id for t in texts), output[-3000:]
    attempts = [a for r in results for a in (r.judge.attempts if r.judge else [])]
    assert all(r.judge is not None and r.judge.judge == "openai:judge" for r in results)
    assert len(attempts) >= len(texts)
    answered = [a for a in attempts if a.valid is not None]
    assert len(answered) >= 0.8 * len(attempts), [a.reason for a in attempts]
    assert all(a.latency_ms > 0 for a in answered)
    assert code == 0, output[-3000:]
