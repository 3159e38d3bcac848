"""What ``redline status`` reads about a running deployment: from its topics and its workers' metrics.

- the consumer group (the app id): its state and members (admin ``describe_consumer_groups``), and the
  lag of each partition it reads (its committed offsets against the partitions' end offsets);
- the newest model snapshot on ``<prefix>models`` (its head record's header only: no parameters are
  decoded) and the judge policy it carries;
- the dead letters and the ``drift`` / ``rejected`` events of the last ``window_s`` seconds (the first
  offset at or after that time, found with ``offsets_for_times``);
- each member's ``/metrics`` (the URL Faust puts in its group metadata): results by status, leader,
  judge breaker state; a worker that does not answer is listed with the reason.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from redline.errors import KafkaBrokerError
from redline.streams.kafka_io import PartitionReader, consumer, quiet_client_logs
from redline.streams.model_topic import HEAD_KEY, decode_head, version_of
from redline.streams.settings import StreamSettings

#: seconds to wait for the broker, and for each worker's /metrics
CONNECT_TIMEOUT_S = 20.0
METRICS_TIMEOUT_S = 3.0
#: the topics the workers' group reads (the lag is reported for these)
GROUP_TOPICS = ("texts", "judge_requests", "judge_verdicts")
#: records of ``<prefix>models`` read back from its end to find the newest snapshot head
MODEL_WINDOW = 64


async def deployment_status(
    settings: StreamSettings, window_s: float = 3600.0, clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The summary of the deployment ``settings`` names (JSON-ready); KafkaBrokerError when the broker
    cannot be reached or no deployment lives under the prefix."""
    from aiokafka.admin import AIOKafkaAdminClient

    quiet_client_logs()  # the failure is reported once, as the error below
    topics = settings.topics
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **settings.security.aiokafka_kwargs())
    try:
        await asyncio.wait_for(admin.start(), CONNECT_TIMEOUT_S)
    except Exception as exc:
        await admin.close()
        raise KafkaBrokerError(f"cannot reach Kafka at {settings.bootstrap}: {exc!r}") from None
    reader = consumer(settings)
    try:
        await asyncio.wait_for(reader.start(), CONNECT_TIMEOUT_S)
        existing = set(await admin.list_topics())
        if topics.texts not in existing:
            raise KafkaBrokerError(
                f"no deployment under prefix {settings.topic_prefix!r} at {settings.bootstrap} "
                f"(no topic {topics.texts})"
            )
        group = await _group(admin, reader, settings, existing)
        since_ms = int((clock() - window_s) * 1000)
        letters = (
            await _count_since(reader, topics.deadletter, since_ms) if topics.deadletter in existing else 0
        )
        events = await _events_since(reader, topics.events, since_ms) if topics.events in existing else []
        model = await _newest_model(reader, topics.models) if topics.models in existing else None
    except KafkaBrokerError:
        raise
    except Exception as exc:
        raise KafkaBrokerError(f"reading the deployment at {settings.bootstrap} failed: {exc!r}") from None
    finally:
        await reader.stop()
        await admin.close()
    workers = await asyncio.gather(*(asyncio.to_thread(worker_metrics, m["url"]) for m in group["members"]))
    for member, metrics in zip(group["members"], workers, strict=True):
        member["metrics"] = metrics
    kinds = [e.get("kind") for e in events]
    return {
        "bootstrap": settings.bootstrap,
        "topic_prefix": settings.topic_prefix,
        "group": group,
        "model": model,
        "judge_policy": model["policy"] if model is not None else None,
        "last_hour": {
            "window_s": window_s,
            "dead_letters": letters,
            "drift_events": kinds.count("drift"),
            "rejected_events": kinds.count("rejected"),
        },
    }


async def _group(admin: Any, reader: Any, settings: StreamSettings, existing: set[str]) -> dict[str, Any]:
    from aiokafka import TopicPartition

    group_id = settings.app_id
    [response] = await admin.describe_consumer_groups([group_id])
    _error, _gid, state, _ptype, _protocol, members, *_ = response.groups[0]
    described = [
        {"member_id": m[0], "client_id": m[1], "host": m[2], "url": _faust_url(m[3])} for m in members
    ]
    committed = await admin.list_consumer_group_offsets(group_id)
    partitions = []
    for field in GROUP_TOPICS:
        name = getattr(settings.topics, field)
        if name in existing:
            found = reader.partitions_for_topic(name) or await _partitions(reader, name)
            partitions += [TopicPartition(name, p) for p in sorted(found)]
    ends = await reader.end_offsets(partitions) if partitions else {}
    starts = await reader.beginning_offsets(partitions) if partitions else {}
    lag = []
    for tp in partitions:
        done = committed.get(tp)
        offset = int(done.offset) if done is not None and done.offset >= 0 else None
        end = int(ends[tp])
        # nothing committed: the group starts at the earliest offset, so all that is in the log is unread
        # (0 for a partition that never got a record)
        unread = end - (offset if offset is not None else int(starts[tp]))
        lag.append({"topic": tp.topic, "partition": tp.partition, "committed": offset, "end": end,
                    "lag": unread})  # fmt: skip
    return {"id": group_id, "state": state, "members": described, "lag": lag}


async def _partitions(reader: Any, topic: str) -> set[int]:
    await reader._client.force_metadata_update()  # a group-less consumer learns topics on demand
    return set(reader.partitions_for_topic(topic) or ())


def _faust_url(metadata: bytes) -> str | None:
    """The web URL a Faust worker puts in its group metadata (JSON user data after the topic list)."""
    start = metadata.find(b'{"')
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(metadata[start:].decode("utf-8", "replace"))
    except ValueError:
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url.startswith("http") else None


async def _offsets_since(reader: Any, topic: str, since_ms: int) -> list[tuple[Any, int, int]]:
    """(partition, first offset at or after ``since_ms``, end offset) of every partition of ``topic``."""
    from aiokafka import TopicPartition

    found = reader.partitions_for_topic(topic) or await _partitions(reader, topic)
    tps = [TopicPartition(topic, p) for p in sorted(found)]
    if not tps:
        return []
    ends = await reader.end_offsets(tps)
    starts = await reader.offsets_for_times(dict.fromkeys(tps, since_ms))
    out = []
    for tp in tps:
        at = starts.get(tp)
        out.append((tp, int(at.offset) if at is not None else int(ends[tp]), int(ends[tp])))
    return out


async def _count_since(reader: Any, topic: str, since_ms: int) -> int:
    return sum(end - start for _, start, end in await _offsets_since(reader, topic, since_ms))


async def _events_since(reader: Any, topic: str, since_ms: int) -> list[dict[str, Any]]:
    events = []
    for tp, start, end in await _offsets_since(reader, topic, since_ms):
        if start >= end:
            continue
        reader.assign([tp])
        reader.seek(tp, start)
        while await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, ()):
                if record.offset < end and record.value:
                    try:
                        events.append(json.loads(record.value))
                    except ValueError:
                        continue
    return events


async def _newest_model(reader: Any, topic: str) -> dict[str, Any] | None:
    models = PartitionReader(reader, topic)
    end = await models.end()
    start = max(await models.beginning(), end - MODEL_WINDOW)
    heads = [r for r in await models.read(start, end) if r.key == HEAD_KEY and r.value]
    if not heads:
        return None
    info, _ = decode_head(heads[-1].value)
    return {
        "version": version_of(heads[-1].offset),
        "labels": info.labels,
        "examples": info.examples,
        "learned": info.learned,
        "reason": info.reason,
        "published_by": info.published_by,
        "created_at": info.created_at,
        "policy": dict(info.policy),
    }


def worker_metrics(url: str | None, timeout_s: float = METRICS_TIMEOUT_S) -> dict[str, Any]:
    """A few numbers from one worker's ``/metrics`` (``error`` instead when it does not answer)."""
    from prometheus_client.parser import text_string_to_metric_families

    if url is None:
        return {"error": "no web URL in its group metadata"}
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=timeout_s) as response:
            text = response.read().decode("utf-8")
    except (OSError, ValueError) as exc:
        return {"error": f"{url}/metrics: {exc}"}
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    results = {s.labels["status"]: int(s.value) for s in samples if s.name == "redline_results_total"}
    single = {s.name: s.value for s in samples if not s.labels}
    info = next((s.labels for s in samples if s.name == "redline_model_info"), {})
    return {
        "results": results,
        "texts": int(single.get("redline_texts_total", 0)),
        "leader": bool(single.get("redline_leader", 0)),
        "model_version": info.get("version"),
        "judge": info.get("judge"),
        "breaker_state": _breaker(single.get("redline_judge_breaker_state")),
        "uncertain_share": single.get("redline_uncertain_share"),
    }


def _breaker(code: float | None) -> str | None:
    names: Sequence[str] = ("closed", "open", "half_open")
    return names[int(code)] if code is not None and 0 <= int(code) < len(names) else None
