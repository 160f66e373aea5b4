"""Which endpoint answers a request, and the request as an endpoint sees it.

A route is a path, or a prefix whose rest is a user's key (``{userId}``: every
character of it, newlines included), with the methods it takes; taking ``GET``
takes ``HEAD``. The rules are those the server has always answered by (they
were Starlette's, whose router it was first built on):

- a path matches a route's path exactly, or with one newline after it;
- of the routes a path matches, the first in the table that takes the method
  answers; when none takes it, the answer is 405;
- a path that matches no route but would without its trailing slashes (or with
  one added) is redirected there (307); else the answer is 404.

One dictionary look-up and a prefix test per version find the route: the
table is never walked, and no regular expression runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from operator import itemgetter
from urllib.parse import parse_qsl

from starlette.datastructures import URL, URLPath
from starlette.types import Receive, Scope

from reconciler.sandbox.http.answer import Answer
from reconciler.sandbox.http.errors import ApiError
from reconciler.sandbox.rows import TokenRow


class ClientDisconnect(Exception):
    """The client left before sending its whole request."""


class Call:
    """One routed request: what an endpoint reads of it."""

    __slots__ = ("_query", "key", "receive", "scope", "token")

    def __init__(self, scope: Scope, receive: Receive, token: TokenRow | None, key: str) -> None:
        self.scope = scope
        self.receive = receive
        #: The token the gate checked (None on the request log's route, which checks its own).
        self.token = token
        #: The path after a prefix route's prefix ("" on other routes).
        self.key = key
        self._query: dict[str, str] | None = None

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    def query(self, name: str) -> str | None:
        """The (last) value of a query parameter, percent-decoded; a name alone has ""."""
        if self._query is None:
            text = self.scope["query_string"].decode("latin-1")
            self._query = dict(parse_qsl(text, keep_blank_values=True))
        return self._query.get(name)

    async def body(self) -> bytes:
        chunks = []
        while True:
            message = await self.receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect()

    def url(self) -> URL:
        """The URL the client asked for (its ``Host``, scheme, path and query)."""
        return URL(scope=self.scope)

    def url_of(self, path: str) -> str:
        """The absolute URL of ``path`` on this server, as the client reaches it."""
        root = self.scope.get("app_root_path", self.scope.get("root_path", ""))
        base = {**self.scope, "path": root if root.endswith("/") else root + "/"}
        base.update(query_string=b"", root_path=root)
        return str(URLPath(path, protocol="http").make_absolute_url(URL(scope=base)))


Handler = Callable[[Call], Awaitable[Answer]]


@dataclass(frozen=True)
class Route:
    path: str
    handler: Handler
    methods: frozenset[str]
    #: Whether ``path`` is a prefix, the rest of the request's path being the key.
    prefix: bool = False


def route(path: str, handler: Handler, methods: Collection[str], *, prefix: bool = False) -> Route:
    taken = {m.upper() for m in methods}
    if "GET" in taken:
        taken.add("HEAD")
    return Route(path, handler, frozenset(taken), prefix)


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self._exact: dict[str, tuple[int, Route]] = {}
        self._prefixes: list[tuple[int, Route]] = []
        for index, entry in enumerate(routes):
            if entry.prefix:
                self._prefixes.append((index, entry))
            else:
                self._exact.setdefault(entry.path, (index, entry))

    def find(self, path: str, method: str) -> tuple[Route, str] | None:
        """The route that answers ``method`` at ``path`` and the key in the path; None if no
        route's path matches. A 405 (ApiError) if some do, but none takes ``method``."""
        matched = self._matching(path)
        for entry in matched:
            if method in entry.methods:
                return entry, path[len(entry.path) :] if entry.prefix else ""
        if matched:
            raise ApiError(405, "VALIDATION_ERROR", "Method Not Allowed")
        return None

    def redirect(self, path: str) -> str | None:
        """Where to redirect a path no route matches: the path with its trailing slashes
        taken off, or with one added, if a route matches that."""
        if path == "/":
            return None
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        return other if self._matching(other) else None

    def _matching(self, path: str) -> list[Route]:
        """The routes whose path matches, in the table's order."""
        found = []
        hit = self._exact.get(path)
        if hit is not None:
            found.append(hit)
        if path.endswith("\n"):
            hit = self._exact.get(path[:-1])
            if hit is not None:
                found.append(hit)
        for entry in self._prefixes:
            if path.startswith(entry[1].path):
                found.append(entry)
        if len(found) > 1:
            found.sort(key=itemgetter(0))
        return [entry for _, entry in found]
