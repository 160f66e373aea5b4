"""Fault switches for the sandbox server: seeded 5xx answers, 429s, dropped connections, latency.

They exercise a client's retry paths. Every API request past the token and
rate-limit checks draws from one seeded random stream, in a fixed order, so a
seed replays the same faults for the same requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from typing import Literal

from starlette.types import Receive, Send

from reconciler.sandbox.http.errors import ApiError, server_error
from reconciler.sandbox.http.ratelimit import TEN_SECONDLY, rate_limited

#: When a dropped connection closes: before the request is handled, or after (the
#: write happened, its answer is lost).
Drop = Literal["before", "after"]


@dataclass(frozen=True)
class Faults:
    """Switches for tests; each rate is a share of API requests, drawn from ``seed``.

    ``error_rate``: answered 500 or 503 before being handled. ``throttle_rate``:
    answered 429 TEN_SECONDLY_ROLLING whatever the window holds. ``drop_rate``:
    the connection is closed without an answer, half of the time before the
    request is handled and half of the time after (the write happened, its
    answer is lost). ``latency``: seconds from a request to its answer, the request
    handled meanwhile (a burst is answered together, as by a server with many cores).
    ``methods``: only requests with these methods meet faults (empty: all);
    ``paths``: only requests to these paths (empty: all).
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    latency: float = 0.0
    seed: int = 0
    methods: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()

    def apply_to(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and (
            not self.paths or path in self.paths
        )


class FaultInjector:
    """Draws the faults a request meets.

    A request the faults leave alone (by method or path) still draws, and meets
    nothing: the seeded stream moves on once per request, whatever its method.
    ``with_retry_after``: the 429s it answers carry ``Retry-After``, as the
    rate limits' do.
    """

    def __init__(self, faults: Faults, *, with_retry_after: bool) -> None:
        self.faults = faults
        self.with_retry_after = with_retry_after
        self._random = random.Random(faults.seed)
        # With every switch off no request meets a fault, however the dice fall: they
        # are not thrown.
        self._off = not any(
            (faults.error_rate, faults.throttle_rate, faults.drop_rate, faults.latency)
        )

    def _for(self, method: str, path: str) -> Faults:
        return self.faults if self.faults.apply_to(method, path) else Faults()

    def latency(self, method: str, path: str) -> float:
        return 0.0 if self._off else self._for(method, path).latency

    def error(self, method: str, path: str) -> ApiError | None:
        """A 429 or a 5xx to answer instead of handling the request, if the dice say so."""
        if self._off:
            return None
        faults = self._for(method, path)
        if self._random.random() < faults.throttle_rate:
            return rate_limited(TEN_SECONDLY, 1.0, with_retry_after=self.with_retry_after)
        if self._random.random() < faults.error_rate:
            return server_error(self._random.choice((500, 503)))
        return None

    def drop(self, method: str, path: str) -> Drop | None:
        """Whether to drop the connection of a request that met no error, and when."""
        if self._off:
            return None
        if self._random.random() >= self._for(method, path).drop_rate:
            return None
        return "after" if self._random.random() < 0.5 else "before"


async def drop_connection(send: Send, receive: Receive) -> None:
    """Close the socket without an answer.

    Under uvicorn, ``send`` is bound to the request cycle, which holds the
    transport: closing it is a dropped connection, and waiting for the
    disconnect tells uvicorn nobody is left to answer. Elsewhere, an answer
    that starts and never finishes makes the server close the connection too.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        return
    transport.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while (await receive())["type"] != "http.disconnect":
                pass
