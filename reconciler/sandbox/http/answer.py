"""What the sandbox server answers: a status, headers in order and a body, sent as ASGI messages.

An answer is built whole before any of it is sent, so the gate can add the
rate-limit headers and log the status first. JSON bodies are written as
compactly as HubSpot's (no spaces), non-ASCII left as UTF-8, and headers come
in one order: the endpoint's own (``Location``, ``Retry-After``), then
``content-length``, then ``content-type``, then the gate's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

#: Header names and values as they leave: lower-case names, latin-1 bytes.
Headers = list[tuple[bytes, bytes]]

#: The one JSON writer: ``NaN`` is refused rather than sent (it is not JSON).
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
JSON_TYPE = (b"content-type", b"application/json")
TEXT_TYPE = (b"content-type", b"text/plain; charset=utf-8")


@dataclass(slots=True)
class Answer:
    status: int
    headers: Headers
    body: bytes

    async def send(self, send: Send, extra: Headers | None = None) -> None:
        """Send it, with ``extra`` headers after its own."""
        headers = self.headers + extra if extra else self.headers
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def encode_json(content: Any) -> str:
    return _JSON.encode(content)


def json_answer(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Answer:
    return body_answer(encode_json(content).encode("utf-8"), status, headers)


def body_answer(
    body: bytes,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    kind: tuple[bytes, bytes] = JSON_TYPE,
) -> Answer:
    """``body`` (JSON unless ``kind`` says otherwise) with its length, after ``headers``."""
    raw: Headers = []
    if headers:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if status >= 200 and status not in (204, 304):
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    raw.append(kind)
    return Answer(status, raw, body)


def empty_answer(status: int, headers: Headers | None = None) -> Answer:
    """No body: a 204 carries no ``content-length``, a redirect ``content-length: 0``."""
    raw: Headers = [] if status < 200 or status in (204, 304) else [(b"content-length", b"0")]
    return Answer(status, raw + (headers or []), b"")


def internal_error() -> Answer:
    """The answer to a request that failed: plain text, not HubSpot's shape, as it always was."""
    return body_answer(b"Internal Server Error", 500, kind=TEXT_TYPE)
