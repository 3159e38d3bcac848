"""Keeping a remote judge usable: every call to the endpoint goes through :class:`ResilientCaller`.

Around one :class:`~redline.judge.chat_endpoint.ChatEndpoint` it adds

* bounded concurrency: at most ``max_in_flight`` calls out at once;
* retries with exponential backoff and jitter on 429, 408/409, 5xx, timeouts and connection errors,
  honouring Retry-After (:class:`~redline.judge.retry_policy.RetryPolicy`);
* a circuit breaker (:class:`~redline.judge.circuit_breaker.CircuitBreaker`): when the endpoint is
  down, requests wait behind it without spending their retries, and one probe at a time finds out
  when it is back;
* a bounded outage: a request that has waited ``max_outage_s`` since it first found the breaker
  open fails instead of waiting for ever.

"Down" means a refused or broken connection, a 5xx, or a timeout while the endpoint does not answer
a quick ``GET {base_url}/models`` either. A timeout on an endpoint that answers (with any HTTP status)
is a slow model: it spends a retry like any other failure, so it ends in a JudgeError.

So every request ends: with a completion, with a :class:`~redline.errors.JudgeError` (retries spent,
outage too long, credentials or model refused), or with a
:class:`~redline.judge.chat_endpoint.RefusedRequest` / ``MalformedResponse`` the judge turns into
``Verdict(valid=None)``. At worst it takes ``max_outage_s`` plus one attempt
(``timeout_s + reachability_timeout_s``) plus its retries and their delays.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redline.errors import JudgeError
from redline.judge.chat_endpoint import CallFailure, ChatEndpoint, RejectedRequest, RetryableFailure
from redline.judge.circuit_breaker import BreakerWaitExceeded, CircuitBreaker
from redline.judge.openai_response import Completion
from redline.judge.settings import JudgeSettings
from redline.judge.stats import JudgeStats

Sleep = Callable[[float], Awaitable[Any]]


class ResilientCaller:
    """Calls one endpoint with bounded concurrency, retries, a circuit breaker and a bounded outage.

    Parameters
    ----------
    endpoint : ChatEndpoint
    settings : JudgeSettings
        ``max_in_flight``, the retry policy, the breaker's settings and ``max_outage_s``.
    stats : JudgeStats
        Where calls, retries and errors are counted.
    sleep : callable, optional
        ``await sleep(seconds)`` between retries (tests record the delays).
    clock : callable, optional
        Monotonic seconds.
    """

    def __init__(
        self,
        endpoint: ChatEndpoint,
        settings: JudgeSettings,
        stats: JudgeStats,
        *,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.stats = stats
        self.policy = settings.retry_policy
        self.max_outage_s = settings.max_outage_s
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_probe_interval_s, clock)
        self._max_in_flight = settings.max_in_flight
        self._semaphore: asyncio.Semaphore | None = None  # made on first use, inside the running loop
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = random.Random(settings.jitter_seed)
        self._clock = clock

    async def call(self, request: dict[str, Any]) -> tuple[Completion, int]:
        """One completion for ``request`` and the attempts it took.

        Raises
        ------
        JudgeError
            Retries spent, the endpoint down for more than ``max_outage_s``, or the credentials or
            model refused.
        RefusedRequest, MalformedResponse
            The endpoint is up but refused this request or answered nonsense (not retried).
        """
        retries = attempts = 0
        outage_started: float | None = None  # when this request first found the breaker open
        while True:
            if outage_started is None and self.breaker.is_open:
                outage_started = self._clock()
            probe = await self._wait_for_breaker(outage_started)
            attempts += 1
            self.stats.calls += 1
            try:
                completion = await self._attempt(request)
            except RetryableFailure as failure:
                self.stats.record_error(failure.kind)
                down = await self._is_down(failure, probe)
                if down:
                    self.breaker.record_failure(probe)
                else:
                    self.breaker.record_success(probe)
                if probe or (down and self.breaker.is_open):
                    continue  # the endpoint is down: wait for it, without spending this request's retries
                retries += 1
                if retries > self.policy.max_retries:
                    self.stats.record_gave_up("retries_exhausted")
                    raise JudgeError(
                        f"judge endpoint {self.endpoint.where} failed after "
                        f"{self.policy.max_retries} retries: {failure}"
                    ) from None
                self.stats.retries += 1
                await self._sleep(self.policy.delay(retries, failure.retry_after, self._rng))
                continue
            except RejectedRequest as failure:
                self.breaker.record_success(probe)  # the endpoint is up; asking again will not help
                self.stats.record_error(failure.kind)
                self.stats.record_gave_up("rejected")
                raise JudgeError(str(failure)) from None
            except CallFailure as failure:  # refused or malformed: the endpoint is up
                self.breaker.record_success(probe)
                self.stats.record_error(failure.kind)
                raise
            except BaseException:  # cancelled: let the next waiter probe
                if probe:
                    self.breaker.release_probe()
                raise
            self.breaker.record_success(probe)
            return completion, attempts

    async def _wait_for_breaker(self, outage_started: float | None) -> bool:
        """Wait while the breaker is open (for the rest of this request's outage allowance)."""
        if outage_started is None or not self.breaker.is_open:
            return await self.breaker.acquire()
        allowance = self.max_outage_s - (self._clock() - outage_started)
        try:
            if allowance > 0:
                return await self.breaker.acquire(allowance)
        except BreakerWaitExceeded:
            pass
        self.stats.record_gave_up("outage")
        raise JudgeError(
            f"judge endpoint {self.endpoint.where} unreachable: down for more than {self.max_outage_s:g} s "
            "(max_outage_s)"
        )

    async def _attempt(self, request: dict[str, Any]) -> Completion:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._max_in_flight)
        async with self._semaphore:
            return await self.endpoint.complete(request)

    async def _is_down(self, failure: RetryableFailure, probe: bool) -> bool:
        if not failure.timed_out:
            return failure.endpoint_down
        try:
            return not await self.endpoint.answers()
        except BaseException:  # cancelled while checking: let the next waiter probe
            if probe:
                self.breaker.release_probe()
            raise
