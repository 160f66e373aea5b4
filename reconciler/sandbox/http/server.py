"""``reconciler sandbox serve``: the sandbox over HTTP, as a HubSpot-compatible API.

It answers the calls of HubSpot's Settings User Provisioning API v3 (users,
roles, teams), ``/account-info/v3/details`` and the dated beta seats list,
with HubSpot's JSON shapes, cursor paging, error bodies, scopes and rate
limits, so the hubspot provider (and any HubSpot client, the official SDK
included) is tested end to end over a real socket. Every write goes through
the same :class:`~reconciler.sandbox.store.Store` rules as the sandbox
provider's, acting as the partner's actor where the actor is a user of the
account.

This module is the gate every API request passes (token, rate limits, fault
switches, request log) and the means to run it; the parts live beside it:

- ``settings``: what the server runs with (limits, time zones, faults, names);
- ``routing``: which endpoint answers a path and method (or a 404, 405, 307);
- ``endpoints``: the routes, over the store (``reads``: what they read of it);
- ``shapes``: a user as the API shows it and takes it, seat and
  permission set names, scopes;
- ``answer``: a status, headers and body, built whole before any is sent;
- ``errors``: HubSpot's error bodies;
- ``ratelimit``: the per-token rolling window and daily count, and their headers;
- ``faults``: seeded 5xx answers, 429s, dropped connections and latency;
- ``request_log``: method, path, status and account of every request, the
  last 10,000 of them. Tokens are never logged, not even one put in a URL.

Hostile input is answered, never followed: a body over ``max_body`` is a 413
(checked against ``Content-Length`` before the body is read, and counted as
it arrives when there is none), JSON that is invalid, not UTF-8 or nested too
deep a 400, an email with a control character a 400, and a client that leaves
mid-request one warning line. The request log (``/__sandbox/requests``) needs
a token of the sandbox like any API call. docs/sandbox-serve.md lists these answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.datastructures import URL
from starlette.types import Message, Receive, Scope, Send

from reconciler.errors import ReconcilerError, SandboxError
from reconciler.sandbox.http.answer import (
    Answer,
    Headers,
    body_answer,
    empty_answer,
    internal_error,
)
from reconciler.sandbox.http.endpoints import Endpoints
from reconciler.sandbox.http.errors import ApiError, not_found, too_large, unauthenticated
from reconciler.sandbox.http.faults import FaultInjector, drop_connection
from reconciler.sandbox.http.ratelimit import Limiter
from reconciler.sandbox.http.request_log import LoggedRequest, RequestLog, Target, target
from reconciler.sandbox.http.routing import Call, ClientDisconnect, Router, route
from reconciler.sandbox.http.settings import ServerSettings
from reconciler.sandbox.rows import TokenRow
from reconciler.sandbox.store import Store

ADMIN_PREFIX = "/__sandbox/"

_log = logging.getLogger(__name__)


class SandboxAPI:
    """The ASGI application: HubSpot's API over one sandbox store.

    Use it in-process (``ServedSandbox``) or from ``reconciler sandbox serve``.
    ``requests()`` is the request log; ``GET /__sandbox/requests`` serves it too
    (``DELETE`` clears it), to a client with any token of the sandbox.
    """

    def __init__(self, store: Store, settings: ServerSettings | None = None) -> None:
        self.store = store
        self.settings = settings or ServerSettings()
        self._limiter = Limiter(self.settings.limits)
        self._faults = FaultInjector(
            self.settings.faults, with_retry_after=self.settings.limits.retry_after
        )
        self._log = RequestLog(limit=self.settings.request_log_size)
        self._zones: dict[int, ZoneInfo] = {}
        admin = route(ADMIN_PREFIX + "requests", self._admin_requests, ["GET", "DELETE"])
        self._router = Router([*Endpoints(store, self.settings).routes(), admin])

    def requests(self) -> list[LoggedRequest]:
        return self._log.entries()

    def clear_requests(self) -> None:
        self._log.clear()

    async def _admin_requests(self, call: Call) -> Answer:
        if call.method == "DELETE":
            self.clear_requests()
            return empty_answer(204)
        return body_answer(self._log.json().encode("utf-8"))

    # -- the gate: token, limits, faults ----------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await _not_http(scope, receive, send)
            return
        receive = self._limited(receive)
        path, method = scope["path"], scope["method"]
        if path.startswith(ADMIN_PREFIX):
            await self._admin(scope, receive, send)
            return
        # An answer leaves ``latency`` after its request came, the work done meanwhile:
        # a burst of requests is answered together, not one after the other.
        due = asyncio.get_running_loop().time() + self._faults.latency(method, path)
        asked = target(path, scope["query_string"])
        bearer, lengths = _bearer_and_lengths(scope)
        token, tokens = self._tokens(bearer, asked)
        account = token.account if token is not None else None
        headers: Headers = []
        try:
            if token is None:
                raise unauthenticated()
            admission = self._limiter.admit(token.value, token.account, self._zone(token.account))
            headers = admission.raw_headers
            if admission.refusal is not None:
                raise admission.refusal
            fault = self._faults.error(method, path)
            if fault is not None:
                raise fault
            self._check_length(lengths)
        except ApiError as exc:
            answer = exc.answer()
            self._log.record(method, asked, tokens, answer.status, account)
            await _until(due)
            await answer.send(send, headers)
            return
        drop = self._faults.drop(method, path)
        handled: Answer | None = None
        if drop != "before":
            handled = await self._answer(scope, receive, token)
            if handled is None:  # the client left before its answer
                self._log.record(method, asked, tokens, 0, account)
                return
        if drop is not None:
            self._log.record(method, asked, tokens, 0, account, dropped=True)
            await _until(due)
            await drop_connection(send, receive)
            return
        assert handled is not None
        # Logged before the answer leaves, so a client that has its answer always finds
        # its request in the log.
        self._log.record(method, asked, tokens, handled.status, account)
        await _until(due)
        await handled.send(send, headers)

    def _zone(self, account: int) -> ZoneInfo:
        zone = self._zones.get(account)
        if zone is None:
            zone = self._zones[account] = self.settings.zone(account)
        return zone

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The log shows every account's calls: any token of the sandbox, no rate limit,
        no faults, and not logged itself."""
        try:
            self._authenticate(scope)
        except ApiError as exc:
            await exc.answer().send(send)
            return
        try:
            answer = await self._dispatch(scope, receive, None)
        except Exception:
            await internal_error().send(send)
            raise
        await answer.send(send)

    def _tokens(
        self, bearer: str | None, asked: Target
    ) -> tuple[TokenRow | None, dict[str, TokenRow]]:
        """The request's token, and which parts of its path and query are tokens (for the log
        to keep out): one look-up a request."""
        texts = asked.texts
        tokens = self.store.tokens_named(texts if bearer is None else [*texts, bearer])
        return (tokens.get(bearer) if bearer is not None else None), tokens

    async def _answer(self, scope: Scope, receive: Receive, token: TokenRow) -> Answer | None:
        """The answer to a request that passed the gate; None if the client left first."""
        try:
            return await self._dispatch(scope, receive, token)
        except ClientDisconnect:
            # Nobody to answer: one line, no traceback. A client that gives up is
            # not a failure of the server.
            # %r: a path may hold CR or LF, which must not start a line of its own.
            _log.warning(
                "client disconnected before sending its whole request: %s %r",
                scope["method"],
                scope["path"],
            )
            return None
        except Exception:
            _log.exception("sandbox API request failed: %s %r", scope["method"], scope["path"])
            return internal_error()

    async def _dispatch(self, scope: Scope, receive: Receive, token: TokenRow | None) -> Answer:
        """The routed endpoint's answer, HubSpot's error body for an ApiError it raises."""
        try:
            found = self._router.find(scope["path"], scope["method"])
            if found is None:
                return self._unrouted(scope)
            endpoint, key = found
            return await endpoint.handler(Call(scope, receive, token, key))
        except ApiError as exc:
            return exc.answer()

    def _unrouted(self, scope: Scope) -> Answer:
        """A 307 to the path a slash away that has a route, else a 404."""
        other = self._router.redirect(scope["path"])
        if other is None:
            return not_found(f"No API at {URL(scope=scope).path}").answer()
        location = quote(str(URL(scope={**scope, "path": other})), safe=":/%#?=@[]!$&'()*+,;")
        return empty_answer(307, [(b"location", location.encode("latin-1"))])

    def _check_length(self, lengths: list[bytes]) -> None:
        """Refuse a declared body over the limit before reading a byte of it.

        After the answer the HTTP server (uvicorn) reads the rest and throws it away,
        never holding it, so the client gets its 413 rather than a reset; the
        keep-alive timeout ends a connection that keeps sending.
        """
        limit = self.settings.max_body
        for value in lengths:
            digits = value.strip()
            if not digits.isdigit():
                continue
            # Counted by its digits first (int() refuses more than 4,300 of them),
            # leading zeros aside: 5,000 zeros and a 2 are a 2.
            significant = digits.lstrip(b"0")
            if len(significant) > len(str(limit)) or int(significant or b"0") > limit:
                raise too_large(limit)

    def _limited(self, receive: Receive) -> Receive:
        """``receive``, counting the body as it arrives: past the limit, a 413.

        For a body sent without ``Content-Length`` (chunked). The error is raised
        inside the app's read, where the app's handler answers it; at most one
        chunk past the limit is ever held.
        """
        limit = self.settings.max_body
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        return limited

    def _authenticate(self, scope: Scope) -> TokenRow:
        bearer, _ = _bearer_and_lengths(scope)
        token = self.store.token(bearer) if bearer is not None else None
        if token is None:
            raise unauthenticated()
        return token


async def _until(due: float) -> None:
    """Wait for the event loop's clock to reach ``due``, if it has not."""
    wait = due - asyncio.get_running_loop().time()
    if wait > 0:
        await asyncio.sleep(wait)


def _bearer_and_lengths(scope: Scope) -> tuple[str | None, list[bytes]]:
    """The token of the request's (last) ``Authorization: Bearer`` header, if it has one,
    and the values of its ``Content-Length`` headers."""
    header = ""
    lengths = []
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            header = value.decode("latin-1")
        elif name == b"content-length":
            lengths.append(value)
    scheme, _, token = header.partition(" ")
    return (token.strip() if scheme.lower() == "bearer" and token else None), lengths


async def _not_http(scope: Scope, receive: Receive, send: Send) -> None:
    """A websocket is closed at once (no route takes one); lifespan events are acknowledged."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1000, "reason": ""})
    elif scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})


# -- running it ---------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one.

    Made with ``IPPROTO_TCP``, which accepted sockets inherit: asyncio turns Nagle's
    algorithm off only for sockets that name it, and with it on every answer
    (headers, then body) waited ~40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ReconcilerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _uvicorn_server(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> Any:
    import uvicorn

    # log_config=None: leave the process's logging alone (uvicorn's warnings still
    # reach stderr through the root logger); no access log, which would list requests.
    # httptools (llhttp) parses requests: h11, uvicorn's pure-Python parser, took a
    # quarter of the server's CPU per request.
    config = uvicorn.Config(
        app,
        http="httptools",
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


def serve(api: SandboxAPI, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until Ctrl-C (or SIGTERM); ``on_ready`` gets the URL once the socket listens."""
    sock = listen(host, port)
    try:
        server = _uvicorn_server(api)
        # What is built by now (the config, the store, the modules) lives as long as the
        # server: the collector need not walk it again on every full pass.
        gc.freeze()
        on_ready(url_of(sock))
        # uvicorn shuts down gracefully on the signal, then raises it again.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()


class ServedSandbox:
    """The API on a real loopback socket in a background thread, for tests and benchmarks.

    ``with ServedSandbox(api) as served: ... served.url ...``
    """

    def __init__(self, api: SandboxAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self._sock = listen(host, port)
        self.url = url_of(self._sock)
        self._server = _uvicorn_server(api)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="sandbox-serve",
            daemon=True,
        )

    def start(self) -> ServedSandbox:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxError("the sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> ServedSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
