"""The hubspot client's wire sends what httpx sends and reads answers as httpx reads them.

Each test makes the same calls twice against one scripted server: through the
wire (the client's default) and through httpx (a transport given, which is what
makes httpx send), then compares what the server received, what the client
returned, and what it raised.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import pytest

from reconciler.errors import ProviderError
from reconciler.providers.hubspot.client import Answer, Credential, HubSpotClient, RetryPolicy
from reconciler.providers.hubspot.versions import TOKEN_INFO
from tests.served import token_env, token_for

TOKEN = Credential(token_env(5001), token_for(5001))
QUICK = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.002)
#: Every status answered as an answer, so that the comparison sees it.
EVERY_STATUS = frozenset(range(100, 600))
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

Script = Callable[[bytes], bytes | None]


class Scripted:
    """A loopback HTTP/1.1 server: keeps every request's bytes, answers what ``script`` says.

    ``script`` gets the raw request and returns the raw answer, or None to close
    the connection without one. An answer saying ``Connection: close`` is followed
    by the close (a body without a length ends there).
    """

    def __init__(self, script: Script, *, hang_up: bool = False) -> None:
        self.script = script
        #: Close each connection after its first answer, saying nothing (an idle timeout).
        self.hang_up = hang_up
        self.hung_up = threading.Event()
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        """Stop, leaving no thread behind (a later test forks only where none runs)."""
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept, which close() does not
        self._sock.close()
        for thread in list(self._threads):
            thread.join(timeout=10)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            serving = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(serving)
            serving.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                request, buffer = _one_request(conn, buffer)
                if request is None:
                    return
                self.requests.append(request)
                answer = self.script(request)
                if answer is None:
                    return
                conn.sendall(answer)
                if b"\r\nConnection: close\r\n" in answer:  # a cut answer says it too
                    return
                if self.hang_up:
                    conn.close()
                    self.hung_up.set()
                    return


def _one_request(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    """One request off the connection (head and Content-Length body), and what follows it."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


@contextmanager
def scripted(script: Script, *, hang_up: bool = False) -> Iterator[Scripted]:
    server = Scripted(script, hang_up=hang_up)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def client(url: str, *, through_httpx: bool) -> Iterator[HubSpotClient]:
    transport = httpx.HTTPTransport() if through_httpx else None
    made = HubSpotClient(url, retry=QUICK, transport=transport, timeout=10)
    assert (made._wire is None) == through_httpx
    try:
        yield made
    finally:
        made.close()


Call = tuple[str, str, dict[str, Any]]

CALLS: list[Call] = [
    ("GET", "/account-info/v3/details", {}),
    ("GET", "/settings/users/2026-09-beta", {"params": {"limit": 100, "after": "a b+c/é%&="}}),
    ("POST", TOKEN_INFO, {"body": {"tokenKey": "pat-na1-x", "note": 'Zoë \u2028 "q"'}}),
    (
        "PUT",
        "/settings/v3/users/a%2Bb%40c.example",
        {"params": {"idProperty": "EMAIL"}, "body": {}},
    ),
    ("DELETE", "/settings/v3/users/a%2Bb%40c.example", {"params": {"idProperty": "EMAIL"}}),
    ("POST", "/settings/v3/users/", {}),
]


def sent_twice(base: str, calls: list[Call], script: Script) -> tuple[list[bytes], list[bytes]]:
    """What one server received from the calls through the wire, then through httpx."""
    sent: list[list[bytes]] = []
    with scripted(script) as server:
        for through_httpx in (False, True):
            with client(server.url + base, through_httpx=through_httpx) as made:
                for method, path, options in calls:
                    made.request(TOKEN, 5001, method, path, accept=EVERY_STATUS, **options)
            sent.append(server.requests[len(calls) * through_httpx :])
    return sent[0], sent[1]


@pytest.mark.parametrize("base", ["", "/", "/api/"])
def test_the_wire_sends_the_bytes_httpx_sends(base: str) -> None:
    wire, reference = sent_twice(base, CALLS, lambda request: OK)
    assert len(wire) == len(CALLS)
    assert wire == reference


def test_a_cookie_is_kept_and_sent_back_as_httpx_does() -> None:
    """From the first answer that sets a cookie on, httpx sends, with its cookie jar."""

    def answer(request: bytes) -> bytes:
        cookie = b"Set-Cookie: __cf_bm=abc; Path=/; HttpOnly\r\n" if b"first" in request else b""
        return b"HTTP/1.1 200 OK\r\n" + cookie + b"Content-Length: 2\r\n\r\n{}"

    calls: list[Call] = [("GET", "/first", {}), ("GET", "/second", {}), ("POST", "/third", {})]
    wire, reference = sent_twice("", calls, answer)
    assert b"Cookie: __cf_bm=abc" in wire[1]
    assert wire == reference


ANSWERS = {
    "json": OK.replace(b"{}", b'{"results": [{"id": "1"}]}').replace(b"2\r\n", b"26\r\n"),
    "repeated-headers": (
        b"HTTP/1.1 429 Too Many Requests\r\nX-HubSpot-RateLimit-Remaining: 0\r\n"
        b"Retry-After: 1\r\nX-Seen: a\r\nx-seen: b\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n3\r\n[1]\r\n1\r\n}\r\n0\r\n\r\n'
    ),
    "gzip": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(gzip.compress(b'{"z": true}')), gzip.compress(b'{"z": true}'))
    ),
    "no-content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "text": (
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=latin-1\r\n"
        b"Content-Length: 8\r\n\r\nbad \xe9t\xe9!"
    ),
    "closing": OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"),
    "until-closed": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n[1, 2]",
}


def answered(raw: bytes, *, through_httpx: bool) -> tuple[Answer, list[bytes]]:
    def answer(request: bytes) -> bytes:
        return raw

    with scripted(answer) as server, client(server.url, through_httpx=through_httpx) as made:
        return made.request(TOKEN, 5001, "GET", "/x", accept=EVERY_STATUS), server.requests


@pytest.mark.parametrize("name", list(ANSWERS))
def test_an_answer_is_read_as_httpx_reads_it(name: str) -> None:
    raw = ANSWERS[name]
    wire, _ = answered(raw, through_httpx=False)
    reference, _ = answered(raw, through_httpx=True)
    assert (wire.status, wire.data) == (reference.status, reference.data)
    assert dict(wire.headers.items()) == dict(reference.headers.items())
    assert wire.headers.get("X-SEEN") == reference.headers.get("x-seen")


def test_a_kept_alive_connection_is_used_again() -> None:
    with scripted(lambda request: OK) as server, client(server.url, through_httpx=False) as made:
        for _ in range(5):
            made.request(TOKEN, 5001, "GET", "/again")
        assert server.connections == 1
        assert len(server.requests) == 5


def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    """As httpcore: an idle connection that reads as closed is dropped before sending."""
    with scripted(lambda request: OK, hang_up=True) as server:
        made = HubSpotClient(server.url, retry=RetryPolicy(max_retries=0), timeout=10)
        try:
            made.request(TOKEN, 5001, "GET", "/first")
            assert server.hung_up.wait(10)
            made.request(TOKEN, 5001, "GET", "/second")  # no retry: it must not fail
        finally:
            made.close()
        assert server.connections == 2


def failure(script: Script | None, *, through_httpx: bool, token: Credential = TOKEN) -> str:
    """The message of the ProviderError a GET ends in, through the wire or through httpx."""
    if script is None:  # nothing listening
        with socket.create_server(("127.0.0.1", 0)) as sock:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with client(url, through_httpx=through_httpx) as made, pytest.raises(ProviderError) as err:
            made.request(token, 5001, "GET", "/x")
        return str(err.value)
    with scripted(script) as server, client(server.url, through_httpx=through_httpx) as made:
        with pytest.raises(ProviderError) as err:
            made.request(token, 5001, "GET", "/x")
        return str(err.value)


FAILURES: dict[str, Script | None] = {
    "nothing-listening": None,
    "no-answer": lambda request: None,
    "cut-head": lambda request: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Le",
    "cut-body": lambda request: (
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\n{}"
    ),
    "cut-chunks": lambda request: (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{}"
    ),
    "garbage": lambda request: b"NOT HTTP AT ALL\r\n\r\n",
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_failure_is_raised_and_retried_as_through_httpx(name: str) -> None:
    message = failure(FAILURES[name], through_httpx=False)
    assert "gave up after 2 attempts" in message
    if name != "garbage":  # httpx and llhttp word a broken status line differently
        assert message == failure(FAILURES[name], through_httpx=True)
    else:
        assert message.split("; last: ")[1].startswith("RemoteProtocolError: ")


def test_a_token_that_would_break_the_header_is_refused_as_httpx_refuses_it() -> None:
    broken = Credential(token_env(5001), token_for(5001) + "\r\nX-Injected: 1")
    message = failure(lambda request: OK, through_httpx=False, token=broken)
    assert message == failure(lambda request: OK, through_httpx=True, token=broken)
    assert "cannot send the request" in message
    assert token_for(5001) not in message


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "https_proxy"])
def test_with_a_proxy_in_the_environment_httpx_sends(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "http://proxy.example:3128")
    made = HubSpotClient("https://api.hubapi.com")
    try:
        assert made._wire is None
    finally:
        made.close()


def test_a_request_body_is_the_json_httpx_makes() -> None:
    body = {"firstName": "Zoë", "secondaryTeamIds": ["1", "2"], "sendWelcomeEmail": True}
    wire, _ = sent_twice("", [("POST", "/settings/v3/users/", {"body": body})], lambda r: OK)
    content = wire[0].partition(b"\r\n\r\n")[2]
    assert json.loads(content) == body
    assert content == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
