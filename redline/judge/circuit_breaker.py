"""A circuit breaker for the judge endpoint: stop hammering an endpoint that is down.

After ``failure_threshold`` consecutive failures the breaker opens; requests then *wait* (each for
at most its own allowance, see :meth:`CircuitBreaker.acquire`) while one of them probes the endpoint
every ``probe_interval_s``; the first probe that succeeds closes the breaker and every waiting
request resumes. The breaker also keeps the figures an operator watches: how often it opened, how
many probes went out and how many seconds the endpoint has been down in all.

One breaker belongs to one event loop (it holds an :class:`asyncio.Event`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from redline.errors import JudgeError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class BreakerWaitExceeded(JudgeError):
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
        self._opened_at = 0.0  # when the current probe interval started
        self._outage_started: float | None = None  # when the breaker last left CLOSED
        self._outage_total_s = 0.0  # seconds open in outages that have ended
        self._wakeup: asyncio.Event | None = None

    @property
    def is_open(self) -> bool:
        """True while requests have to wait (open or probing)."""
        return self.state != CLOSED

    def open_for_s(self) -> float:
        """Seconds since the breaker opened (0 while closed)."""
        return 0.0 if self._outage_started is None else self.clock() - self._outage_started

    def snapshot(self) -> dict[str, Any]:
        """State and counters: ``state``, ``opens``, ``probes``, ``outage_s`` (all outages so far,
        the current one included) and ``open_for_s`` (the current one)."""
        current = self.open_for_s()
        return {
            "state": self.state,
            "opens": self.opens,
            "probes": self.probes,
            "outage_s": self._outage_total_s + current,
            "open_for_s": current,
        }

    def _notify(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def _open(self) -> None:
        now = self.clock()
        if self.state == CLOSED:
            self.opens += 1
            self._outage_started = now
        self.state = OPEN
        self._opened_at = now

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
            if self._outage_started is not None:
                self._outage_total_s += self.clock() - self._outage_started
                self._outage_started = None
            self._notify()

    def record_failure(self, probe: bool = False) -> None:
        """The endpoint failed (down, 5xx, timeout); open the breaker at the threshold."""
        self._failures += 1
        if probe or self.state == HALF_OPEN:
            self._open()
            self._notify()
            return
        if self.state == CLOSED and self.failure_threshold > 0 and self._failures >= self.failure_threshold:
            self._open()

    def release_probe(self) -> None:
        """A probe ended without telling anything (cancelled): let the next waiter probe at once."""
        if self.state == HALF_OPEN:
            self.state = OPEN
            self._opened_at = self.clock() - self.probe_interval_s
            self._notify()
