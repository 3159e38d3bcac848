"""The LLM judge on any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, OpenAI).

``await OpenAIJudge(settings).judge(text, label, context)`` is prompt -> call -> parse:

1. the hardened prompt (:func:`redline.judge.prompt.build_judge_prompt`);
2. the verdict cache (:mod:`redline.judge.verdict_cache`), and identical questions in flight sharing
   one call (:mod:`redline.judge.inflight`);
3. one call through :class:`~redline.judge.resilience.ResilientCaller` (bounded concurrency,
   timeouts, retries, circuit breaker, bounded outage) to
   :class:`~redline.judge.chat_endpoint.ChatEndpoint`;
4. the answer read into a :class:`~redline.core.judge_interface.Verdict`
   (:mod:`redline.judge.verdicts`); counters in :meth:`OpenAIJudge.stats`.

Failures: an answer that cannot be read, a request the endpoint refuses (4xx other than
401/403/404, after dropping the optional JSON format and logprobs) or a malformed body gives
``Verdict(valid=None, reason=...)``. An endpoint that stays down (refused connections, 5xx,
timeouts without an answer to ``GET /models``) for ``max_outage_s``, one that keeps failing after
``max_retries`` retries, or one that rejects the credentials or model raises
:class:`~redline.errors.JudgeError`: a failure is never a "no". :meth:`OpenAIJudge.judge_many` can turn
those into ``Verdict(valid=None)`` too. Bad questions (an empty label) raise
:class:`~redline.errors.InputDataError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal

import openai

from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import ConfigError, JudgeError
from redline.judge.chat_endpoint import ChatEndpoint, MalformedResponse, RefusedRequest
from redline.judge.inflight import InFlightQuestions
from redline.judge.prompt import JudgePrompt, build_judge_prompt
from redline.judge.questions import JudgeQuestion
from redline.judge.resilience import ResilientCaller, Sleep
from redline.judge.settings import JudgeSettings
from redline.judge.stats import JudgeStats
from redline.judge.verdict_cache import VerdictCache, verdict_key
from redline.judge.verdicts import answered_verdict, cached_copy

__all__ = ["JudgeSettings", "OpenAIJudge"]


class OpenAIJudge:
    """A :class:`~redline.core.judge_interface.Judge` backed by an OpenAI-compatible chat endpoint.

    Parameters
    ----------
    settings : JudgeSettings
        Endpoint, model and operating limits (``JudgeSettings.from_env(...)``).
    http_client : httpx.AsyncClient, optional
        Transport for the ``openai`` client (tests pass one with a mock transport).
    client : openai.AsyncOpenAI, optional
        A ready client (its own retries should be 0); overrides ``http_client``.
    cache : VerdictCache, optional
        Defaults to ``VerdictCache(settings.cache_path, max_entries=settings.cache_max_entries)``
        when ``settings.cache_enabled``.
    sleep : callable, optional
        ``await sleep(seconds)`` between retries (tests record the delays).
    """

    def __init__(
        self,
        settings: JudgeSettings,
        *,
        http_client: Any | None = None,
        client: openai.AsyncOpenAI | None = None,
        cache: VerdictCache | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = ChatEndpoint(settings, http_client=http_client, client=client)
        self.counters = JudgeStats()
        self.caller = ResilientCaller(self.endpoint, settings, self.counters, sleep=sleep)
        if cache is None and settings.cache_enabled:
            cache = VerdictCache(settings.cache_path, max_entries=settings.cache_max_entries)
        self.cache = cache
        self._in_flight = InFlightQuestions()
        self._use_json = settings.response_format == "json"
        self._use_logprobs = settings.use_logprobs

    @property
    def answer_format(self) -> str:
        """``json`` or ``text``: what the prompts currently ask for (json falls back to text)."""
        return "json" if self._use_json else "text"

    def prompt_for(self, text: str, label: str, context: JudgeContext | None = None) -> JudgePrompt:
        """The prompt this judge would send for a question (subclasses may ask differently)."""
        return build_judge_prompt(
            text,
            label,
            context,
            max_examples=self.settings.max_examples,
            hardening=self.settings.hardening,
            answer_format=self.answer_format,
        )

    async def judge(self, text: str, label: str, context: JudgeContext | None = None) -> Verdict:
        """Is ``text`` an example of ``label``? One verdict; see the module docstring for failures."""
        self.counters.requests += 1
        prompt = self.prompt_for(text, label, context)
        if prompt.injection.flagged:
            self.counters.injections_flagged += 1
        if prompt.context_injection.flagged:
            self.counters.context_injections_flagged += 1
        key = verdict_key(
            text,
            label,
            prompt.version,
            model=self.settings.model,
            context=context,
            max_examples=self.settings.max_examples,
        )
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is None:
            verdict, shared = await self._in_flight.ask(key, lambda: self._ask(text, label, context, prompt))
            if not shared:
                if self.cache is not None:
                    self.cache.put(key, verdict)
                return verdict
            hit = verdict
        self.counters.cache_hits += 1
        return cached_copy(hit, self.settings.threshold)

    async def judge_many(
        self,
        questions: Sequence[JudgeQuestion | tuple[str, str, JudgeContext]],
        *,
        on_error: Literal["raise", "verdict"] = "raise",
        progress: bool = False,
    ) -> list[Verdict]:
        """Judge many questions concurrently (bounded by ``max_in_flight``); results in input order.

        Parameters
        ----------
        questions : sequence of JudgeQuestion or (text, label, context)
        on_error : {"raise", "verdict"}
            ``raise``: the first :class:`JudgeError` propagates (verdicts already paid stay cached);
            ``verdict``: a failed question becomes ``Verdict(valid=None, reason=<the error>)``.
        progress : bool
            Show a tqdm bar on stderr.
        """
        if on_error not in ("raise", "verdict"):
            raise ConfigError(f"on_error must be 'raise' or 'verdict', got {on_error!r}")
        items = [q if isinstance(q, JudgeQuestion) else JudgeQuestion(q[0], q[1], q[2]) for q in questions]
        bar = None
        if progress:
            from tqdm import tqdm  # deferred: only batch commands draw a progress bar

            bar = tqdm(total=len(items), desc="judging", unit="q")

        async def one(q: JudgeQuestion) -> Verdict:
            try:
                return await self.judge(q.text, q.label, q.context)
            except JudgeError as exc:
                if on_error == "raise":
                    raise
                return Verdict(valid=None, reason=str(exc))
            finally:
                if bar is not None:
                    bar.update(1)

        tasks = [asyncio.ensure_future(one(q)) for q in items]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            if bar is not None:
                bar.close()

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 80) -> str:
        """A free-text completion with the same retries, breaker and counters (label descriptions);
        "" when the endpoint refuses the request or answers nonsense."""
        try:
            completion, _ = await self.caller.call(
                self.endpoint.free_text_request(messages, max_tokens=max_tokens)
            )
        except (RefusedRequest, MalformedResponse):
            return ""
        self.counters.record_answer(
            completion.tokens_in,
            completion.tokens_out,
            completion.latency_ms,
            self.settings.price_in_per_1k,
            self.settings.price_out_per_1k,
        )
        return completion.content or ""

    def stats(self) -> dict[str, Any]:
        """Counters for metrics, JSON-ready: see :meth:`JudgeStats.snapshot`, plus ``breaker``
        (``state``, ``opens``, ``probes``, ``outage_s``, ``open_for_s``) and ``cache_in_memory``."""
        snapshot = self.counters.snapshot()
        snapshot["breaker"] = self.caller.breaker.snapshot()
        snapshot["cache_in_memory"] = self.cache.in_memory if self.cache is not None else 0
        return snapshot

    async def aclose(self) -> None:
        """Close the HTTP client (when this judge created it) and the cache file."""
        await self.endpoint.aclose()
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> OpenAIJudge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _ask(self, text: str, label: str, context: JudgeContext | None, prompt: JudgePrompt) -> Verdict:
        started = time.perf_counter()
        while True:
            request = self.endpoint.judge_request(prompt, logprobs=self._use_logprobs)
            try:
                completion, attempts = await self.caller.call(request)
                break
            except MalformedResponse as failure:
                self.counters.invalid += 1
                return Verdict(valid=None, reason=str(failure))
            except RefusedRequest as failure:
                # the endpoint is up but may refuse an optional feature: drop it and ask again
                if self._use_json:
                    self._use_json = False
                    self.counters.format_fallbacks += 1
                    prompt = self.prompt_for(text, label, context)
                    continue
                if self._use_logprobs:
                    self._use_logprobs = False
                    self.counters.format_fallbacks += 1
                    continue
                self.counters.invalid += 1
                return Verdict(valid=None, reason=str(failure))
        cost = self.counters.record_answer(
            completion.tokens_in,
            completion.tokens_out,
            completion.latency_ms,
            self.settings.price_in_per_1k,
            self.settings.price_out_per_1k,
        )
        verdict = answered_verdict(
            completion,
            prompt,
            threshold=self.settings.threshold,
            model=self.settings.model,
            cost=cost,
            attempts=attempts,
            wall_ms=(time.perf_counter() - started) * 1000.0,
        )
        if verdict.valid is None:
            self.counters.invalid += 1
        return verdict
