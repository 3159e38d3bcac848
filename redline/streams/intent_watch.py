"""New intents in the stream: the leader clusters the texts the judge rejected for every candidate.

The leader's drift watch (:mod:`.drift_watch`) hands each batch of ``unresolved`` results to
:class:`NewIntentWatch`. Their embeddings come from the judge requests this worker resolved (kept by the
worker, :attr:`Worker.unresolved_embeddings <redline.streams.worker.Worker.unresolved_embeddings>`);
only the texts another worker resolved are embedded again. They are clustered
(:class:`~redline.core.new_intents.NewIntentDetector`) on a thread of the watch's own; a cluster
becomes a ``new_label_suggested`` event whose ``details.command`` is the ``add_label`` control command
that accepts it (a proposed name and its most typical texts as examples). When the worker's judge is an
LLM (``openai:...``), the name and a one-sentence description are asked of it
(:func:`~redline.judge.label_naming.propose_label`, in a task of its own: the leader's loop goes on
meanwhile); without one, or when the LLM fails or takes over ``NAMING_TIMEOUT_S``, the name comes from
the texts' common words and ``details.naming.note`` says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from redline.core.new_intents import IntentSuggestion, NewIntentDetector, NewIntentSettings, proposed_name
from redline.judge.label_naming import Complete, propose_label
from redline.schemas import LabelResult, decode_embedding
from redline.streams.settings import StreamSettings

if TYPE_CHECKING:
    from redline.streams.worker import Worker

log = logging.getLogger(__name__)

#: seconds a new label's LLM naming may take before the suggestion goes out with the words' name
NAMING_TIMEOUT_S = 20.0

#: ``await publish(kind, subject, reason, labels, details, model_version)`` puts an event on
#: ``redline.events``
PublishEvent = Callable[[str, str, str, list[str], dict[str, Any], str], Awaitable[None]]


def intent_settings(settings: StreamSettings) -> NewIntentSettings:
    """The new-intent detector's settings from the worker's knobs (``new_intent_min_size`` > 0)."""
    size = settings.new_intent_min_size
    return NewIntentSettings(
        window=settings.new_intent_window,
        similarity=settings.new_intent_similarity,
        min_neighbours=min(4, size),
        min_size=size,
        min_cohesion=settings.new_intent_similarity,
    )


def llm_namer(worker: Worker) -> Complete | None:
    """The worker's judge's free-text completion when it is an LLM (``openai...``); None otherwise (the
    simulated expert, no judge)."""
    complete = getattr(worker.judge, "complete", None)
    if not str(worker.judge_name).startswith("openai") or not callable(complete):
        return None

    async def ask(messages: list[dict[str, str]]) -> str:
        return str(await complete(messages, max_tokens=80))

    return ask


class NewIntentWatch:
    """Clusters unresolved texts and publishes each new cluster as a suggested label (see the module
    docstring); :meth:`start` it, :meth:`cluster` each batch, :meth:`stop` it.

    Parameters
    ----------
    worker : Worker
        The leader's worker: its embedder, judge, labels and kept embeddings.
    publish : PublishEvent
        Puts a ``new_label_suggested`` event on ``redline.events``.
    """

    def __init__(self, worker: Worker, publish: PublishEvent) -> None:
        self.worker = worker
        self.publish = publish
        self.detector = NewIntentDetector(intent_settings(worker.settings))
        self.namer = llm_namer(worker)
        self.naming: set[asyncio.Task[None]] = set()
        self.names: set[str] = set()  # the names suggested so far (never proposed twice)
        self.thread: ThreadPoolExecutor | None = None
        self.counts = {"suggested": 0, "unresolved_embedded": 0, "unresolved_embedding_reused": 0}

    def start(self) -> None:
        """Start the thread that embeds and clusters."""
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="redline-drift-embed")

    async def stop(self) -> None:
        """Suggestions still being named go out first (each within its timeout); the thread stops."""
        if self.naming:
            await asyncio.wait(set(self.naming), timeout=NAMING_TIMEOUT_S + 5.0)
        if self.thread is not None:
            self.thread.shutdown(wait=False, cancel_futures=True)

    async def cluster(self, unresolved: list[LabelResult]) -> None:
        """Observe ``unresolved`` texts (in the order they were scored); suggest each new cluster."""
        # the embedding of a text this worker resolved comes from its judge request: embedding them again
        # was 6.3 % of the 1000-label defaults' samples in make bench-stream's burst (py-spy)
        kept = self.worker.unresolved_embeddings
        known = {r.id: e for r in unresolved if (e := kept.pop(r.id, None))}
        self.counts["unresolved_embedding_reused"] += len(known)
        self.counts["unresolved_embedded"] += len(unresolved) - len(known)
        # embedding and clustering (DBSCAN, and its import the first time) in the watch's own thread:
        # on the event loop they were 7 % of its busy samples in a judging burst (py-spy)
        loop = asyncio.get_running_loop()
        suggestions = await loop.run_in_executor(self.thread, self._embed_and_observe, unresolved, known)
        for suggestion in suggestions:
            await self._suggest(suggestion)

    def _embed_and_observe(
        self, unresolved: list[LabelResult], known: dict[str, str]
    ) -> list[IntentSuggestion]:
        missing = [r.text for r in unresolved if r.id not in known]
        fresh = iter(np.asarray(self.worker.embedder.encode(missing), dtype=np.float32) if missing else ())
        X = [decode_embedding(known[r.id]) if r.id in known else next(fresh) for r in unresolved]
        return [
            s
            for result, x in zip(unresolved, X, strict=True)
            for s in self.detector.observe(result.id, x, result.text)
        ]

    async def _suggest(self, s: IntentSuggestion) -> None:
        self.counts["suggested"] += 1
        fallback = proposed_name(s.texts, f"new_intent_{s.cluster}")
        if self.namer is None:
            await self._publish_suggestion(s, fallback)
            return
        task = asyncio.create_task(self._publish_in_background(s, fallback))
        self.naming.add(task)
        task.add_done_callback(self.naming.discard)

    async def _publish_in_background(self, s: IntentSuggestion, fallback: str) -> None:
        try:
            await self._publish_suggestion(s, fallback)
        except Exception:  # a task's failure would go unseen: say so (the poll loop goes on)
            log.exception("the new label suggestion %r could not be published", fallback)

    async def _publish_suggestion(self, s: IntentSuggestion, fallback: str) -> None:
        """Name the suggestion (the LLM judge when there is one) and publish it."""
        existing = {*self.worker.engine.classes, *self.names}
        without = f"the judge ({self.worker.judge_name}) is not an LLM"
        proposal = await propose_label(self.namer, s.texts, existing, fallback, timeout_s=NAMING_TIMEOUT_S,
                                       reason_without=without)  # fmt: skip
        if proposal.note and self.namer is not None:
            log.warning("new label suggestion named from its words: %s", proposal.note)
        name = proposal.name
        self.names.add(name)
        command = {"command": "add_label", "label": name, "examples": list(s.texts)}
        if proposal.description:
            command["description"] = proposal.description
        named = "named by the LLM judge" if proposal.named_by == "llm" else "named from its common words"
        reason = (f"{s.size} unresolved texts form one cluster (cohesion {s.cohesion:.2f}; {named}); "
                  "accept it with the add_label command in details.command (rename it freely)")  # fmt: skip
        details = {**s.to_dict(), "proposed_label": name, "description": proposal.description,
                   "named_by": proposal.named_by, "naming": proposal.to_dict(),
                   "command": command}  # fmt: skip
        await self.publish("new_label_suggested", name, reason, [name], details, self.worker.engine.version)
