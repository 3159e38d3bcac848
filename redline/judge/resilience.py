"""Keeping a remote judge usable: retry delays, Retry-After, and a circuit breaker.

:class:`RetryPolicy` computes exponential backoff with jitter (or honours the server's
Retry-After). :class:`CircuitBreaker` stops hammering an endpoint that is down: after
``failure_threshold`` consecutive failures it opens; requests then *wait* (they are never dropped)
while one of them probes the endpoint every ``probe_interval_s``; the first probe that succeeds
closes the breaker and every waiting request resumes.

One breaker belongs to one event loop (it holds an :class:`asyncio.Event`).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before retry number ``n``.

    Parameters
    ----------
    max_retries : int
        Retries after the first attempt (0: try once).
    base_delay_s : float
        Delay before the first retry; doubles with every further retry.
    max_delay_s : float
        Ceiling of the exponential delay.
    jitter : float
        Fraction of the delay drawn at random (0: none; 0.5: between 50 % and 100 % of it).
    max_retry_after_s : float
        Ceiling on a server's Retry-After.
    """

    max_retries: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    jitter: float = 0.5
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("retry delays must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        A server's Retry-After wins (capped at ``max_retry_after_s``); otherwise
        ``min(max_delay_s, base_delay_s * 2**(retry-1))`` minus a random share of ``jitter``.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        exponential = min(self.max_delay_s, self.base_delay_s * (2.0 ** max(retry - 1, 0)))
        return exponential * (1.0 - self.jitter * rng.random())


def parse_retry_after(headers: Mapping[str, str] | None, *, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``retry-after-ms`` or ``Retry-After``; None if absent.

    ``Retry-After`` may be a number of seconds or an HTTP date.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class BreakerWaitExceeded(Exception):
    """A request waited longer than its allowance for the endpoint to come back."""


class CircuitBreaker:
    """Open after consecutive failures; requests wait; a single probe decides when to resume.

    Parameters
    ----------
    failure_threshold : int
        Consecutive failures that open the breaker (0 disables it: it never opens).
    probe_interval_s : float
        While open, how long to wait between probes.
    clock : callable, optional
        Monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        probe_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.probe_interval_s = probe_interval_s
        self.clock = clock
        self.state = CLOSED
        self.opens = 0
        self.probes = 0
        self._failures = 0
        self._opened_at = 0.0
        self._wakeup: asyncio.Event | None = None

    @property
    def is_open(self) -> bool:
        """True while requests have to wait (open or probing)."""
        return self.state != CLOSED

    def _notify(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    async def acquire(self, max_wait_s: float | None = None) -> bool:
        """Wait until a request may go out; return True when this request is the probe.

        Raises
        ------
        BreakerWaitExceeded
            When the breaker stayed open for more than ``max_wait_s`` seconds of this call.
        """
        started = self.clock()
        while True:
            if self.state == CLOSED:
                return False
            now = self.clock()
            if self.state == OPEN and now - self._opened_at >= self.probe_interval_s:
                self.state = HALF_OPEN
                self.probes += 1
                return True
            waited = now - started
            if max_wait_s is not None and waited >= max_wait_s:
                raise BreakerWaitExceeded(f"endpoint down for more than {max_wait_s:g} s")
            timeout = max(self._opened_at + self.probe_interval_s - now, 0.001)
            if self.state == HALF_OPEN:  # a probe is out: wait for its outcome
                timeout = self.probe_interval_s
            if max_wait_s is not None:
                timeout = min(timeout, max(max_wait_s - waited, 0.001))
            if self._wakeup is None:
                self._wakeup = asyncio.Event()
            event = self._wakeup
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                pass

    def record_success(self, probe: bool = False) -> None:
        """The endpoint answered: close the breaker and wake every waiting request."""
        self._failures = 0
        if self.state != CLOSED:
            self.state = CLOSED
            self._notify()

    def record_failure(self, probe: bool = False) -> None:
        """The endpoint failed (down, 5xx, timeout); open the breaker at the threshold."""
        self._failures += 1
        if probe or self.state == HALF_OPEN:
            self.state = OPEN
            self._opened_at = self.clock()
            self._notify()
            return
        if self.state == CLOSED and self.failure_threshold > 0 and self._failures >= self.failure_threshold:
            self.state = OPEN
            self._opened_at = self.clock()
            self.opens += 1

    def release_probe(self) -> None:
        """A probe ended without telling anything (cancelled): let the next waiter probe at once."""
        if self.state == HALF_OPEN:
            self.state = OPEN
            self._opened_at = self.clock() - self.probe_interval_s
            self._notify()
