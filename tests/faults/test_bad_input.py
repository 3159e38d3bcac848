"""Garbage through the real broker: raw bytes on the texts and control topics of a running worker.

Every bad message ends on the dead-letter topic with a one-line reason (a bad command also as a
``rejected`` event), the valid texts sent between them all get their results, the worker keeps running,
and nothing else changes (the model version stays where it was).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import uuid

import pytest
from worker_processes import page, start_worker, stop, wait_ready

from redline.schemas import DeadLetter, Event, LabelResult, TextIn, decode, encode
from redline.streams.clients import Collected, collect, produce
from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

MAX_CHARS = 2000


def _j(data: object) -> bytes:
    return json.dumps(data).encode()


def bad_texts(run: str) -> dict[str, tuple[bytes | None, bytes | None]]:
    """Named (key, value) pairs that are not a valid text record."""
    nested = b"[" * 1100 + b"]" * 1100
    return {
        "invalid JSON": (b"k1", b'{"id": "bad-json", "text": '),
        "not an object": (b"k2", b"[1, 2, 3]"),
        "a JSON string": (b"k3", b'"just a string"'),
        "no value": (b"k4", None),
        "empty value": (b"k5", b""),
        "missing id": (b"k6", _j({"text": "where is my id"})),
        "missing text": (b"k7", _j({"id": f"{run}-bad-notext"})),
        "empty text": (b"k8", _j({"id": f"{run}-bad-empty", "text": ""})),
        "blank text": (b"k9", _j({"id": f"{run}-bad-blank", "text": "   \n\t "})),
        "text over --max-text-chars": (b"k10", _j({"id": f"{run}-bad-long", "text": "a" * (MAX_CHARS + 1)})),
        "text over the schema limit": (b"k11", _j({"id": f"{run}-bad-huge", "text": "b " * 15_000})),
        "invalid UTF-8": (b"k12", b'{"id": "bad-utf8", "text": "caf\xc3\x28 \xff"}'),
        "lone surrogate in text": (b"k13", b'{"id": "bad-sur-text", "text": "a \\ud800 b"}'),
        "lone surrogate in id": (b"k14", b'{"id": "\\udc00", "text": "hello"}'),
        "lone surrogate in a metadata key": (
            b"k15",
            b'{"id": "bad-sur-meta", "text": "hello", "metadata": {"\\ud800": 1}}',
        ),
        "5,000-digit integer": (
            b"k16",
            b'{"id": "bad-bigint", "text": "hello", "metadata": {"n": ' + b"9" * 5000 + b"}}",
        ),
        "1,100 nested brackets": (
            b"k17",
            b'{"id": "bad-nest", "text": "hello", "metadata": {"n": ' + nested + b"}}",
        ),
        "id of the wrong type": (b"k18", _j({"id": 5, "text": "hello"})),
        "text of the wrong type": (b"k19", _j({"id": f"{run}-bad-type", "text": ["a", "b"]})),
        "metadata of the wrong type": (b"k20", _j({"id": f"{run}-bad-meta", "text": "hi", "metadata": [1]})),
        "NaN": (b"k22", b'{"id": "bad-nan", "text": "hi", "metadata": {"x": NaN}}'),
    }


def bad_commands(run: str, existing_label: str) -> dict[str, bytes]:
    """Named control messages, each of which must be rejected."""
    return {
        "unknown command": _j({"id": f"{run}-c-unknown", "command": "self_destruct"}),
        "add_label with no examples": _j(
            {"id": f"{run}-c-noex", "command": "add_label", "label": "brand_new", "examples": []}
        ),
        "add_label with an existing name": _j(
            {
                "id": f"{run}-c-exists",
                "command": "add_label",
                "label": existing_label,
                "examples": ["one example", "another example"],
                "description": "again",
            }
        ),
        "add_label with 10,000 examples": _j(
            {
                "id": f"{run}-c-many",
                "command": "add_label",
                "label": "too_many",
                "examples": [f"example number {i}" for i in range(10_000)],
            }
        ),
        "invalid JSON command": b'{"id": "c-json", "command": ',
        "lone surrogate in a command": b'{"id": "c-sur", "command": "remove_label", "label": "\\ud800"}',
        "remove_label of an unknown label": _j(
            {"id": f"{run}-c-rm", "command": "remove_label", "label": "no_such_label"}
        ),
    }


def _sha(value: bytes | None) -> str:
    return hashlib.sha256(value).hexdigest() if value else ""


def _kcat(bootstrap: str, topic: str, key: bytes, value: bytes) -> bool:
    """Produce one raw message with ``kcat -P`` (False when kcat is not installed)."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        return False
    subprocess.run(
        [kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-c", "1"],
        input=key + b"\t" + value + b"\n",
        check=True,
        timeout=60,
    )
    return True


async def _produce_5mb(bootstrap: str, topic: str, run: str) -> str:
    """Try to produce a 5 MB text; returns who refused it ('' when it was written)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    value = _j({"id": f"{run}-bad-5mb", "text": "c" * 5_000_000})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8_000_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"k-5mb")
    except KafkaError as exc:
        return f"broker: {type(exc).__name__}"
    finally:
        await producer.stop()
    return ""


def test_garbage_on_the_texts_and_control_topics(kafka_bootstrap, fitted, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"bad{run}."
    topics = TopicNames.with_prefix(prefix)
    worker = start_worker(
        fitted, kafka_bootstrap, prefix, f"redline-bad-{run}", tmp_path, "w",
        "--max-text-chars", str(MAX_CHARS),
        "--learn-every", "0",  # the model version then changes only by command
    )  # fmt: skip
    try:
        wait_ready(worker)
        before = page(worker)
        bad = bad_texts(run)
        valid = [TextIn(id=f"{run}-ok-{i}", text=fitted.test[i].text) for i in range(len(bad) + 10)]
        messages: list[tuple[bytes | None, bytes | None]] = []
        for i, text in enumerate(valid):  # garbage and valid texts interleaved
            messages.append((text.id.encode(), encode(text)))
            if i < len(bad):
                messages.append(list(bad.values())[i])
        asyncio.run(produce(kafka_bootstrap, topics.texts, messages))
        by_kcat = {
            "kcat: invalid JSON": (b"kk1", b'{"id": "kcat-json", "text": "unterminated'),
            "kcat: lone surrogate": (b"kk2", b'{"id": "kcat-sur", "text": "\\udfff"}'),
        }
        if not all(_kcat(kafka_bootstrap, topics.texts, k, v) for k, v in by_kcat.values()):
            by_kcat = {}
        bad.update(by_kcat)
        refused_5mb = asyncio.run(_produce_5mb(kafka_bootstrap, topics.texts, run))
        if not refused_5mb:
            bad["5 MB text"] = (b"k-5mb", _j({"id": f"{run}-bad-5mb", "text": "c" * 5_000_000}))

        commands = bad_commands(run, fitted.test[0].label)
        asyncio.run(produce(kafka_bootstrap, topics.control, [(None, v) for v in commands.values()]))
        after = [TextIn(id=f"{run}-after-{i}", text=fitted.test[-1 - i].text) for i in range(5)]
        asyncio.run(produce(kafka_bootstrap, topics.texts, [(t.id.encode(), encode(t)) for t in after]))

        # an unknown field is ignored (older workers read newer records): a result, labelled by the model
        extra = (
            f"{run}-extra".encode(),
            _j({"id": f"{run}-extra", "text": fitted.test[0].text, "label": "cheat"}),
        )
        asyncio.run(produce(kafka_bootstrap, topics.texts, [extra]))
        wanted = {t.id for t in valid + after} | {f"{run}-extra"}
        shas = {_sha(v) for _, v in bad.values()}

        def done(got: Collected) -> bool:
            results = {decode(LabelResult, r.value).id for r in got.records[topics.labels]}
            letters = [decode(DeadLetter, r.value) for r in got.records[topics.deadletter]]
            rejected = [e for e in map(_event, got.records[topics.events]) if e.kind == "rejected"]
            return (
                wanted <= results
                and shas <= {d.original_sha256 for d in letters if d.topic == topics.texts}
                and len(rejected) >= len(commands)
            )

        got = asyncio.run(
            collect(kafka_bootstrap, [topics.labels, topics.deadletter, topics.events], done, timeout_s=300)
        )
        results = [decode(LabelResult, r.value) for r in got.records[topics.labels]]
        letters = [decode(DeadLetter, r.value) for r in got.records[topics.deadletter]]
        events = [_event(r) for r in got.records[topics.events]]
        assert wanted <= {r.id for r in results}, wanted - {r.id for r in results}
        assert not {r.id for r in results} - wanted  # no garbage became a result
        assert all(r.label != "cheat" for r in results)
        text_letters = {d.original_sha256: d for d in letters if d.topic == topics.texts}
        missing = [name for name, (_, v) in bad.items() if _sha(v) not in text_letters]
        assert not missing, missing
        assert len([d for d in letters if d.topic == topics.texts]) == len(bad)  # one letter each
        for d in letters:
            assert d.reason.strip() and "\n" not in d.reason and "Traceback" not in d.reason, d.reason
        reasons = {name: text_letters[_sha(v)].reason for name, (_, v) in bad.items()}
        assert str(MAX_CHARS) in reasons["text over --max-text-chars"]
        rejected = [e for e in events if e.kind == "rejected"]
        assert len(rejected) == len(commands), [(e.kind, e.reason) for e in events]
        assert all(e.reason.strip() and "\n" not in e.reason for e in rejected)
        assert not [e for e in events if e.kind in ("applied", "model")], events
        control_letters = [d for d in letters if d.topic == topics.control]
        decodable = {"add_label with an existing name", "remove_label of an unknown label"}
        assert len(control_letters) == len(commands) - len(decodable)
        assert worker.poll() is None
        now = page(worker)
        assert (now["model_version"], now["labels"]) == (before["model_version"], before["labels"])
        assert now["ready"]
        from fault_report import record

        record(
            "bad_input",
            {
                "bad_texts": len(bad),
                "bad_commands": len(commands),
                "dead_letters": len(letters),
                "rejected_events": len(rejected),
                "valid_texts": len(wanted),
                "valid_results": len({r.id for r in results} & wanted),
                "kcat_used": bool(by_kcat),
                "five_mb_text": refused_5mb or "written, then dead-lettered",
                "model_version_before_after": [before["model_version"], now["model_version"]],
                "reasons": dict(sorted(reasons.items())),
                "command_reasons": sorted(e.reason[:160] for e in rejected),
            },
        )
    finally:
        code = stop(worker)
    assert code == 0


def _event(record: object) -> Event:
    return decode(Event, record.value)  # type: ignore[attr-defined]


def test_truncate_texts_cuts_long_texts_instead(kafka_bootstrap, fitted, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"cut{run}."
    topics = TopicNames.with_prefix(prefix)
    worker = start_worker(
        fitted, kafka_bootstrap, prefix, f"redline-cut-{run}", tmp_path, "w",
        "--max-text-chars", "60", "--truncate-texts",
    )  # fmt: skip
    try:
        wait_ready(worker)
        base = fitted.test[0].text
        texts = {
            f"{run}-short": base[:60],
            f"{run}-long": (base + " ") * 20,
            f"{run}-over-schema": (base + " ") * 2000,  # over the schema's 20,000 characters
        }
        raw = [(k.encode(), _j({"id": k, "text": v})) for k, v in texts.items()]
        asyncio.run(produce(kafka_bootstrap, topics.texts, raw))

        def done(got: Collected) -> bool:
            return set(texts) <= {decode(LabelResult, r.value).id for r in got.records[topics.labels]}

        got = asyncio.run(collect(kafka_bootstrap, [topics.labels, topics.deadletter], done, timeout_s=300))
        results = {r.id: r for r in (decode(LabelResult, x.value) for x in got.records[topics.labels])}
        assert set(results) == set(texts)
        assert all(len(r.text) <= 60 and texts[r.id].startswith(r.text) for r in results.values())
        assert not got.records[topics.deadletter]
    finally:
        stop(worker)
