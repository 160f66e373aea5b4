"""HubSpot's rate limits: a rolling window per app (token), a daily count per account.

HubSpot's usage guidelines: the burst limit is "/ app", the daily limit "/
account", and "the daily limit resets at midnight based on your time zone
setting" (the account's, from its account details). Only requests the limiter
admits count against the limits; every answer past the token check carries
the ``X-HubSpot-RateLimit-*`` headers, refusals a 429 naming the policy (and
``Retry-After`` unless switched off).
"""

from __future__ import annotations

import math
import time
import uuid
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from reconciler.sandbox.http.errors import ApiError

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"


@dataclass(frozen=True)
class RateLimits:
    """A rolling window per token (HubSpot: 100 per 10 s, 190 on higher tiers); a day per account."""

    max_requests: int = 100
    interval_ms: int = 10_000
    daily: int = 250_000
    retry_after: bool = True


def rate_limited(policy: str, retry_after: float, *, with_retry_after: bool) -> ApiError:
    """The 429 for ``policy``; ``Retry-After`` rounds ``retry_after`` up to whole seconds."""
    headers = {}
    if with_retry_after:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return ApiError(
        429,
        "RATE_LIMITS",
        f"You have reached your {policy.lower()} limit.",
        extra={"errorType": "RATE_LIMIT", "policyName": policy, "requestId": str(uuid.uuid4())},
        headers=headers,
    )


@dataclass
class _Window:
    """One token's accepted request times in the rolling window."""

    times: deque[float] = field(default_factory=deque)


@dataclass
class _Day:
    """One account's count for its current day (a date in its own time zone)."""

    day: date | None = None
    used: int = 0


#: The headers every answer past the token check carries, in this order.
HEADER_NAMES = (
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Secondly",
    "X-HubSpot-RateLimit-Secondly-Remaining",
)
_DAILY, _DAILY_LEFT, _INTERVAL, _MAX, _LEFT, _SECONDLY, _SECONDLY_LEFT = (
    name.lower().encode("latin-1") for name in HEADER_NAMES
)


@dataclass(slots=True)
class Admission:
    """The limiter's answer: the headers for the answer as they leave (lower-case names,
    in :data:`HEADER_NAMES` order), and the 429 if the token is over a limit."""

    raw_headers: list[tuple[bytes, bytes]]
    refusal: ApiError | None

    @property
    def headers(self) -> dict[str, str]:
        values = [value.decode("latin-1") for _, value in self.raw_headers]
        return dict(zip(HEADER_NAMES, values, strict=True))


@dataclass(frozen=True)
class _Fixed:
    """What the headers say that only the limits decide, and the per-second limit."""

    limits: RateLimits
    secondly: int
    daily: tuple[bytes, bytes]
    interval: tuple[bytes, bytes]
    max: tuple[bytes, bytes]
    per_second: tuple[bytes, bytes]

    @classmethod
    def of(cls, limits: RateLimits) -> _Fixed:
        secondly = max(1, math.ceil(limits.max_requests * 1000 / limits.interval_ms))
        return cls(
            limits,
            secondly,
            (_DAILY, str(limits.daily).encode("latin-1")),
            (_INTERVAL, str(limits.interval_ms).encode("latin-1")),
            (_MAX, str(limits.max_requests).encode("latin-1")),
            (_SECONDLY, str(secondly).encode("latin-1")),
        )


class Limiter:
    """HubSpot's limits per token; only requests it admits count against them."""

    def __init__(
        self,
        limits: RateLimits,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[tzinfo], datetime] = datetime.now,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.wall_clock = wall_clock
        self.windows: dict[str, _Window] = {}
        self.days: dict[int, _Day] = {}
        self._fixed = _Fixed.of(limits)

    def admit(self, token: str, account: int, zone: tzinfo) -> Admission:
        limits = self.limits
        now = self.clock()
        window = limits.interval_ms / 1000
        bucket = self.windows.get(token)
        if bucket is None:
            bucket = self.windows[token] = _Window()
        times = bucket.times
        while times and times[0] <= now - window:
            times.popleft()
        local = self.wall_clock(zone)
        today = local.date()
        day = self.days.get(account)
        if day is None:
            day = self.days[account] = _Day()
        if day.day != today:
            day.day, day.used = today, 0
        refusal: ApiError | None = None
        if day.used >= limits.daily:
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), zone)
            # Timestamps, not wall times: a day with a clock change is not 24 hours long.
            wait = midnight.timestamp() - local.timestamp()
            refusal = rate_limited(DAILY, wait, with_retry_after=limits.retry_after)
        elif len(times) >= limits.max_requests:
            wait = times[0] + window - now
            refusal = rate_limited(TEN_SECONDLY, wait, with_retry_after=limits.retry_after)
        else:
            times.append(now)
            day.used += 1
        return Admission(self._headers(times, now, day.used), refusal)

    def _headers(self, times: deque[float], now: float, used: int) -> list[tuple[bytes, bytes]]:
        limits, fixed = self.limits, self._fixed
        if fixed.limits is not limits:
            fixed = self._fixed = _Fixed.of(limits)
        # The times are in the clock's order (a monotonic one): those of the last second
        # are the last of them.
        in_last_second = len(times) - bisect_right(times, now - 1)
        return [
            fixed.daily,
            (_DAILY_LEFT, b"%d" % max(0, limits.daily - used)),
            fixed.interval,
            fixed.max,
            (_LEFT, b"%d" % max(0, limits.max_requests - len(times))),
            fixed.per_second,
            (_SECONDLY_LEFT, b"%d" % max(0, fixed.secondly - in_last_second)),
        ]
