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
- ``endpoints``: the routes, over the store;
- ``shapes``: a user as the API shows it and takes it, seat and
  permission set names, scopes;
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

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from reconciler.errors import ReconcilerError, SandboxError
from reconciler.sandbox.http.endpoints import TOKEN_KEY, Endpoints
from reconciler.sandbox.http.errors import (
    ApiError,
    not_found,
    server_error,
    too_large,
    unauthenticated,
)
from reconciler.sandbox.http.faults import FaultInjector, drop_connection
from reconciler.sandbox.http.ratelimit import Limiter
from reconciler.sandbox.http.request_log import LoggedRequest, RequestLog, Target
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
        admin = Route(ADMIN_PREFIX + "requests", self._admin_requests, methods=["GET", "DELETE"])
        self.app = Starlette(
            routes=[*Endpoints(store, self.settings).routes(), admin],
            exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        )

    def requests(self) -> list[LoggedRequest]:
        return self._log.entries()

    def clear_requests(self) -> None:
        self._log.clear()

    async def _admin_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_requests()
            return Response(status_code=204)
        entries = [r.to_data() for r in self.requests()]
        return JSONResponse({"requests": entries, "discarded": self._log.discarded})

    # -- the gate: token, limits, faults ----------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        receive = self._limited(receive)
        if scope["path"].startswith(ADMIN_PREFIX):
            await self._admin(scope, receive, send)
            return
        method = scope["method"]
        latency = self._faults.latency(method, scope["path"])
        if latency > 0:
            await asyncio.sleep(latency)
        target = Target(scope)
        token, tokens = self._tokens(scope, target)
        headers: dict[str, str] = {}
        try:
            if token is None:
                raise unauthenticated()
            admission = self._limiter.admit(
                token.value, token.account, self.settings.zone(token.account)
            )
            headers = admission.headers
            if admission.refusal is not None:
                raise admission.refusal
            fault = self._faults.error(method, scope["path"])
            if fault is not None:
                raise fault
            self._check_length(scope)
        except ApiError as exc:
            response = exc.response()
            response.headers.update(headers)
            self._log.record(target, tokens, response.status_code, token.account if token else None)
            await response(scope, receive, send)
            return
        drop = self._faults.drop(method, scope["path"])
        messages: list[Message] = []
        if drop != "before":
            scope[TOKEN_KEY] = token
            messages = await self._handle(scope, receive)
            if not messages:  # the client left before its answer
                self._log.record(target, tokens, 0, token.account)
                return
        if drop is not None:
            self._log.record(target, tokens, 0, token.account, dropped=True)
            await drop_connection(send, receive)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        for index, message in enumerate(messages):
            if message["type"] == "http.response.start":
                messages[index] = {**message, "headers": [*message.get("headers", []), *extra]}
                # Logged before the answer leaves, so a client that has its answer
                # always finds its request in the log.
                self._log.record(target, tokens, int(message["status"]), token.account)
        for message in messages:
            await send(message)

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The log shows every account's calls: any token of the sandbox, no rate limit,
        no faults, and not logged itself."""
        try:
            self._authenticate(scope)
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _tokens(self, scope: Scope, target: Target) -> tuple[TokenRow | None, dict[str, TokenRow]]:
        """The request's token, and which parts of its path and query are tokens (for the log
        to keep out): one look-up a request."""
        bearer = _bearer(scope)
        texts = target.texts()
        tokens = self.store.tokens_named(texts if bearer is None else texts | {bearer})
        return (tokens.get(bearer) if bearer is not None else None), tokens

    async def _handle(self, scope: Scope, receive: Receive) -> list[Message]:
        """The app's answer to a request that passed the gate, held back to be sent later."""
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        try:
            await self.app(scope, receive, keep)
        except ClientDisconnect:
            # Nobody to answer: one line, no traceback. A client that gives up is
            # not a failure of the server.
            # %r: a path may hold CR or LF, which must not start a line of its own.
            _log.warning(
                "client disconnected before sending its whole request: %s %r",
                scope["method"],
                scope["path"],
            )
            return []
        except Exception:
            # Starlette has answered 500 already when it could; otherwise answer it here.
            _log.exception("sandbox API request failed: %s %r", scope["method"], scope["path"])
            if not any(m["type"] == "http.response.start" for m in messages):
                await server_error().response()(scope, receive, keep)
        return messages

    def _check_length(self, scope: Scope) -> None:
        """Refuse a declared body over the limit before reading a byte of it.

        After the answer the HTTP server (uvicorn) reads the rest and throws it away,
        never holding it, so the client gets its 413 rather than a reset; the
        keep-alive timeout ends a connection that keeps sending.
        """
        limit = self.settings.max_body
        for name, value in scope.get("headers", []):
            digits = value.strip()
            if name != b"content-length" or not digits.isdigit():
                continue
            # Counted by its digits first: int() refuses more than 4,300 of them.
            if len(digits.lstrip(b"0")) > len(str(limit)) or int(digits) > limit:
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
        bearer = _bearer(scope)
        token = self.store.token(bearer) if bearer is not None else None
        if token is None:
            raise unauthenticated()
        return token


def _bearer(scope: Scope) -> str | None:
    """The token of the request's (last) ``Authorization: Bearer`` header, if it has one."""
    header = ""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            header = value.decode("latin-1")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value else None


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found(f"No API at {request.url.path}").response()
    category = "VALIDATION_ERROR" if exc.status_code < 500 else "INTERNAL_ERROR"
    return ApiError(exc.status_code, category, str(exc.detail)).response()


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
