"""An answer's headers read as ``httpx.Headers`` reads them, whatever bytes they hold."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from reconciler.providers.hubspot.headers import Headers

RAW: dict[str, list[tuple[bytes, bytes]]] = {
    "ascii": [(b"Content-Type", b"application/json"), (b"X-HubSpot-RateLimit-Max", b"100")],
    "repeated": [(b"Set-Cookie", b"a=1"), (b"X-Other", b"x"), (b"set-cookie", b"b=2")],
    "utf-8": [(b"X-Name", "Zoë".encode()), (b"Retry-After", b"3")],
    "latin-1": [(b"X-Name", "Zoë".encode("latin-1")), (b"X-Seen", b"yes")],
    "utf-8 name": [("X-Zoë".encode(), b"1"), (b"X-Seen", b"yes")],
    "empty": [],
}
NAMES = [
    "content-type",
    "X-HUBSPOT-RATELIMIT-MAX",
    "Set-Cookie",
    "x-name",
    "x-seen",
    "X-Zoë",
    "nope",
]


@pytest.mark.parametrize("name", list(RAW))
def test_headers_read_as_httpx_reads_them(name: str) -> None:
    raw = RAW[name]
    ours, theirs = Headers(raw), httpx.Headers(raw)
    assert list(ours.items()) == list(theirs.items())
    assert list(ours) == list(theirs)
    assert list(ours.values()) == list(theirs.values())
    assert len(ours) == len(theirs)
    for key in NAMES:
        assert outcome(ours.get, key, "-") == outcome(theirs.get, key, "-")
        assert outcome(ours.__contains__, key) == outcome(theirs.__contains__, key)


def outcome(read: Callable[..., object], *args: object) -> object:
    """What a look-up gives, or the error it raises (a name the encoding cannot hold)."""
    try:
        return read(*args)
    except UnicodeError as exc:
        return type(exc)
