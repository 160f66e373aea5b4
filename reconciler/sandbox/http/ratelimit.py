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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

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

    day: str = ""
    used: int = 0


@dataclass(frozen=True)
class Admission:
    """The limiter's answer: the headers for the answer, and the 429 if the token is over."""

    headers: dict[str, str]
    refusal: ApiError | None


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

    def admit(self, token: str, account: int, zone: tzinfo) -> Admission:
        limits = self.limits
        now = self.clock()
        window = limits.interval_ms / 1000
        bucket = self.windows.setdefault(token, _Window())
        while bucket.times and bucket.times[0] <= now - window:
            bucket.times.popleft()
        local = self.wall_clock(zone)
        today = local.date().isoformat()
        day = self.days.setdefault(account, _Day())
        if day.day != today:
            day.day, day.used = today, 0
        refusal: ApiError | None = None
        if day.used >= limits.daily:
            midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
            # Timestamps, not wall times: a day with a clock change is not 24 hours long.
            wait = midnight.timestamp() - local.timestamp()
            refusal = rate_limited(DAILY, wait, with_retry_after=limits.retry_after)
        elif len(bucket.times) >= limits.max_requests:
            wait = bucket.times[0] + window - now
            refusal = rate_limited(TEN_SECONDLY, wait, with_retry_after=limits.retry_after)
        else:
            bucket.times.append(now)
            day.used += 1
        secondly = max(1, math.ceil(limits.max_requests * 1000 / limits.interval_ms))
        in_last_second = sum(1 for t in bucket.times if t > now - 1)
        headers = {
            "X-HubSpot-RateLimit-Daily": str(limits.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, limits.daily - day.used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(limits.interval_ms),
            "X-HubSpot-RateLimit-Max": str(limits.max_requests),
            "X-HubSpot-RateLimit-Remaining": str(max(0, limits.max_requests - len(bucket.times))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - in_last_second)),
        }
        return Admission(headers, refusal)
