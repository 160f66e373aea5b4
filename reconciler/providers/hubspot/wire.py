"""The hubspot client's requests on the wire: the bytes httpx would send, for a tenth of its CPU.

Planning 200 accounts makes 1,200 requests from 96 threads in one process.
Through ``httpx.Client`` each cost 3 to 5 ms of CPU there (URL parsing, header
models, the cookie jar, a connection pool whose every hand-off scans every
connection), which made a wire plan CPU-bound at several times its floor of
latency. :class:`Wire` sends the same request bytes (request line, headers in
httpx's order, JSON body; a test compares them) over kept-alive HTTP/1.1
connections and parses the answer with ``httptools`` (llhttp, the parser
uvicorn uses): a few tenths of a millisecond a request.

httpx still does what the wire does not, so nothing changes in those cases: a
``transport`` given to the client (tests), a proxy named in the environment, a
scheme other than ``http``/``https``. The first answer that sets a cookie is
put into httpx's cookie jar, and from then on httpx sends every request, with
its cookies. Paths and query strings are encoded by httpx itself (once per
distinct path). Failures are raised as the httpx exceptions httpx would raise
(``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``, ...), so the
client retries exactly as it does for httpx.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import select
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import httptools
import httpx

from reconciler.providers.hubspot.headers import Headers

#: httpx's (httpcore's) default: an idle connection older than this is not reused.
KEEPALIVE_EXPIRY = 5.0
#: Paths (with their query) whose encoded form is kept: every read path, and then some.
TARGETS_KEPT = 4096
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: h11's grammar of a header's name and value: a value that would end the header (and
#: could start another) is refused before anything is sent.
_FIELD_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")


class Received:
    """An answer as the client reads it: what it uses of ``httpx.Response``, alike."""

    __slots__ = ("content", "headers", "raw_headers", "status_code")

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], content: bytes):
        self.status_code = status_code
        self.raw_headers = raw_headers
        self.headers = Headers(raw_headers)  # as httpx reads them
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        """Decoded by httpx (the charset the Content-Type names, else UTF-8): only for errors."""
        kind = {"content-type": self.headers.get("content-type", "")}
        return httpx.Response(self.status_code, headers=kind, content=self.content).text


class _Parsed:
    """httptools' callbacks for one answer (1xx answers before it are skipped)."""

    __slots__ = ("body", "complete", "head", "headers", "informational", "keep_alive", "parser")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.head = self.complete = self.informational = self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.informational = self.parser.get_status_code() < 200
        self.head = not self.informational

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.headers, self.informational = [], False
        else:
            # Asked here: once the message is done, llhttp no longer knows.
            self.keep_alive = bool(self.parser.should_keep_alive())
            self.complete = True

    def closed(self) -> None:
        """The connection closed before the answer was complete: its end, or httpx's error."""
        if not self.head:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        fields = {name.lower(): value for name, value in self.headers}
        incomplete = "peer closed connection without sending complete message body"
        if b"content-length" in fields:
            received, expected = sum(map(len, self.body)), int(fields[b"content-length"])
            raise httpx.RemoteProtocolError(
                f"{incomplete} (received {received} bytes, expected {expected})"
            )
        if b"transfer-encoding" in fields:
            raise httpx.RemoteProtocolError(f"{incomplete} (incomplete chunked read)")
        # Neither a length nor chunks: the body lasted until the connection closed.


class _Connection:
    __slots__ = ("idle_since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        """Not expired, and nothing to read: a closed or talking socket is readable.

        httpcore's checks, made the way it makes them (``poll``: no bound on descriptors).
        """
        if now - self.idle_since > KEEPALIVE_EXPIRY:
            return False
        try:
            if getattr(select, "poll", None) is None:  # pragma: no cover (Windows)
                readable, _, _ = select.select([self.sock], [], [], 0)
                return not readable
            poll = select.poll()
            poll.register(self.sock, select.POLLIN)
            return not poll.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Wire:
    """Kept-alive connections to the client's origin, at most ``connections`` at once."""

    def __init__(self, http: httpx.Client, *, timeout: float, connections: int) -> None:
        self._http = http
        self._timeout = timeout
        url = http.base_url
        self._address = (url.host, url.port or (443 if url.scheme == "https" else 80))
        self._tls = _tls_context() if url.scheme == "https" else None
        self._host = http.build_request("GET", "/").headers["Host"].encode("ascii")
        #: The client's headers (Accept-Encoding, Connection, Accept, User-Agent), as lines.
        self._defaults = [(k.decode("ascii").lower(), k + b": " + v) for k, v in http.headers.raw]
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        #: One item per connection that may be open; a request holds one while it is sent.
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(connections):
            self._slots.put(None)
        self._closed = False
        #: An answer set a cookie: httpx sends from now on, with its jar.
        self.cookies_seen = False
        self._target = lru_cache(maxsize=TARGETS_KEPT)(self._encode_target)
        self._header_lines = lru_cache(maxsize=TARGETS_KEPT)(self._encode_headers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> Received:
        """One request and its answer, or the httpx exception httpx would have raised."""
        query = tuple(params.items()) if params else ()
        data = self._message(method, self._target(path, query), body, headers)
        try:
            self._slots.get(timeout=self._timeout)
        except queue.Empty:
            raise httpx.PoolTimeout("timed out waiting for a connection") from None
        try:
            connection = self._connection()
            received, keep = self._exchange(connection, data)
            self._release(connection, keep)
        finally:
            self._slots.put(None)
        if "set-cookie" in received.headers:
            self._keep_cookies(method, path, params, received)
        return received

    def _encode_target(self, path: str, query: tuple[tuple[str, str | int], ...]) -> bytes:
        """The request target exactly as httpx encodes it (base path, path, query)."""
        url = self._http.build_request("GET", path, params=query or None).url
        target: bytes = url.raw_path
        return target

    def _message(
        self, method: str, target: bytes, body: Mapping[str, Any] | None, headers: Mapping[str, str]
    ) -> bytes:
        """Request line and headers in httpx's order: Host, the client's, the call's, the body's."""
        # A call's header replaces the client's of the same name, at the end (httpx's update).
        lines = [f"{method} ".encode("ascii") + target + b" HTTP/1.1", b"Host: " + self._host]
        if body is None and method in _BODY_METHODS:
            lines.append(b"Content-Length: 0")
        lines += self._header_lines(tuple(headers.items()))
        content = b""
        if body is not None:
            content = json.dumps(
                body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            lines.append(f"Content-Length: {len(content)}".encode("ascii"))
            lines.append(b"Content-Type: application/json")
        return b"\r\n".join(lines) + b"\r\n\r\n" + content

    def _encode_headers(self, headers: tuple[tuple[str, str], ...]) -> list[bytes]:
        """The client's header lines but those a call's header replaces, then the call's."""
        replaced = {name.lower() for name, _ in headers}
        lines = [line for name, line in self._defaults if name not in replaced]
        for name, value in headers:
            # Encoded and checked as httpx and h11 do, with their errors and messages.
            raw_name, raw_value = name.encode("ascii"), value.encode("ascii")
            if not _FIELD_NAME.fullmatch(raw_name):
                raise httpx.LocalProtocolError(f"Illegal header name {raw_name!r}")
            if not _FIELD_VALUE.fullmatch(raw_value):
                raise httpx.LocalProtocolError(f"Illegal header value {raw_value!r}")
            lines.append(raw_name + b": " + raw_value)
        return lines

    def _connection(self) -> _Connection:
        now = time.monotonic()
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("Cannot send a request, as the client has been closed.")
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect()
            if connection.reusable(now):
                return connection
            connection.close()

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection(self._address, timeout=self._timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        except TimeoutError as exc:
            sock.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out") from exc
        except OSError as exc:  # ssl.SSLError among them
            sock.close()
            raise httpx.ConnectError(str(exc)) from exc
        return _Connection(sock)

    def _exchange(self, connection: _Connection, data: bytes) -> tuple[Received, bool]:
        """Send ``data`` and read one answer; whether the connection may be used again."""
        sock = connection.sock
        try:
            sock.sendall(data)
        except TimeoutError as exc:
            connection.close()
            raise httpx.WriteTimeout(str(exc) or "timed out") from exc
        except OSError:
            # As httpcore: a server may answer (413, say) and close before taking the
            # whole request; its answer is read, and a read that fails says why.
            pass
        parsed = _Parsed()
        try:
            keep = _read(sock, parsed)
        except BaseException:
            connection.close()
            raise
        received = Received(parsed.parser.get_status_code(), parsed.headers, b"".join(parsed.body))
        if "content-encoding" in received.headers:
            # gzip and the like, decoded by httpx's own decoders (HubSpot compresses).
            stream = httpx.ByteStream(received.content)
            answer = httpx.Response(received.status_code, headers=parsed.headers, stream=stream)
            received.content = answer.read()
        return received, keep

    def _release(self, connection: _Connection, keep: bool) -> None:
        if keep:
            connection.idle_since = time.monotonic()
            with self._lock:
                if not self._closed:
                    self._idle.append(connection)
                    return
        connection.close()

    def _keep_cookies(
        self, method: str, path: str, params: Mapping[str, str | int] | None, received: Received
    ) -> None:
        """Put the answer's cookies in httpx's jar, as httpx would have; httpx sends from now on."""
        request = self._http.build_request(method, path, params=params)
        answer = httpx.Response(received.status_code, headers=received.raw_headers, request=request)
        self._http.cookies.extract_cookies(answer)
        self.cookies_seen = True


def _read(sock: socket.socket, parsed: _Parsed) -> bool:
    """Feed the answer to the parser until it is complete; whether to keep the connection."""
    while not parsed.complete:
        try:
            chunk = sock.recv(65536)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc
        if not chunk:
            parsed.closed()
            return False
        try:
            parsed.parser.feed_data(chunk)
        except httptools.HttpParserError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
    return parsed.keep_alive


def _tls_context() -> ssl.SSLContext:
    """httpx's own: its certificate bundle, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured."""
    context = httpx.create_ssl_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def wire_sends(base_url: str, transport: httpx.BaseTransport | None) -> bool:
    """Whether the wire sends to ``base_url`` exactly what httpx would (else httpx sends).

    Not with a ``transport`` given, a scheme other than ``http``/``https``, or a proxy
    named in the environment.
    """
    if transport is not None or httpx.URL(base_url).scheme not in ("http", "https"):
        return False
    proxies = urllib.request.getproxies()
    return not any(scheme in proxies for scheme in ("http", "https", "all"))


class DeferredTransport(httpx.BaseTransport):
    """httpx's default transport, made the first time httpx sends (after a cookie), if ever.

    Making one loads the certificate bundle, tens of milliseconds of CPU that the
    wire never needs over HTTP (and over HTTPS spends once, for its own connections).
    Given to the client only where :func:`wire_sends`, so no proxy is lost by giving
    one: the transport made is the one httpx would have made, with the same limits.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._made: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self._made is None:
                self._made = httpx.HTTPTransport(limits=self._limits)
            made = self._made
        return made.handle_request(request)

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, None
        if made is not None:
            made.close()
