"""``redline control``: local checks (nothing sent), the answer's line and exit code, then a real broker.

The unit tests replace :func:`redline.commands.deployment_client.send_command` (the Kafka boundary);
the integration tests send through a real broker, where a small responder plays the deployment's leader.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from redline.cli import main
from redline.commands import deployment_client, judge_options
from redline.commands.deployment_client import Answer
from redline.judge.openai_judge import OpenAIJudge
from redline.judge.settings import JudgeSettings
from redline.schemas import ControlCommand, Event, decode, encode
from redline.streams.clients import collect, produce
from redline.streams.settings import StreamSettings, TopicNames
from redline.streams.topics import ensure_topics_sync
from redline.testing.openai_mock import Reply, ScriptedEndpoint


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("redline: error: ")
    return err[0].removeprefix("redline: error: ")


class _FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


class Deployment:
    """Stands in for the Kafka boundary: records each command and answers as told."""

    def __init__(self, answer: Callable[[ControlCommand], Event | None] | None = None) -> None:
        self.sent: list[tuple[StreamSettings, ControlCommand, float | None]] = []
        self.answer = answer

    async def send_command(
        self, settings: StreamSettings, command: ControlCommand, *, wait_s: float | None
    ) -> Answer:
        self.sent.append((settings, command, wait_s))
        event = self.answer(command) if self.answer and wait_s is not None else None
        version = event.model_version if event is not None else None
        return Answer(settings.topics.control, 0, 7, event=event, model_version=version)


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Deployment:
    fake = Deployment()
    monkeypatch.setattr(deployment_client, "send_command", fake.send_command)
    for name in ("REDLINE_BOOTSTRAP", "REDLINE_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    return fake


def _event(command: ControlCommand, kind: str, reason: str, version: str | None = "v42") -> Event:
    return Event(
        id=uuid.uuid4().hex, kind=kind, subject=command.command, reason=reason,  # type: ignore[arg-type]
        command_id=command.id, model_version=version, at=time.time(),
    )  # fmt: skip


# -- local checks: one line, exit 2, nothing sent ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add-label", "--example", "a b", "--example", "c d"], "add-label needs --label (not empty)"),
        (["add-label", "--label", " ", "--example", "a", "--example", "b"], "add-label needs --label"),
        (["add-label", "--label", "x", "--example", "a b"], "add_label needs at least 2 non-empty examples"),
        (["add-label", "--label", "x", "--example", "a", "--example", "  "], "at least 2 non-empty examples"),
        (["add-label", "--label", "x"], "at least 2 non-empty examples"),
        (["update-description", "--label", "x"], "update-description needs --description"),
        (["update-description", "--description", "d"], "update-description needs --label"),
        (["remove-label"], "remove-label needs --label"),
        (["set-policy"], "set-policy needs at least one of --judge-share, --threshold, --max-candidates"),
        (["set-policy", "--threshold", "1.5"], "threshold must be a number in [0, 1] or null, got 1.5"),
        (["set-policy", "--threshold", "high"], "--threshold: not a number or none: 'high'"),
        (["set-policy", "--judge-share", "-0.1"], "judge_share must be a number in [0, 1], got -0.1"),
        (["set-policy", "--judge-share", "nan"], "judge_share: Input should be a finite number"),
        (["set-policy", "--max-candidates", "2.5"], "--max-candidates: not an integer: '2.5'"),
        (["set-policy", "--max-candidates", "0"], "max_candidates must be an integer in 1..50, got 0"),
        (["set-policy", "--context-examples", "21"], "context_examples must be an integer in 0..20, got 21"),
        (["retrain", "--id", ""], "$.id: String should have at least 1 character"),
        (["retrain", "--bootstrap", "no-port"], "--bootstrap='no-port' must look like host:port"),
        (["retrain", "--topic-prefix", "a b"], "may hold only letters, digits"),
    ],
)
def test_a_bad_command_is_one_line_exit_2_and_nothing_is_sent(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["control", *argv]) == 2
    assert message in _one_error_line(capsys)
    assert deployment.sent == []


def test_examples_file_problems_name_the_file_and_line(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"text": "a b"}\n{"text": \n')
    assert main(["control", "add-label", "--label", "x", "--examples", str(bad)]) == 2
    assert _one_error_line(capsys).startswith(f"{bad}:2: invalid JSON")
    other = tmp_path / "y.jsonl"
    other.write_text('{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"}\n')
    assert main(["control", "add-label", "--label", "x", "--examples", str(other)]) == 2
    assert _one_error_line(capsys) == f"{other}:2: label 'y' is not --label 'x'"
    missing = tmp_path / "none.jsonl"
    assert main(["control", "add-label", "--label", "x", "--examples", str(missing)]) == 2
    assert _one_error_line(capsys) == f"{missing}: no such file"
    assert deployment.sent == []


def test_a_command_larger_than_a_kafka_message_is_refused(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = [arg for i in range(60) for arg in ("--example", f"{i} " + "word " * 3999)]
    assert main(["control", "add-label", "--label", "x", *examples]) == 2
    assert "bytes, over the 1000000 a Kafka message takes by default" in _one_error_line(capsys)
    assert deployment.sent == []


def test_describe_and_description_exclude_each_other(deployment: Deployment) -> None:
    argv = ["control", "add-label", "--label", "x", "--description", "d", "--describe"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--example", "a", "--example", "b"])
    assert exc.value.code == 2
    assert deployment.sent == []


# -- the command sent, the answer printed ------------------------------------------------------------


def test_add_label_takes_examples_from_flags_and_stdin(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "sys.stdin", _FakeStdin(b'{"text": "third one"}\n\n{"text": "fourth", "label": "pets"}\n')
    )
    deployment.answer = lambda c: _event(c, "applied", f"added {c.label!r} with {len(c.examples)} examples")
    argv = ["control", "add-label", "--label", "pets", "--example", "my dog", "--example", "a cat"]
    code = main([*argv, "--examples", "-", "--description", "animals", "--id", "c1", "--timeout", "5"])
    assert code == 0
    assert capsys.readouterr().out == "applied: added 'pets' with 4 examples (v42)\n"
    [(settings, command, wait_s)] = deployment.sent
    assert command == ControlCommand(
        id="c1", command="add_label", label="pets", description="animals",
        examples=["my dog", "a cat", "third one", "fourth"],
    )  # fmt: skip
    assert wait_s == 5.0
    assert (settings.bootstrap, settings.topics.control) == ("127.0.0.1:9092", "redline.control")


def test_rejected_exits_1_and_json_prints_the_event(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.answer = lambda c: _event(c, "rejected", f"no label {c.label!r}", version="v3")
    assert main(["control", "remove-label", "--label", "ghost", "-b", "kafka:9093"]) == 1
    assert capsys.readouterr().out == "rejected: no label 'ghost'\n"
    assert main(["control", "remove-label", "--label", "ghost", "--json", "--topic-prefix", "t."]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["kind"] == "rejected" and printed["reason"] == "no label 'ghost'"
    assert printed["command_id"] == deployment.sent[-1][1].id
    assert deployment.sent[0][0].bootstrap == "kafka:9093"
    assert deployment.sent[1][0].topics.control == "t.control"
    first, second = (command.id for _, command, _ in deployment.sent)
    assert first != second and len(first) == 32  # a fresh uuid per command


def test_set_policy_values_and_info_answer(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.answer = lambda c: _event(c, "info", "already applied (same command id)")
    argv = ["control", "set-policy", "--threshold", "None", "--judge-share", "0.1", "--max-candidates", "4"]
    assert main([*argv, "--context-examples", "0"]) == 0
    assert capsys.readouterr().out == "info: already applied (same command id)\n"
    command = deployment.sent[0][1]
    assert command.policy == {
        "threshold": None,
        "judge_share": 0.1,
        "max_candidates": 4,
        "context_examples": 0,
    }
    assert main(["control", "set-policy", "--threshold", "0.35"]) == 0
    assert deployment.sent[1][1].policy == {"threshold": 0.35}


def test_no_answer_exits_3_and_says_what_to_check(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["control", "retrain", "--timeout", "0.5", "--id", "r1"]) == 3
    line = _one_error_line(capsys)
    assert line.startswith("no answer to command r1 on redline.events within 0.5 s")
    assert "is a worker running under the prefix 'redline.'?" in line
    assert "redline.control (partition 0, offset 7)" in line


def test_no_wait_sends_and_exits_0(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["control", "update-description", "--label", "x", "--description", "", "--no-wait", "--id", "u1"]
    assert main(argv) == 0
    assert (
        capsys.readouterr().out
        == "sent update_description 'x' as u1 to redline.control (partition 0, offset 7)\n"
    )
    [(_, command, wait_s)] = deployment.sent
    assert wait_s is None and command.description == ""
    assert main(["control", "retrain", "--no-wait", "--json", "--id", "r2"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "command_id": "r2", "topic": "redline.control", "partition": 0, "offset": 7,
    }  # fmt: skip


def test_describe_asks_the_llm_for_the_description(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://judge.test/v1")
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "judge")
    monkeypatch.delenv("REDLINE_DESCRIBE_MODEL", raising=False)
    scripted = ScriptedEndpoint(answer=lambda body: Reply('Description: "Texts about pets."', top=None))

    def make_judge(settings: JudgeSettings) -> OpenAIJudge:
        return OpenAIJudge(settings, http_client=scripted.client())

    monkeypatch.setattr(judge_options, "make_judge", make_judge)
    argv = [
        "control",
        "add-label",
        "--label",
        "pets",
        "--example",
        "my dog",
        "--example",
        "a cat",
        "--describe",
    ]
    assert main([*argv, "--describe-model", "bigger", "--no-wait"]) == 0
    assert deployment.sent[0][1].description == "Texts about pets."
    [body] = scripted.bodies
    assert body["model"] == "bigger" and "my dog" in body["messages"][1]["content"]

    scripted.answer = lambda body: Reply("", top=None)  # nothing usable: nothing is sent
    assert main([*argv, "--no-wait"]) == 2
    assert (
        _one_error_line(capsys) == "the LLM gave no usable description of 'pets': give one with --description"
    )
    assert len(deployment.sent) == 1


def test_an_unreachable_broker_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["control", "retrain", "--bootstrap", "127.0.0.1:1", "--timeout", "1"]) == 2
    assert _one_error_line(capsys).startswith("cannot reach Kafka at 127.0.0.1:1")


# -- through a real broker ------------------------------------------------------------------------------


def _deployed(bootstrap: str) -> tuple[list[str], TopicNames]:
    """The flags of a fresh topic prefix whose topics exist (as a worker or `redline fit --publish` makes
    them), and its topic names."""
    prefix = f"ctl{uuid.uuid4().hex[:8]}."
    ensure_topics_sync(StreamSettings(bootstrap=bootstrap, topic_prefix=prefix))
    return ["--bootstrap", bootstrap, "--topic-prefix", prefix], TopicNames.with_prefix(prefix)


class Responder:
    """Plays the leader in a thread: reads ``<prefix>control`` from its start, answers on ``<prefix>events``
    (every event of ``answer(command)``, in order)."""

    def __init__(
        self, bootstrap: str, topics: TopicNames, answer: Callable[[ControlCommand], list[Event]]
    ) -> None:
        self.bootstrap, self.topics, self.answer = bootstrap, topics, answer
        self.stop = threading.Event()
        self.seen: list[ControlCommand] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        reader = AIOKafkaConsumer(
            self.topics.control, bootstrap_servers=self.bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        writer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await reader.start()
        await writer.start()
        try:
            while not self.stop.is_set():
                for records in (await reader.getmany(timeout_ms=200)).values():
                    for record in records:
                        command = decode(ControlCommand, record.value)
                        self.seen.append(command)
                        for event in self.answer(command):
                            key = (event.command_id or event.id).encode()
                            await writer.send_and_wait(self.topics.events, encode(event), key=key)
        finally:
            await writer.stop()
            await reader.stop()


@pytest.fixture
def responders() -> Iterator[Callable[..., Responder]]:
    started: list[Responder] = []

    def start(
        bootstrap: str, topics: TopicNames, answer: Callable[[ControlCommand], list[Event]]
    ) -> Responder:
        responder = Responder(bootstrap, topics, answer)
        responder.thread.start()
        started.append(responder)
        return responder

    yield start
    for responder in started:
        responder.stop.set()
        responder.thread.join(timeout=30)


def _leader(labels: set[str]) -> Callable[[ControlCommand], list[Event]]:
    """Answers like the leader: first an unrelated command's event, then the model event, then the answer."""

    def answer(command: ControlCommand) -> list[Event]:
        other = replace(_event(command, "applied", "someone else's command", version="v1"), command_id="c0")
        if command.command == "add_label" and command.label in labels:
            return [other, _event(command, "rejected", f"label {command.label!r} already exists")]
        reason = f"added {command.label!r} with {len(command.examples)} examples"
        return [
            other,
            _event(command, "model", reason, version="v42"),
            _event(command, "applied", reason, None),
        ]

    return answer


@pytest.mark.integration
def test_the_command_lands_on_the_control_topic(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, topics = _deployed(kafka_bootstrap)
    argv = ["control", "add-label", "--label", "x", "--example", "a b", "--example", "c d", "--id", "c1"]
    assert main([*argv, "--no-wait", *deployment]) == 0
    assert capsys.readouterr().out.startswith(f"sent add_label 'x' as c1 to {topics.control} (partition ")
    got = asyncio.run(
        collect(kafka_bootstrap, [topics.control], lambda g: g.count(topics.control) >= 1, timeout_s=30)
    )
    [record] = got.records[topics.control]
    assert (record.key, record.partition) == (b"c1", 0)  # the partition the leader reads
    assert decode(ControlCommand, record.value) == ControlCommand(
        id="c1", command="add_label", label="x", examples=["a b", "c d"]
    )


@pytest.mark.integration
def test_the_leaders_answer_is_printed(
    kafka_bootstrap: str, responders: Callable[..., Responder], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, topics = _deployed(kafka_bootstrap)
    responder = responders(kafka_bootstrap, topics, _leader({"x"}))
    argv = ["control", "add-label", "--example", "a b", "--example", "c d", "--example", "e f", *deployment]
    argv += ["--timeout", "60"]
    assert main([*argv, "--label", "y"]) == 0
    assert (
        capsys.readouterr().out == "applied: added 'y' with 3 examples (v42)\n"
    )  # the model event's version
    assert main([*argv, "--label", "x", "--json"]) == 1
    event = json.loads(capsys.readouterr().out)
    assert (event["kind"], event["reason"]) == ("rejected", "label 'x' already exists")
    assert [c.label for c in responder.seen] == ["y", "x"]


@pytest.mark.integration
def test_without_a_leader_it_times_out_with_exit_3(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, topics = _deployed(kafka_bootstrap)
    argv = ["control", "retrain", *deployment, "--id", "r1"]
    assert main([*argv, "--timeout", "2"]) == 3
    assert _one_error_line(capsys).startswith(f"no answer to command r1 on {topics.events} within 2 s")


@pytest.mark.integration
def test_an_answer_from_before_the_command_is_not_taken(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, topics = _deployed(kafka_bootstrap)
    command = ControlCommand(id="early", command="retrain")
    stale = encode(_event(command, "applied", "refitted on 10 examples"))
    assert asyncio.run(produce(kafka_bootstrap, topics.events, [(b"early", stale)])) == 1
    argv = ["control", "retrain", *deployment, "--id", "early"]
    assert main([*argv, "--timeout", "2"]) == 3
    assert "no answer to command early" in _one_error_line(capsys)


@pytest.mark.integration
def test_a_prefix_without_a_deployment_is_refused(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"none{uuid.uuid4().hex[:8]}."
    assert main(["control", "retrain", "-b", kafka_bootstrap, "--topic-prefix", prefix]) == 2
    assert _one_error_line(capsys).startswith(
        f"no topic {prefix}control on {kafka_bootstrap}: nothing is deployed"
    )

    async def topics() -> Any:
        from aiokafka import AIOKafkaConsumer

        reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
        await reader.start()
        try:
            return await reader.topics()
        finally:
            await reader.stop()

    assert not {t for t in asyncio.run(topics()) if t.startswith(prefix)}  # nothing was created
