"""The worker object: what the agents of one stream worker use, built once by :mod:`.startup`.

Data plane (the Faust agents, spread over the group by partition): classify a batch of texts, ask the
judge, fold its verdict into the text's candidate walk; a judge-confirmed result first puts its example
on ``redline.examples``, then its label on ``redline.labels``. Control plane (one aiokafka producer,
every write awaited): the leader's snapshots, events and the examples of ``add_label``. Every worker
follows ``redline.examples`` (the examples the judge is shown; the leader's training data) and
``redline.models`` (a new snapshot is loaded and swapped in whole, with one assignment, so a batch
keeps the engine it started with).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from redline.adapters.embedder import Embedder
from redline.core.classifier import RedClassifier
from redline.core.engine import JudgePolicy, StreamEngine
from redline.core.judge_interface import Judge
from redline.errors import ConfigError, ModelError
from redline.schemas import Event, ExampleRecord, JudgeRequest, JudgeVerdict, LabelResult, encode
from redline.streams.classify_step import EmbeddedBatch, decide, embed
from redline.streams.example_store import ExampleStore
from redline.streams.judge_step import walk_on
from redline.streams.kafka_io import PartitionReader
from redline.streams.messages import Outgoing, decode_or_dead_letter, keyed
from redline.streams.model_topic import HEAD_KEY, PublishedModel, load_head
from redline.streams.resolve_step import Resolution, resolve
from redline.streams.settings import StreamSettings
from redline.streams.stats import ClassifyLoad, WorkerStats, routing_stats
from redline.streams.worker_metrics import EventTimes, WorkerMetrics

log = logging.getLogger(__name__)
#: unresolved texts whose embedding a worker keeps for the new-intent detector (the leader reads its own
#: within seconds; a follower keeps its last ones, ~2 MiB)
UNRESOLVED_KEPT = 1000

#: ``await sender(outgoing, times)`` hands the messages to the producer, in order, and returns an
#: awaitable that completes once all are on the broker (or None when they already are); ``times`` are
#: the Kafka timestamps of the records read (or None)
Sender = Callable[[Sequence[Outgoing], EventTimes | None], Awaitable[Awaitable[Any] | None]]


class Worker:
    """One stream worker's embedder, judge, engine, examples and counters.

    Parameters
    ----------
    settings : StreamSettings
    embedder : Embedder
    judge : Judge or None
        None: texts the router would send to the judge end unresolved.
    judge_name : str
        The judge's spec, recorded on every verdict.
    engine : StreamEngine
        Decides with the newest snapshot's model.
    store : ExampleStore
        The deployment's examples, as read from ``redline.examples``.
    published : PublishedModel or None
        The snapshot ``engine`` was built from (None in tests that build an engine by hand).
    sender : callable, optional
        ``await sender(outgoing, times)`` sends data-plane messages; :meth:`attach` sets one for the topics.
    producer : AIOKafkaProducer, optional
        The control-plane producer (started); every write through it is awaited.
    metrics : WorkerMetrics, optional
        The worker's Prometheus metrics (a new registry by default).
    """

    def __init__(
        self,
        settings: StreamSettings,
        embedder: Embedder,
        judge: Judge | None,
        judge_name: str,
        engine: StreamEngine,
        *,
        store: ExampleStore | None = None,
        published: PublishedModel | None = None,
        sender: Sender | None = None,
        producer: Any = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.judge = judge
        self.judge_name = judge_name
        self.engine = engine
        self.store = store if store is not None else ExampleStore()
        self.published = published
        self.sender = sender
        self.producer = producer
        self.worker_id = f"{settings.app_id}-{settings.web_port}-{uuid.uuid4().hex[:6]}"
        self.embedder_id = str(getattr(embedder, "model_id", "") or "")
        self.stats = WorkerStats()
        self.load = ClassifyLoad()  # the leader defers learning while the classify path is saturated
        self.assigned = False
        self.leading: Callable[[], bool] = lambda: False
        #: the examples topic's end offset, asked of the broker (set by the control plane's reader)
        self.examples_end: Callable[[], Awaitable[int]] | None = None
        #: the leader's drift watch's stats while it leads (:mod:`.drift_watch`)
        self.drift_stats: Callable[[], dict[str, Any]] = dict
        self.started = time.monotonic()
        #: embeds ``embed_batches`` batches at once; the model thread decides them one after the other
        self.embed_pool = ThreadPoolExecutor(settings.embed_batches, thread_name_prefix="redline-embed")
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-model")
        self.learn_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redline-learn")
        self.judge_slots = asyncio.Semaphore(settings.judge_concurrency)  # questions in flight
        #: snapshots this worker published, by head offset, until it reads their heads back
        self.published_here: dict[int, PublishedModel] = {}
        #: text id -> embedding (base64) of this worker's latest unresolved texts, which the leader's
        #: new-intent detector would otherwise embed again (``UNRESOLVED_KEPT`` at most, ~2 KiB each)
        self.unresolved_embeddings: OrderedDict[str, str] = OrderedDict()
        self.metrics = metrics if metrics is not None else WorkerMetrics()  # observability
        self.metrics.watch(self)

    @property
    def ready(self) -> bool:
        """True once the worker has joined its consumer group and its control-plane producer runs."""
        return self.assigned and self.producer is not None

    # -- sending -------------------------------------------------------------------------------
    def attach(self, topics: Any) -> None:
        """Send data-plane messages to the Faust ``topics`` (a :class:`~redline.streams.topics.Topics`).

        Each call hands every message to the producer in order and returns their delivery: a message
        that cannot be written raises there, the agent never acknowledges its input, and the input's
        offset is never committed (it is read again), so nothing is lost silently.
        The judge topics' records keep the Kafka timestamp of the text they are about (as Kafka Streams
        does), so the latency of a judged result is measured from the text's timestamp.
        """

        async def send(outgoing: Sequence[Outgoing], times: EventTimes | None = None) -> Awaitable[Any]:
            deliveries = [
                await getattr(topics, item.topic).send(
                    key=item.key, value=item.value, timestamp=_event_time(item, times)
                )
                for item in outgoing
            ]
            return asyncio.gather(*deliveries)

        self.sender = send

    async def dispatch(
        self, outgoing: Sequence[Outgoing], times: EventTimes | None = None
    ) -> Awaitable[None]:
        """Hand each data-plane message to the producer, in order; returns once they are handed over,
        with their delivery (which counts them; it raises when one cannot be written). ``times``: the
        Kafka timestamps of the records the messages answer."""
        if self.sender is None:
            raise ConfigError("the worker has no sender: call attach(topics) first")
        delivery = await self.sender(outgoing, times)
        return asyncio.ensure_future(self._delivered(delivery, outgoing, times))

    async def _delivered(
        self, delivery: Awaitable[Any] | None, outgoing: Sequence[Outgoing], times: EventTimes | None
    ) -> None:
        if delivery is not None:
            await delivery
        for item in outgoing:
            self.stats.count_sent(item.topic)
        self.metrics.sent(outgoing, times)

    async def send(self, outgoing: Sequence[Outgoing], times: EventTimes | None = None) -> None:
        """Hand each data-plane message to the producer, in order, and wait until all are on the broker."""
        await (await self.dispatch(outgoing, times))

    async def write(self, topic: str, records: Sequence[tuple[bytes | None, bytes | None]]) -> list[int]:
        """Control plane: write (key, value) pairs to the topic named ``topic`` and wait until each is
        on the broker; returns their offsets (a failure raises)."""
        if self.producer is None:
            raise ConfigError("the worker has no control-plane producer")
        offsets = []
        for key, value in records:
            meta = await self.producer.send_and_wait(topic, value=value, key=key)
            offsets.append(int(meta.offset))
        return offsets

    # -- the agents' steps ---------------------------------------------------------------------
    async def classify_batch(self, messages: Sequence[Any]) -> Awaitable[None]:
        """Classify ``messages`` off the event loop and hand their outputs to the producer; returns their
        delivery (:meth:`embed_batch`, then :meth:`decide_batch`)."""
        return await self.decide_batch(await self.embed_batch(messages))

    async def embed_batch(self, messages: Sequence[Any]) -> EmbeddedBatch:
        """Read and embed ``messages`` off the event loop, on one of the ``embed_batches`` embedding
        threads (the classify agent embeds that many batches at once, :mod:`.delivery`)."""
        self.stats.texts += len(messages)
        self.load.batch(len(messages), self.settings.batch_size, time.monotonic())
        self.metrics.texts_in(len(messages))
        loop = asyncio.get_running_loop()
        step = partial(
            embed,
            embedder=self.embedder,
            max_text_chars=self.settings.max_text_chars,
            truncate=self.settings.truncate_texts,
        )
        return await loop.run_in_executor(self.embed_pool, step, messages)

    async def decide_batch(self, batch: EmbeddedBatch) -> Awaitable[None]:
        """Decide an embedded batch on the model thread (one batch at a time, so the router's budget sees
        the texts in order) and hand its outputs to the producer; returns their delivery."""
        engine = self.engine  # one engine for the whole batch
        loop = asyncio.get_running_loop()
        outgoing = await loop.run_in_executor(self.model_thread, decide, batch, engine)
        return await self.dispatch(outgoing, EventTimes.of(batch.messages))

    async def judge_batch(self, messages: Sequence[Any]) -> Awaitable[None]:
        """Ask the judge about a batch of requests at once (``judge_concurrency`` questions in flight),
        fold each verdict into its text's walk and hand what follows (the next request, or the result
        with its example) to the producer; returns their delivery."""
        answers = await asyncio.gather(*(self._judged(message) for message in messages))
        return await self.dispatch([item for out in answers for item in out], EventTimes.of(messages))

    async def _judged(self, message: Any) -> list[Outgoing]:
        request, letter = decode_or_dead_letter(JudgeRequest, message, "judge")
        if request is None:
            return [letter] if letter is not None else []
        verdict, resolution = await walk_on(
            request,
            self.judge,
            self.judge_name,
            lambda: self.engine.walk,
            self.settings.judge_questions_per_hop,
            self.judge_slots,
            self.metrics.judged,
        )
        return self._outputs(verdict, resolution)

    async def resolve_batch(self, messages: Sequence[Any]) -> Awaitable[None]:
        """Fold a batch of verdict records into their texts' walks and hand what follows to the producer;
        returns its delivery. Workers no longer write verdict records (:meth:`judge_batch` resolves in
        place); this drains those that workers of an earlier version left on ``redline.judge.verdicts``."""
        out = [item for message in messages for item in self._resolved(message)]
        return await self.dispatch(out, EventTimes.of(messages))

    def _resolved(self, message: Any) -> list[Outgoing]:
        verdict, letter = decode_or_dead_letter(JudgeVerdict, message, "resolve")
        if verdict is None:
            return [letter] if letter is not None else []
        return self._outputs(verdict, resolve(verdict, self.engine.walk))

    @property
    def keeps_unresolved_embeddings(self) -> bool:
        """Whether a leader would read :attr:`unresolved_embeddings`: its drift watch runs with new-intent
        suggestions."""
        return bool(self.settings.drift and self.settings.new_intent_min_size)

    def _outputs(self, verdict: JudgeVerdict, resolution: Resolution) -> list[Outgoing]:
        """What ``resolution`` of ``verdict`` sends: the next judge request or the text's result; a
        judge-confirmed result's example comes first, on ``redline.examples`` (the leader learns it)."""
        text_id = verdict.request.id
        out: list[Outgoing] = []
        learn = resolution.learn
        if learn is not None and self.embedder_id:
            example = ExampleRecord(
                id=f"judged:{text_id}",
                text=learn.text,
                label=learn.label,
                source=learn.source,
                embedder=self.embedder_id,
                embedding=verdict.request.embedding,
                model_version=verdict.request.model_version,
                at=time.time(),
            )
            out.append(keyed("examples", example.id, example))
        result = resolution.next
        unresolved = isinstance(result, LabelResult) and result.status == "unresolved"
        if unresolved and verdict.request.embedding and self.keeps_unresolved_embeddings:
            self.unresolved_embeddings[text_id] = verdict.request.embedding
            if len(self.unresolved_embeddings) > UNRESOLVED_KEPT:
                self.unresolved_embeddings.popitem(last=False)
        topic = "judge_requests" if isinstance(result, JudgeRequest) else "labels"
        out.append(keyed(topic, text_id, result))
        return out

    # -- following the deployment's state ------------------------------------------------------
    async def follow_examples(self, reader: PartitionReader) -> None:
        """Apply every new record of ``redline.examples`` to the store (forever)."""
        async for records in reader.follow(self.store.next_offset):
            for record in records:
                self.store.apply(record.offset, record.key, record.value)

    async def follow_models(self, reader: PartitionReader) -> None:
        """Load every new snapshot of ``redline.models`` and swap it in (forever)."""
        start = self.published.offset + 1 if self.published is not None else 0
        async for records in reader.follow(start):
            heads = [r for r in records if r.key == HEAD_KEY and r.value]
            if not heads:
                continue
            newest = heads[-1]
            own = self.published_here.pop(newest.offset, None)  # its parameters are here: not decoded
            for offset in [o for o in self.published_here if o < newest.offset]:
                del self.published_here[offset]
            try:
                key = self.settings.snapshot_key
                published = own or await load_head(reader, newest.offset, newest.value, key)
                await self.install(published)
            except ModelError as exc:  # failed its digest or signature: refused, said once, kept out
                log.warning("refused the snapshot at offset %d: %s", newest.offset, exc)
                self.stats.failed_updates += 1
                await self.refused(newest.offset, str(exc))
            except Exception as exc:  # a snapshot this worker cannot load: keep the current model
                log.warning("cannot load the snapshot at offset %d: %r", newest.offset, exc)
                self.stats.failed_updates += 1

    async def refused(self, offset: int, reason: str) -> None:
        """A ``rejected`` event about the snapshot at ``offset`` (this worker keeps its model)."""
        try:
            why = f"worker {self.worker_id} refused the snapshot at offset {offset}: {reason}"
            await self.event("rejected", "model", why)
        except Exception as exc:  # the refusal stands even when the event cannot be written
            log.warning("cannot write the refusal event: %r", exc)

    async def event(
        self,
        kind: str,
        subject: str,
        reason: str,
        *,
        command_id: str | None = None,
        version: str | None = None,
        labels: Sequence[str] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one event on ``redline.events`` (keyed by the command it answers, else by its own id);
        the model version defaults to the one deciding now."""
        event = Event(
            id=uuid.uuid4().hex,
            kind=kind,  # type: ignore[arg-type]
            subject=subject,
            reason=reason[:2000],
            command_id=command_id,
            model_version=version or self.engine.version,
            at=time.time(),
            labels=list(labels),
            details=dict(details or {}),
        )
        await self.write(self.settings.topics.events, [((command_id or event.id).encode(), encode(event))])

    async def install(self, published: PublishedModel) -> None:
        """Decide with ``published`` from now on (its model, policy, and the examples known now)."""
        loop = asyncio.get_running_loop()
        with self.stats.working("reload"):
            engine = await loop.run_in_executor(self.learn_thread, self.engine_for, published)
        self.published, self.engine = published, engine
        self.stats.reloads += 1
        log.info("now deciding with %s", published.version)

    def engine_for(self, published: PublishedModel) -> StreamEngine:
        """The engine for a snapshot (its parameters; the examples the store holds now)."""
        model = RedClassifier.from_params(published.params)
        policy = JudgePolicy(**dict(published.info.policy))
        return self.engine.with_model(model, published.version, policy, self.store.index())

    # -- reporting -----------------------------------------------------------------------------
    def stats_page(self) -> dict[str, Any]:
        """What ``/redline/stats/`` shows."""
        info = self.published.info if self.published is not None else None
        return {
            "worker": self.worker_id,
            "ready": self.ready,
            "leader": self.leading(),
            "texts": self.stats.texts,
            "sent": dict(self.stats.sent),
            "model_version": self.engine.version,
            "labels": len(self.engine.classes),
            "examples": len(self.store),
            "policy": self.engine.policy.to_dict(),
            "judge": self.judge_name,
            "learned": info.learned if info is not None else 0,
            "model_updates": self.stats.model_updates,
            "reloads": self.stats.reloads,
            "failed_updates": self.stats.failed_updates,
            # the newest learning steps, snapshot publishes and reloads: when they ran, how long; and
            # those under way
            "model_work": self.stats.work_page(time.time()),
            # seconds the classify path has read full batches without a break (a leader's learning waits)
            "classify_saturated_s": round(self.load.saturated_for(time.monotonic()), 1),
            "routing": routing_stats(self.engine.router),
            "drift": self.drift_stats(),
        }

    def close(self) -> None:
        """Stop the worker's threads (after the agents stopped)."""
        self.embed_pool.shutdown(wait=False, cancel_futures=True)
        self.model_thread.shutdown(wait=False, cancel_futures=True)
        self.learn_thread.shutdown(wait=False, cancel_futures=True)


def _event_time(item: Outgoing, times: EventTimes | None) -> float | None:
    """The Kafka timestamp of a judge request: its text's (None elsewhere: the send time)."""
    if times is None or item.topic != "judge_requests":
        return None
    return times.at(item.key)
