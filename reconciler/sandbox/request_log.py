"""The sandbox server's request log: method, path, query, status and account, never a token.

Tests count calls with it; ``GET /__sandbox/requests`` serves it.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope


@dataclass(frozen=True)
class LoggedRequest:
    """One API request as the server saw it; ``status`` 0 when the connection was dropped."""

    method: str
    path: str
    query: str
    status: int
    account: int | None
    dropped: bool = False

    def to_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RequestLog:
    """Appended to by the server's event loop, read from any thread."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def record(self, scope: Scope, status: int, account: int | None, dropped: bool = False) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        entry = LoggedRequest(scope["method"], scope["path"], query, status, account, dropped)
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
