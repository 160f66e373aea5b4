"""``sandbox serve``'s routing: every path and method reaches the endpoint, 405, 307 or 404 that
Starlette's router (which the server was first built on) reaches with the same route table.

Starlette stays the oracle: its router, given the routes as the server once declared them
(a user's key by a convertor that takes every character), runs beside ours on paths made
of the table's own pieces, slashes, newlines and stray text.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route as StarletteRoute

from reconciler.sandbox.http.endpoints import Endpoints
from reconciler.sandbox.http.errors import ApiError
from reconciler.sandbox.http.routing import Router, route
from reconciler.sandbox.http.server import ADMIN_PREFIX
from reconciler.sandbox.http.settings import ServerSettings
from reconciler.sandbox.store import Store


class _EveryCharacter(Convertor[str]):
    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("every_character", _EveryCharacter())


async def _nothing(call: Any) -> Any:
    raise AssertionError("routing only")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The server's routes, in its order, the request log's last."""
    with Store(tmp_path_factory.mktemp("routing") / "sandbox.db") as store:
        routes = Endpoints(store, ServerSettings()).routes()
    return [*routes, route(ADMIN_PREFIX + "requests", _nothing, ["GET", "DELETE"])]


def starlette_app(table: list[Any]) -> Starlette:
    """The table as Starlette routes; each endpoint answers its index and the user's key."""

    def endpoint(index: int) -> Any:
        async def answer(request: Request) -> Response:
            return PlainTextResponse(f"{index} {request.path_params.get('key', '')}")

        return answer

    routes = [
        StarletteRoute(
            r.path + ("{key:every_character}" if r.prefix else ""),
            endpoint(index),
            methods=sorted(r.methods - {"HEAD"}),
        )
        for index, r in enumerate(table)
    ]

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(str(exc.status_code), status_code=exc.status_code)

    return Starlette(routes=routes, exception_handlers={HTTPException: refused})


def starlette_outcome(app: Starlette, path: str, method: str) -> tuple[Any, ...]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"sandbox.test")],
        "scheme": "http",
        "server": ("sandbox.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    if status == 200:
        index, _, key = sent[1]["body"].decode().partition(" ")
        return ("route", int(index), key)
    if status == 307:
        location = dict(sent[0]["headers"])[b"location"].decode()
        return ("redirect", unquote(location.removeprefix("http://sandbox.test")))
    return (status,)


def our_outcome(router: Router, table: list[Any], path: str, method: str) -> tuple[Any, ...]:
    try:
        found = router.find(path, method)
    except ApiError as exc:
        return (exc.status,)
    if found is not None:
        return ("route", table.index(found[0]), found[1])
    other = router.redirect(path)
    return ("redirect", other) if other is not None else (404,)


PIECES = [
    "/settings/v3/users",
    "/settings/users/2026-03",
    "/settings/users/2026-09-beta",
    "/roles",
    "/teams",
    "/seats",
    "/account-info/v3/details",
    "/account-info/2026-03/details",
    "/oauth/v2/private-apps/get/access-token-info",
    "/__sandbox/requests",
    "/",
    "//",
    "\n",
    "x",
    "7",
    "rep@acme.example",
]
paths = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join)
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])


@settings(max_examples=400, deadline=None)
@given(path=paths, method=methods)
def test_routes_are_found_as_starlette_found_them(table: list[Any], path: str, method: str) -> None:
    router = Router(table)
    expected = starlette_outcome(starlette_app(table), path, method)
    assert our_outcome(router, table, path, method) == expected


def described(table: list[Any], outcome: tuple[Any, ...]) -> str | int:
    if outcome[0] == "route":
        entry = table[outcome[1]]
        return f"user {outcome[2]}" if entry.prefix else entry.path.rsplit("/", 1)[-1]
    if outcome[0] == "redirect":
        return f"-> {outcome[1]}"
    status: int = outcome[0]
    return status


@pytest.mark.parametrize(
    "path,method,expected",
    [
        ("/settings/users/2026-03/roles", "GET", "roles"),
        ("/settings/users/2026-03/roles\n", "GET", "roles"),  # "$" before a final newline
        ("/settings/users/2026-03/roles", "PUT", "user roles"),  # roles takes no PUT
        ("/settings/users/2026-03/roles", "POST", 405),
        ("/settings/users/2026-03/a\nb", "DELETE", "user a\nb"),
        ("/settings/users/2026-03/", "GET", "user "),
        ("/settings/v3/users/", "GET", ""),  # v3's list, with its slash
        ("/settings/v3/users", "GET", "-> /settings/v3/users/"),
        ("/account-info/v3/details/", "POST", "-> /account-info/v3/details"),
        ("/account-info/v3/details", "HEAD", "details"),
        ("/", "GET", 404),
        ("/nowhere", "GET", 404),
    ],
)
def test_the_rules_of_routing(
    table: list[Any], path: str, method: str, expected: str | int
) -> None:
    outcome = our_outcome(Router(table), table, path, method)
    assert described(table, outcome) == expected
    assert starlette_outcome(starlette_app(table), path, method) == outcome


def test_get_takes_head() -> None:
    assert route("/x", _nothing, ["GET"]).methods == {"GET", "HEAD"}
    assert route("/x", _nothing, ["post"]).methods == {"POST"}


def test_the_first_route_in_the_table_wins_whatever_its_kind() -> None:
    """A prefix route before an exact one takes the exact one's path too, as in Starlette."""
    table = [route("/a/", _nothing, ["GET"], prefix=True), route("/a/b", _nothing, ["GET", "PUT"])]
    router = Router(table)
    for method in ("GET", "PUT", "POST"):
        expected = starlette_outcome(starlette_app(table), "/a/b", method)
        assert our_outcome(router, table, "/a/b", method) == expected
    assert our_outcome(router, table, "/a/b", "GET") == ("route", 0, "b")
    assert our_outcome(router, table, "/a/b", "PUT") == ("route", 1, "")
