"""The load generator of ``bench_stream``: send texts to a worker's topic and time each one's result.

Two implementations of one call, :func:`stream` (send ``(id, text)`` pairs, optionally paced; the send
and arrival wall-clock times and the decoded result per id):

* ``kcat`` (the default where ``kcat`` is on the PATH): one ``kcat -P`` producing lines written to its
  stdin (acks=all, linger 5 ms, as the Python producer) and one ``kcat -C`` reading the labels topic from
  a timestamp taken before the first send; this process only writes and reads lines, and decodes the
  results after the last one arrived. The issue's own measurement produced with kcat.
* ``python``: aiokafka's producer and consumer in this process, decoding each result as it arrives.

The load generator runs on the cores it measures: on 2 cores the Python one took 0.7-1.2 s of CPU per
2,000-text burst (0.35-0.6 ms per text, broker 1.2-2.9 s, worker 10-14 s), a share of the cores the
worker did not get. Its CPU (kcat's included, :func:`cpu_seconds` with ``children``) is reported as
``load generator`` either way.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from typing import Any

#: what ``kcat -C`` prints per record: key, a tab, the value (JSON escapes tabs and newlines inside)
KCAT_FORMAT = "%k\t%s\n"


def default_kind() -> str:
    """``kcat`` where it is on the PATH, else ``python``."""
    return "kcat" if shutil.which("kcat") else "python"


async def stream(
    kind: str,
    bootstrap: str,
    topics: Any,
    texts: list[tuple[str, str]],
    pace_per_s: float | None,
    timeout_s: float,
) -> dict[str, Any]:
    """Send ``texts`` (id, text) to ``topics.texts``, optionally paced; return ``sent`` and ``arrived``
    wall-clock times and the decoded ``results`` (:class:`~redline.schemas.LabelResult`) per id."""
    if kind == "kcat":
        return await _stream_kcat(bootstrap, topics, texts, pace_per_s, timeout_s)
    if kind == "python":
        return await _stream_python(bootstrap, topics, texts, pace_per_s, timeout_s)
    raise ValueError(f"unknown load generator {kind!r} (kcat or python)")


async def _paced(texts: list[tuple[str, str]], pace_per_s: float | None, send: Any) -> dict[str, float]:
    """``await send(k, id, text)`` for each text, ``pace_per_s`` a second (None: at once); send times."""
    sent: dict[str, float] = {}
    started = time.monotonic()
    for k, (i, text) in enumerate(texts):
        if pace_per_s:
            delay = started + k / pace_per_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[i] = time.time()
        await send(k, i, text)
    return sent


async def _stream_kcat(
    bootstrap: str, topics: Any, texts: list[tuple[str, str]], pace_per_s: float | None, timeout_s: float
) -> dict[str, Any]:
    from redline.schemas import LabelResult, TextIn, decode, encode

    # the results of this call carry timestamps after its start (a result has its text's timestamp, or
    # the worker's clock); a partition with none yet starts at its end, so nothing is sent before the
    # reader reports the end of every partition (else a result could land before the end was resolved)
    since_ms = int(time.time() * 1000) - 1000
    partitions = await _partitions(bootstrap, topics.labels)
    reader = await asyncio.create_subprocess_exec(
        "kcat", "-C", "-b", bootstrap, "-t", topics.labels, "-o", f"s@{since_ms}", "-u", "-f", KCAT_FORMAT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=4 * 1024 * 1024,
    )  # fmt: skip
    assert reader.stdout is not None and reader.stderr is not None
    wanted = {i for i, _ in texts}
    arrived: dict[str, float] = {}
    raw: dict[str, bytes] = {}
    ends = asyncio.get_running_loop().create_future()
    watching = asyncio.create_task(_watch_ends(reader.stderr, partitions, ends))
    try:
        await asyncio.wait_for(asyncio.shield(ends), 60)
        writer = await asyncio.create_subprocess_exec(
            "kcat", "-P", "-b", bootstrap, "-t", topics.texts, "-K", "\t",
            "-X", "acks=all", "-X", "linger.ms=5", "-X", "enable.idempotence=true",
            stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except BaseException:
        reader.kill()
        await reader.wait()
        watching.cancel()
        raise
    assert writer.stdin is not None
    stdin = writer.stdin

    async def read() -> None:
        assert reader.stdout is not None
        while not wanted <= arrived.keys():
            line = await reader.stdout.readline()
            if not line:
                return
            key, _, value = line.rstrip(b"\n").partition(b"\t")
            text_id = key.decode("utf-8", "replace")
            if text_id in wanted and text_id not in arrived:
                arrived[text_id] = time.time()
                raw[text_id] = value

    async def send(k: int, i: str, text: str) -> None:
        stdin.write(i.encode() + b"\t" + encode(TextIn(id=i, text=text)) + b"\n")
        if pace_per_s or k == len(texts) - 1:
            await stdin.drain()

    reading = asyncio.create_task(read())
    try:
        sent = await _paced(texts, pace_per_s, send)
        stdin.close()
        _, errors = await asyncio.wait_for(writer.communicate(), timeout_s)  # it waits for delivery
        if writer.returncode != 0:
            raise RuntimeError(
                f"kcat -P exited {writer.returncode}: {errors.decode(errors='replace')[-500:]}"
            )
        await asyncio.wait_for(reading, timeout_s)
    except TimeoutError:
        pass  # the caller sees the missing results
    finally:
        for proc in (writer, reader):
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        watching.cancel()
    return {"sent": sent, "arrived": arrived, "results": {i: decode(LabelResult, v) for i, v in raw.items()}}


async def _partitions(bootstrap: str, topic: str) -> int:
    """The partition count of ``topic`` (``kcat -L``)."""
    proc = await asyncio.create_subprocess_exec(
        "kcat", "-L", "-b", bootstrap, "-t", topic, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    found = re.search(rb'topic "[^"]+" with (\d+) partitions', out)
    if found is None:
        raise RuntimeError(f"kcat -L found no topic {topic!r}: {out.decode(errors='replace')[:300]}")
    return int(found.group(1))


async def _watch_ends(stderr: asyncio.StreamReader, partitions: int, ends: asyncio.Future[None]) -> None:
    """Resolve ``ends`` once ``kcat -C`` says it reached the end of each of the topic's ``partitions``;
    then keep reading its messages (a full pipe would stop it)."""
    seen: set[bytes] = set()
    while line := await stderr.readline():
        found = re.search(rb"Reached end of topic \S+ \[(\d+)\]", line)
        if found:
            seen.add(found.group(1))
        if len(seen) >= partitions and not ends.done():
            ends.set_result(None)
    if not ends.done():
        ends.set_exception(RuntimeError("kcat -C exited before it reached the end of every partition"))


async def _stream_python(
    bootstrap: str, topics: Any, texts: list[tuple[str, str]], pace_per_s: float | None, timeout_s: float
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from redline.schemas import LabelResult, TextIn, decode, encode

    consumer = AIOKafkaConsumer(
        topics.labels, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest"
    )
    await consumer.start()
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)  # resolve "latest" now, before anything is sent
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    arrived: dict[str, float] = {}
    results: dict[str, Any] = {}
    wanted = {i for i, _ in texts}

    async def read() -> None:
        deadline = time.monotonic() + timeout_s
        while not wanted <= arrived.keys() and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100, max_records=1000)
            now = time.time()
            for records in batches.values():
                for record in records:
                    result = decode(LabelResult, record.value)
                    if result.id in wanted and result.id not in arrived:
                        arrived[result.id] = now
                        results[result.id] = result

    reader = asyncio.create_task(read())
    futures = []

    async def send(k: int, i: str, text: str) -> None:
        futures.append(await producer.send(topics.texts, encode(TextIn(id=i, text=text)), key=i.encode()))

    try:
        sent = await _paced(texts, pace_per_s, send)
        for fut in futures:
            await fut
        await reader
    finally:
        await producer.stop()
        await consumer.stop()
    return {"sent": sent, "arrived": arrived, "results": results}
