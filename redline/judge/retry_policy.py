"""How long to wait before retrying a judge call: exponential backoff with jitter, or Retry-After."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from redline.errors import ConfigError


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
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_retry_after_s < 0:
            raise ConfigError("retry delays must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ConfigError(f"jitter must be in [0, 1], got {self.jitter}")

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
