"""The LLM judge on any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, OpenAI).

``OpenAIJudge(settings).judge(text, label, context)`` builds the hardened prompt
(:mod:`redline.judge.prompt`), asks ``/v1/chat/completions`` through ``openai.AsyncOpenAI``
with the client's own retries disabled, reads the answer (:mod:`redline.judge.verdict_parsing`) and
returns a :class:`~redline.core.judge_interface.Verdict`.

Operations: at most ``concurrency`` calls in flight; a per-call timeout; retries with exponential
backoff and jitter on 429, 5xx, timeouts and connection errors, honouring Retry-After; a circuit
breaker (requests wait while the endpoint is down and resume after a probe succeeds; none are
dropped); a verdict cache (identical concurrent questions share one call); counters of calls,
cache hits, tokens, latency and cost (:class:`JudgeStats`).

"Down" means a refused or broken connection, a 5xx, or a timeout while the endpoint does not answer
a quick ``GET {base_url}/models`` either. A timeout on an endpoint that answers (with any HTTP status)
is a slow model: it spends a retry like any other failure, so it ends in a JudgeError instead of
waiting behind the breaker forever.

Failures: an endpoint that stays unreachable after the configured retries (or longer than
``max_outage_s`` behind an open breaker), or that rejects the credentials or model, raises
:class:`~redline.errors.JudgeError`. An answer that cannot be read, or a request the endpoint refuses
as malformed (400), gives ``Verdict(valid=None, reason=...)``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import openai

from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import InputDataError, JudgeError
from redline.judge.openai_response import extract_completion
from redline.judge.prompt import JudgePrompt, build_judge_prompt, prompt_version
from redline.judge.questions import JudgeQuestion
from redline.judge.resilience import BreakerWaitExceeded, CircuitBreaker, parse_retry_after
from redline.judge.settings import JudgeSettings
from redline.judge.stats import JudgeStats
from redline.judge.verdict_cache import VerdictCache, verdict_key
from redline.judge.verdict_parsing import ParsedAnswer, decide, read_answer

__all__ = ["JudgeSettings", "JudgeStats", "OpenAIJudge"]

Sleep = Callable[[float], Any]

#: how long the reachability check after a timeout (GET {base_url}/models) may take; independent
#: of ``timeout_s``, which may be far shorter than a busy server needs to answer even that
REACHABILITY_TIMEOUT_S = 5.0


class _Retryable(Exception):
    def __init__(
        self, message: str, *, retry_after: float | None, endpoint_down: bool, timed_out: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.endpoint_down = endpoint_down
        self.timed_out = timed_out  # down only if the endpoint does not answer a reachability check


class _Malformed(Exception):
    """The endpoint answered 200 with a body that is not a chat completion."""


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
        Defaults to ``VerdictCache(settings.cache_path)`` when ``settings.cache``.
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
        self._owns_client = client is None
        self.client = client or openai.AsyncOpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_s + 1.0,
            max_retries=0,
            http_client=http_client,
        )
        self.cache = (
            cache if cache is not None else (VerdictCache(settings.cache_path) if settings.cache else None)
        )
        self.stats = JudgeStats()
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_probe_interval_s)
        self.policy = settings.retry_policy
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = random.Random(settings.seed)
        self._semaphore: asyncio.Semaphore | None = None
        self._inflight: dict[str, asyncio.Future[Verdict]] = {}
        self._use_json = settings.response_format == "json"
        self._use_logprobs = settings.use_logprobs

    # ------------------------------------------------------------------ public API
    @staticmethod
    def prompt_version_for(settings: JudgeSettings) -> str:
        """The prompt version a judge with ``settings`` asks with (before any format fallback)."""
        return prompt_version(settings.hardening, settings.response_format)

    @property
    def answer_format(self) -> str:
        """``json`` or ``text``: what the prompts currently ask for (json falls back to text)."""
        return "json" if self._use_json else "text"

    def prompt_for(self, text: str, label: str, context: JudgeContext | None = None) -> JudgePrompt:
        """The prompt this judge would send for a question."""
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
        self.stats.requests += 1
        try:
            prompt = self.prompt_for(text, label, context)
        except ValueError as exc:
            raise InputDataError(f"judge question: {exc}") from None
        if prompt.injection.flagged:
            self.stats.injections_flagged += 1
        key = verdict_key(
            text,
            label,
            prompt.version,
            model=self.settings.model,
            context=context,
            max_examples=self.settings.max_examples,
        )
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return self._from_cache(hit)
        while (pending := self._inflight.get(key)) is not None:
            # the same question is being asked right now: share its answer instead of paying twice
            try:
                shared = await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and (task is None or not task.cancelling()):
                    continue  # the asker was cancelled, not us: ask ourselves
                raise
            self.stats.cache_hits += 1
            return self._cached_copy(shared)
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            verdict = await self._ask(text, label, context, prompt)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(verdict)
        if self.cache is not None:
            self.cache.put(key, verdict)
        return verdict

    async def judge_many(
        self,
        questions: Sequence[JudgeQuestion | tuple[str, str, JudgeContext]],
        *,
        on_error: str = "raise",
        progress: bool = False,
    ) -> list[Verdict]:
        """Judge many questions concurrently (bounded by ``concurrency``); results in input order.

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
            raise ValueError(f"on_error must be 'raise' or 'verdict', got {on_error!r}")
        items = [q if isinstance(q, JudgeQuestion) else JudgeQuestion(q[0], q[1], q[2]) for q in questions]
        bar = None
        if progress:
            from tqdm import tqdm

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
        """A free-text completion with the same retries, breaker and counters (label descriptions)."""
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": max_tokens,
        }
        try:
            response, _, _ = await self._call_with_retries(kwargs)
        except (_Malformed, openai.BadRequestError):
            return ""
        content, _, tokens_in, tokens_out = extract_completion(response)
        self.stats.add_tokens(
            tokens_in, tokens_out, self.settings.price_in_per_1k, self.settings.price_out_per_1k
        )
        return content or ""

    async def aclose(self) -> None:
        """Close the HTTP client (when this judge created it) and the cache file."""
        if self._owns_client:
            await self.client.close()
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> OpenAIJudge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ internals
    def _from_cache(self, hit: Verdict) -> Verdict:
        self.stats.cache_hits += 1
        return self._cached_copy(hit)

    def _cached_copy(self, verdict: Verdict) -> Verdict:
        word = verdict.extra.get("word")
        answer = ParsedAnswer(word if isinstance(word, bool) else None, verdict.p_yes, verdict.reason)
        valid, reason = (
            decide(answer, self.settings.threshold)
            if answer.p_yes is not None
            else (verdict.valid, verdict.reason)
        )
        return Verdict(
            valid=valid,
            p_yes=verdict.p_yes,
            reason=f"cached; {reason}",
            cost=0.0,
            tokens_in=0,
            tokens_out=0,
            latency_ms=0.0,
            cached=True,
            extra=dict(verdict.extra),
        )

    def _request(self, prompt: JudgePrompt) -> dict[str, Any]:
        json_mode = prompt.version.endswith(":json")
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "messages": prompt.messages(),
            "temperature": self.settings.temperature,
            "max_tokens": max(self.settings.max_tokens, 16) if json_mode else self.settings.max_tokens,
        }
        if self._use_logprobs:
            kwargs["logprobs"] = True
            if self.settings.top_logprobs:
                kwargs["top_logprobs"] = self.settings.top_logprobs
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    async def _ask(self, text: str, label: str, context: JudgeContext | None, prompt: JudgePrompt) -> Verdict:
        started = time.perf_counter()
        while True:
            try:
                response, latency_ms, attempts = await self._call_with_retries(self._request(prompt))
                break
            except _Malformed as exc:
                self.stats.invalid += 1
                return Verdict(valid=None, reason=f"malformed response from the endpoint: {exc}")
            except openai.BadRequestError as exc:
                # the endpoint is up but refuses an optional feature: drop it and ask again
                if self._use_json:
                    self._use_json = False
                    self.stats.format_fallbacks += 1
                    prompt = self.prompt_for(text, label, context)
                    continue
                if self._use_logprobs:
                    self._use_logprobs = False
                    self.stats.format_fallbacks += 1
                    continue
                self.stats.invalid += 1
                return Verdict(
                    valid=None, reason=f"endpoint refused the request ({exc.status_code}): {_brief(exc)}"
                )
        content, logprobs, tokens_in, tokens_out = extract_completion(response)
        cost = self.stats.add_tokens(
            tokens_in, tokens_out, self.settings.price_in_per_1k, self.settings.price_out_per_1k
        )
        self.stats.latency_ms_total += latency_ms
        answer = read_answer(content, logprobs)
        valid, reason = decide(answer, self.settings.threshold)
        if valid is None:
            self.stats.invalid += 1
        return Verdict(
            valid=valid,
            p_yes=answer.p_yes,
            reason=reason,
            cost=cost,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=latency_ms,
            extra={
                "word": answer.word,
                "prompt_version": prompt.version,
                "model": self.settings.model,
                "injection": list(prompt.injection.kinds),
                "attempts": attempts,
                "wall_ms": (time.perf_counter() - started) * 1000.0,
                "answer": (content or "")[:200],
            },
        )

    def _get_semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        return self._semaphore

    async def _call_with_retries(self, kwargs: dict[str, Any]) -> tuple[Any, float, int]:
        """One successful response, its latency (ms) and the attempts it took; or JudgeError."""
        retries = attempts = 0
        max_outage = self.settings.max_outage_s
        outage_since: float | None = None  # when this request first found the breaker open
        while True:
            allowance = None
            if self.breaker.is_open and max_outage is not None:
                outage_since = time.monotonic() if outage_since is None else outage_since
                allowance = max_outage - (time.monotonic() - outage_since)
            elif not self.breaker.is_open:
                outage_since = None
            try:
                if allowance is not None and allowance <= 0:
                    raise BreakerWaitExceeded(f"endpoint down for more than {max_outage:g} s")
                probe = await self.breaker.acquire(allowance)
            except BreakerWaitExceeded as exc:
                self.stats.failures += 1
                raise JudgeError(f"judge endpoint {self._where()} unreachable: {exc}") from None
            attempts += 1
            self.stats.calls += 1
            try:
                response, latency_ms = await self._call_once(kwargs)
            except _Retryable as exc:
                self.stats.failures += 1
                if exc.timed_out:
                    try:
                        exc.endpoint_down = not await self._endpoint_answers()
                    except BaseException:  # cancelled while checking: let the next waiter probe
                        if probe:
                            self.breaker.release_probe()
                        raise
                if exc.endpoint_down:
                    self.breaker.record_failure(probe)
                else:
                    self.breaker.record_success(probe)
                if probe or (exc.endpoint_down and self.breaker.is_open):
                    continue  # the endpoint is down: wait for it, without spending this request's retries
                retries += 1
                if retries > self.policy.max_retries:
                    raise JudgeError(
                        f"judge endpoint {self._where()} failed after "
                        f"{self.policy.max_retries} retries: {exc}"
                    ) from None
                self.stats.retries += 1
                await self._sleep(self.policy.delay(retries, exc.retry_after, self._rng))
                continue
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
                self.breaker.record_success(probe)
                self.stats.failures += 1
                raise JudgeError(
                    f"judge endpoint {self._where()} refused model {self.settings.model!r} "
                    f"({exc.status_code}): {_brief(exc)}"
                ) from None
            except (openai.APIStatusError, _Malformed):
                self.breaker.record_success(probe)  # the endpoint is up, it just did not like this one
                self.stats.failures += 1
                raise
            except BaseException:
                if probe:
                    self.breaker.release_probe()
                raise
            self.breaker.record_success(probe)
            return response, latency_ms, attempts

    async def _call_once(self, kwargs: dict[str, Any]) -> tuple[Any, float]:
        async with self._get_semaphore():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.settings.timeout_s):
                    response = await self.client.chat.completions.create(**kwargs)
            except (TimeoutError, openai.APITimeoutError):
                raise _Retryable(
                    f"timed out after {self.settings.timeout_s:g} s",
                    retry_after=None,
                    endpoint_down=False,
                    timed_out=True,
                ) from None
            except openai.APIConnectionError as exc:
                raise _Retryable(
                    f"cannot connect ({_cause(exc)})", retry_after=None, endpoint_down=True
                ) from None
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status == 429 or status >= 500 or status in (408, 409):
                    retry_after = parse_retry_after(exc.response.headers)
                    raise _Retryable(
                        f"HTTP {status}: {_brief(exc)}", retry_after=retry_after, endpoint_down=status >= 500
                    ) from None
                raise
            except (ValueError, openai.APIResponseValidationError) as exc:  # e.g. a body that is not JSON
                raise _Malformed(" ".join(str(exc).split())[:200]) from None
            return response, (time.perf_counter() - started) * 1000.0

    async def _endpoint_answers(self) -> bool:
        """Whether the endpoint answers ``GET /models`` quickly with any HTTP status (after a timeout).

        A slow model times out on an endpoint that is up; a hung or unreachable server answers
        nothing. Only the latter is "down" (requests wait behind the breaker).
        """
        limit = REACHABILITY_TIMEOUT_S
        try:
            async with asyncio.timeout(limit):
                await self.client.get(
                    "/models", cast_to=httpx.Response, options={"timeout": limit + 1.0, "max_retries": 0}
                )
        except (TimeoutError, openai.APIConnectionError):  # APITimeoutError included
            return False
        except Exception:  # an HTTP error status or an odd body: something answered
            return True
        return True

    def _where(self) -> str:
        return self.settings.base_url or "api.openai.com"


def _brief(exc: openai.APIStatusError) -> str:
    body = exc.body
    message: object = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message") or error
    return " ".join(str(message or exc.message).split())[:200]


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(cause) if cause is not None and str(cause) else str(exc)
    return " ".join(text.split())[:200] or type(exc).__name__
