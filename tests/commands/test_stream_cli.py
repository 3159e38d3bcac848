"""``redline stream send|results``: strict input checks, then a round trip through a real broker."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import pytest

from redline.cli import main
from redline.commands.stream import read_texts
from redline.schemas import Candidate, LabelResult, TextIn, decode, encode
from redline.streams.clients import collect, produce
from redline.streams.settings import TopicNames


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"text": "ok"}\n{"text": \n', "t.jsonl:2: invalid JSON"),
        (b'{"text": "ok"}\n{"id": "x"}\n', "t.jsonl:2: $: missing required field 'text'"),
        (b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "t.jsonl:2: id 'a' repeats line 1"),
        (b"\n\n", "t.jsonl: file is empty"),
        (b"\xff", "t.jsonl:1: invalid UTF-8 (byte 0xff at column 1)"),
        (b'{"text": "ok"}\n["x"]\n', "t.jsonl:2: expected a JSON object, got list"),
    ],
)
def test_send_refuses_a_bad_file_before_sending_anything(tmp_path, capsys, content, message) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    # an unreachable broker: the file is refused before any connection is tried
    assert main(["stream", "send", "--in", str(path), "--bootstrap", "127.0.0.1:1"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert message in line


class _FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


def test_send_reads_stdin_by_default_and_names_it_in_errors(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", _FakeStdin(b'{"text": "ok"}\n{"text": \n'))
    assert main(["stream", "send", "--bootstrap", "127.0.0.1:1"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("redline: error: <stdin>:2: invalid JSON")


def test_texts_from_stdin_get_stdin_ids(monkeypatch) -> None:
    lines = b'{"text": "a"}\n\n{"id": "own", "text": "b"}\n{"text": "c"}\n'
    monkeypatch.setattr("sys.stdin", _FakeStdin(lines))
    assert [(t.id, t.text) for t in read_texts("-")] == [("stdin-1", "a"), ("own", "b"), ("stdin-4", "c")]


@pytest.mark.integration
def test_send_and_results_round_trip(kafka_bootstrap, tmp_path, capsys) -> None:
    prefix = f"cli{uuid.uuid4().hex[:8]}."
    topics = TopicNames.with_prefix(prefix)
    path = tmp_path / "texts.jsonl"
    path.write_text(
        '{"text": "what is my balance", "metadata": {"user": "u1"}}\n{"id": "x2", "text": "hi"}\n'
    )
    common = ["--bootstrap", kafka_bootstrap, "--topic-prefix", prefix]
    assert main(["stream", "send", "--in", str(path), *common]) == 0
    got = asyncio.run(
        collect(kafka_bootstrap, [topics.texts], lambda g: g.count(topics.texts) >= 2, timeout_s=60)
    )
    sent = [decode(TextIn, r.value) for r in got.records[topics.texts]]
    assert [(t.id, t.metadata) for t in sent] == [("texts-1", {"user": "u1"}), ("x2", {})]

    # a worker would answer; here results are produced directly (one duplicate, one unrelated id)
    def result(i: str) -> bytes:
        return encode(LabelResult(i, "t", "balance", "accepted", 0.9, [Candidate("balance", 0.9)], "m"))

    records = [(b"texts-1", result("texts-1")), (b"zz", result("zz")), (b"texts-1", result("texts-1"))]
    records += [(b"junk", b"not json"), (b"x2", result("x2"))]
    asyncio.run(produce(kafka_bootstrap, topics.labels, records))
    out = tmp_path / "results.jsonl"
    assert main(["stream", "results", "--ids-from", str(path), "--out", str(out), *common]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(r["id"] for r in lines) == ["texts-1", "x2"]  # first result per wanted id
    assert "1 undecodable" in capsys.readouterr().err
    assert main(["stream", "results", "--count", "5", "--timeout", "3", *common]) == 1  # only 3 ids exist
