"""Clients built from :class:`KafkaSecurity` against the session's secured broker (SASL_PLAINTEXT, SSL).

One broker serves both listeners (see ``secured_kafka`` in tests/conftest.py): SCRAM-SHA-256/512
and PLAIN on one port, TLS with a throwaway CA (client certificates requested) on another.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from redline.broker.settings import kafka_release
from redline.streams.kafka_security import KafkaSecurity
from redline.testing.kafka_brokers import SecuredKafka, session_kafka_version

pytestmark = pytest.mark.integration

TIMEOUT_S = 90.0
#: how long a refused client may take to give up: a clear error, never a hang
REFUSAL_TIMEOUT_S = 45.0


def sasl(kafka: SecuredKafka, mechanism: str = "SCRAM-SHA-256", password: str | None = None) -> KafkaSecurity:
    """Client settings for the SASL_PLAINTEXT listener."""
    return KafkaSecurity(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username=kafka.user,
        sasl_password=kafka.password if password is None else password,
    )


def tls(kafka: SecuredKafka, *, cafile: str = "ca.pem", client_cert: bool = False) -> KafkaSecurity:
    """Client settings for the SSL listener (optionally with the client certificate: mutual TLS)."""
    files: dict[str, Any] = {"ssl_cafile": kafka.tls_dir / cafile}
    if client_cert:
        files |= {"ssl_certfile": kafka.tls_dir / "client.pem", "ssl_keyfile": kafka.tls_dir / "client.key"}
    return KafkaSecurity(security_protocol="SSL", **files)


async def round_trip(bootstrap: str, security: KafkaSecurity) -> list[tuple[bytes | None, bytes | None]]:
    """Produce three records to a new topic and read them back, both clients built from ``security``."""
    topic = f"secured-{uuid.uuid4().hex[:8]}"
    sent = [(f"k{i}".encode(), f"secret {i}".encode()) for i in range(3)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **security.aiokafka_kwargs())
    await asyncio.wait_for(producer.start(), TIMEOUT_S)
    try:
        for key, value in sent:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **security.aiokafka_kwargs()
    )
    await asyncio.wait_for(consumer.start(), TIMEOUT_S)
    got: list[tuple[bytes | None, bytes | None]] = []
    try:

        async def read() -> None:
            while len(got) < len(sent):
                for part in (await consumer.getmany(timeout_ms=1000)).values():
                    got.extend((r.key, r.value) for r in part)

        await asyncio.wait_for(read(), TIMEOUT_S)
    finally:
        await consumer.stop()
    assert got == sent
    return got


async def refusal(bootstrap: str, security: KafkaSecurity) -> BaseException:
    """The error a producer built from ``security`` fails with, within :data:`REFUSAL_TIMEOUT_S`.

    aiokafka raises ``KafkaConnectionError("Unable to bootstrap ...")`` and logs the reason (the
    broker's answer) at ERROR; the tests read the reason from the log.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security.aiokafka_kwargs()
    )
    try:
        await asyncio.wait_for(producer.start(), REFUSAL_TIMEOUT_S)
    except TimeoutError:
        pytest.fail(f"the client hung for {REFUSAL_TIMEOUT_S} s instead of being refused")
    except Exception as exc:
        return exc
    finally:
        await producer.stop()
    pytest.fail("the broker accepted the client")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
async def test_sasl_listener_round_trip(secured_kafka: SecuredKafka, mechanism: str) -> None:
    await round_trip(secured_kafka.sasl_bootstrap, sasl(secured_kafka, mechanism))


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
async def test_sasl_wrong_password_is_refused(
    secured_kafka: SecuredKafka, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    error = await refusal(secured_kafka.sasl_bootstrap, sasl(secured_kafka, mechanism, password="wrong"))
    assert isinstance(error, KafkaConnectionError), repr(error)
    assert "SaslAuthenticationFailed" in caplog.text


async def test_sasl_unknown_user_is_refused(
    secured_kafka: SecuredKafka, caplog: pytest.LogCaptureFixture
) -> None:
    security = KafkaSecurity(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="mallory",
        sasl_password=secured_kafka.password,
    )
    assert isinstance(await refusal(secured_kafka.sasl_bootstrap, security), KafkaConnectionError)
    assert "SaslAuthenticationFailed" in caplog.text


async def test_sasl_listener_refuses_a_plaintext_client(secured_kafka: SecuredKafka) -> None:
    await refusal(secured_kafka.sasl_bootstrap, KafkaSecurity())


async def test_plaintext_listener_still_serves_unauthenticated_clients(secured_kafka: SecuredKafka) -> None:
    await round_trip(secured_kafka.bootstrap, KafkaSecurity())


@pytest.mark.parametrize("client_cert", [False, True], ids=["server-auth", "mutual-tls"])
async def test_ssl_listener_round_trip(secured_kafka: SecuredKafka, client_cert: bool) -> None:
    await round_trip(secured_kafka.ssl_bootstrap, tls(secured_kafka, client_cert=client_cert))


async def test_ssl_client_refuses_a_broker_its_ca_did_not_sign(
    secured_kafka: SecuredKafka, caplog: pytest.LogCaptureFixture
) -> None:
    error = await refusal(secured_kafka.ssl_bootstrap, tls(secured_kafka, cafile="stranger-ca.pem"))
    assert isinstance(error, KafkaConnectionError), repr(error)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def _librdkafka_version(kcat: str) -> tuple[int, ...]:
    out = subprocess.run([kcat, "-V"], capture_output=True, text=True, check=False, timeout=30).stdout
    match = re.search(r"librdkafka ([0-9]+(?:\.[0-9]+)*)", out)
    return tuple(int(part) for part in match.group(1).split(".")) if match else (0,)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_kcat_reads_and_writes_over_sasl(secured_kafka: SecuredKafka, mechanism: str) -> None:
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        pytest.skip("kcat is not installed (apt-get install kcat)")
    if mechanism.startswith("SCRAM") and kafka_release(session_kafka_version())[0] >= 4:
        if _librdkafka_version(kcat) < (2, 6, 1):
            pytest.skip(
                "librdkafka < 2.6.1 (Debian 12's kcat has 2.0.2) sends a SCRAM nonce that Kafka 4.x "
                "rejects (librdkafka#4895)"
            )
    topic = f"kcat-sasl-{uuid.uuid4().hex[:8]}"
    auth = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={mechanism}",
            "-X", f"sasl.username={secured_kafka.user}",
            "-X", f"sasl.password={secured_kafka.password}"]  # fmt: skip
    base = [kcat, "-b", secured_kafka.sasl_bootstrap, *auth, "-t", topic]
    subprocess.run([*base, "-P", "-K", ":"], input="a:1\nb:2\n", text=True, check=True, timeout=TIMEOUT_S)
    done = subprocess.run(
        [*base, "-C", "-o", "beginning", "-e", "-q", "-f", "%k=%s\\n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT_S,
    )
    assert done.stdout.splitlines() == ["a=1", "b=2"]


def test_stream_send_and_results_with_the_kafka_flags(
    secured_kafka: SecuredKafka,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``redline stream send|results`` over SCRAM: the ``--kafka-*`` flags, the password from its variable."""
    from redline.cli import main
    from redline.schemas import Candidate, LabelResult, encode
    from redline.streams.settings import TopicNames

    prefix = f"sec{uuid.uuid4().hex[:8]}."
    path = tmp_path / "texts.jsonl"
    path.write_text('{"id": "t1", "text": "what is my balance"}\n{"id": "t2", "text": "hi"}\n')
    monkeypatch.setenv("REDLINE_KAFKA_SASL_PASSWORD", secured_kafka.password)
    flags = ["--bootstrap", secured_kafka.sasl_bootstrap, "--topic-prefix", prefix,
             "--kafka-security-protocol", "SASL_PLAINTEXT", "--kafka-sasl-mechanism", "SCRAM-SHA-256",
             "--kafka-sasl-username", secured_kafka.user]  # fmt: skip
    assert main(["stream", "send", "--in", str(path), *flags]) == 0, capsys.readouterr().err

    async def answer() -> None:  # what a worker would write, produced over the same listener
        security = sasl(secured_kafka)
        producer = AIOKafkaProducer(
            bootstrap_servers=secured_kafka.sasl_bootstrap, **security.aiokafka_kwargs()
        )
        await asyncio.wait_for(producer.start(), TIMEOUT_S)
        try:
            for i in ("t1", "t2"):
                result = LabelResult(i, "t", "balance", "accepted", 0.9, [Candidate("balance", 0.9)], "m")
                await producer.send_and_wait(
                    TopicNames.with_prefix(prefix).labels, encode(result), i.encode()
                )
        finally:
            await producer.stop()

    asyncio.run(answer())
    out = tmp_path / "results.jsonl"
    code = main(["stream", "results", "--ids-from", str(path), "--out", str(out), "--timeout", "60", *flags])
    assert code == 0, capsys.readouterr().err
    assert sorted(line.split('"id": "')[1][:2] for line in out.read_text().splitlines()) == ["t1", "t2"]
