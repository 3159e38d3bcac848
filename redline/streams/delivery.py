"""Run an agent's batches in the background; acknowledge a batch once its outputs are on the broker.

Used by all three data-plane agents: classification in order (embedded several at once, decided on
one model thread), judge questions and verdicts at once (``ordered=False``).

The classify agent hands each batch of events to :meth:`BatchPipeline.submit` and goes straight back to
Faust's ``take_events``, which buffers the next batch (decoding messages on the event loop) while the
threads embed this one; bench_stream measured the serial step leaving the model thread idle a third of
the time. Batches are embedded at once (``prepare``), then decided one after the other and their
outputs handed to the producer in the order they were read. Faust acknowledges a batch's events when
the agent asks for the next batch; :meth:`BatchPipeline.submit` first takes one more reference on each
message, so that acknowledgement is not the final one: the final one comes once every output of the
batch is delivered. A batch whose outputs are not delivered keeps its inputs unacknowledged, so their
offsets are never committed (they are read again after a restart), and the agent's next
:meth:`~BatchPipeline.submit` raises its error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: ``await step(messages)`` classifies and hands the outputs over; returns their delivery
Step = Callable[[Any], Awaitable[Awaitable[None]]]
#: ``await prepare(messages)``: the part of a step that batches may run at once (embedding)
Prepare = Callable[[Sequence[Any]], Awaitable[Any]]


class BatchPipeline:
    """Batches being classified or delivered, in order, and their events' acknowledgement.

    Parameters
    ----------
    step : callable
        ``await step(messages)`` classifies a batch and hands its outputs to the producer; it returns
        their delivery (:meth:`redline.streams.worker.Worker.judge_batch`). With ``prepare``, ``step``
        is given what ``prepare`` returned (:meth:`redline.streams.worker.Worker.decide_batch`).
    ack : callable
        ``await ack(event)``: the stream's acknowledgement of one event (``Stream.ack``).
    depth : int
        Batches in flight (classifying, waiting to classify, or delivering) before ``submit`` waits.
    ordered : bool
        Run the steps one after the other, in the order the batches were read (classification: one
        model thread). False runs them at once (judge questions and verdicts: each text has one
        question in flight, so its records cannot overtake each other).
    prepare : callable, optional
        ``await prepare(messages)`` runs for every batch in flight at once, before its ``step``
        (:meth:`redline.streams.worker.Worker.embed_batch`: several batches embedded at once, then
        decided and sent in order).
    """

    def __init__(
        self,
        step: Step,
        ack: Callable[[Any], Awaitable[Any]],
        depth: int = 3,
        *,
        ordered: bool = True,
        prepare: Prepare | None = None,
    ) -> None:
        self.step = step
        self.prepare = prepare
        self.ack = ack
        self.depth = depth
        self.ordered = ordered
        self.in_flight: deque[asyncio.Future[None]] = deque()
        self._handed: asyncio.Future[None] | None = None

    async def submit(self, events: Sequence[Any]) -> None:
        """Classify ``events`` after the batches before them and acknowledge them once delivered;
        returns at once unless ``depth`` batches are in flight (then raises a failed batch's error)."""
        for event in events:
            event.message.incref()  # Faust's own acknowledgement of the batch is not the final one
        previous, handed = self._handed, asyncio.get_running_loop().create_future()
        self._handed = handed
        self.in_flight.append(asyncio.ensure_future(self._run(events, previous, handed)))
        while len(self.in_flight) >= self.depth or (self.in_flight and self.in_flight[0].done()):
            await self.in_flight.popleft()

    async def drain(self) -> None:
        """Wait for every batch in flight (raises the first failure)."""
        while self.in_flight:
            await self.in_flight.popleft()

    async def _run(
        self, events: Sequence[Any], previous: asyncio.Future[None] | None, handed: asyncio.Future[None]
    ) -> None:
        try:
            messages = [event.message for event in events]
            work = messages if self.prepare is None else await self.prepare(messages)
            if previous is not None and self.ordered:
                await asyncio.wait([previous])  # in order: after the batch before was handed over
            delivered = await self.step(work)
        except Exception as exc:  # said at once: the agent sees it only at its next batch, maybe much later
            log.error("a batch of %d texts failed before its outputs were handed over (offsets not "
                      "committed): %r", len(events), exc)  # fmt: skip
            raise
        finally:
            handed.set_result(None)
        try:
            await delivered
        except BaseException as exc:  # the events keep their reference: their offsets are never committed
            log.error("a batch of %d texts was not delivered (offsets not committed): %r", len(events), exc)
            raise
        for event in events:
            await self.ack(event)
