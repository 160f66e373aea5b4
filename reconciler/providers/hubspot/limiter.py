"""Pacing under HubSpot's rolling window: one limiter per token, shared by its threads.

HubSpot allows ``X-HubSpot-RateLimit-Max`` requests per
``X-HubSpot-RateLimit-Interval-Milliseconds`` per token, in a rolling window.
The limiter remembers when it let each request go and holds the next one until
the window has room again. The window it keeps is a little longer than the
server's, because the server counts arrivals and arrivals jitter. Every answer
corrects it: the limits in the headers replace the configured ones, and an
``X-HubSpot-RateLimit-Remaining`` below what it expects means someone else uses
the token too, whose requests it then counts as well. A 429 holds the token
for as long as the server asks.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping

MAX = "x-hubspot-ratelimit-max"
INTERVAL = "x-hubspot-ratelimit-interval-milliseconds"
REMAINING = "x-hubspot-ratelimit-remaining"


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class WindowLimiter:
    """At most ``max_requests`` per ``interval`` seconds, counted from when each request left."""

    def __init__(self, max_requests: int = 100, interval: float = 10.0) -> None:
        self.max_requests = max(1, max_requests)
        self.interval = interval
        self._sent: deque[float] = deque()
        self._held_until = 0.0
        self._changed = threading.Condition()

    @property
    def window(self) -> float:
        """The server's window plus a margin for the jitter between leaving and arriving."""
        return self.interval + max(0.02 * self.interval, 0.05)

    def acquire(self) -> None:
        """Block until one more request fits in the window, and count it."""
        with self._changed:
            while True:
                now = time.monotonic()
                self._expire(now)
                if self._held_until > now:
                    wait = self._held_until - now
                elif len(self._sent) >= self.max_requests:
                    wait = self._sent[0] + self.window - now
                else:
                    self._sent.append(now)
                    return
                self._changed.wait(timeout=max(wait, 0.001))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the limits from an answer's headers, and others' use of the token."""
        limit = header_int(headers, MAX)
        interval_ms = header_int(headers, INTERVAL)
        remaining = header_int(headers, REMAINING)
        with self._changed:
            if limit:
                self.max_requests = limit
            if interval_ms:
                self.interval = interval_ms / 1000
            if remaining is not None:
                now = time.monotonic()
                self._expire(now)
                others = (self.max_requests - remaining) - len(self._sent)
                self._sent.extend([now] * max(0, others))
            self._changed.notify_all()

    def hold(self, seconds: float) -> None:
        """Send nothing on this token for ``seconds`` (the server said 429)."""
        with self._changed:
            self._held_until = max(self._held_until, time.monotonic() + seconds)
            self._changed.notify_all()

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
