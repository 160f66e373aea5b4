"""The sandbox server's request log: method, path, query, status and account, never a token.

Tests count calls with it; ``GET /__sandbox/requests`` serves it and ``DELETE``
clears it. The admin route takes the same ``Authorization: Bearer`` gate as
the API: any token of the sandbox will do (an unknown or missing one is a 401
in HubSpot's shape), because the log shows every account's calls and the
server may listen beyond loopback (``--host``). In-process, ``SandboxAPI.requests()``
reads it with no token.

The log keeps the last :data:`MAX_ENTRIES` requests: a client looping for hours
must not grow the server without bound. Older entries are discarded and
counted (``discarded``; not ``dropped``, which marks a connection the fault
switches dropped).

A token never enters it, even one a client put in the URL: before an entry is
kept, every query value under a name that carries a secret (``hapikey``,
``access_token``, ...), every query value or path segment equal to a token of
the sandbox, and everything shaped like a HubSpot token (``pat-na1-...``) is
replaced with :data:`REDACTED`. Values are compared percent-decoded, so an
encoded token is caught too.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring as _string
from typing import Any
from urllib.parse import unquote_plus

#: How many requests the log keeps; older ones are discarded and counted.
MAX_ENTRIES = 10_000
#: What a token is logged as.
REDACTED = "REDACTED"
#: Query names whose value is a secret whatever it looks like: HubSpot's legacy API
#: key and the usual names of OAuth tokens.
SECRET_NAMES = frozenset(
    {"hapikey", "access_token", "refresh_token", "token", "tokenkey", "apikey", "api_key"}
)
#: The shape of HubSpot's private app tokens (``pat-na1-<uuid>``), wherever it appears.
TOKEN_SHAPE = re.compile(r"pat-[a-z0-9]+-[0-9a-f-]+", re.IGNORECASE)
#: Percent-decoding rounds, for a token encoded more than once.
_DECODE_ROUNDS = 3
#: The longest path and query whose target is kept for the next request naming them.
_KEPT_LENGTH = 2048


@dataclass(frozen=True)
class LoggedRequest:
    """One API request as the server saw it.

    ``status`` 0 when no answer was sent: the fault switches dropped the
    connection (``dropped``) or the client left before its answer.
    """

    method: str
    path: str
    query: str
    status: int
    account: int | None
    dropped: bool = False

    def to_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Target:
    """What a request names: its path and query, and each part of them decoded.

    The parts are the path's segments and the query's names and values. Which of
    them (or of their decoded forms) are tokens of the sandbox is asked once a
    request, by the server's gate, together with the request's own token. One
    is made for each path and query a client sends (:func:`target`), and keeps
    how it is logged when none of its parts is a token: most requests.
    """

    def __init__(self, path: str, query: str) -> None:
        self.path = path
        self.query = query
        parts = set(path.split("/"))
        for pair in query.split("&") if query else ():
            name, _, value = pair.partition("=")
            parts.update((name, value))
        self.decoded = {text: _decoded(text) for text in parts if text}
        #: Every part and its decoded form: what must be checked against the tokens.
        self.texts = frozenset({*self.decoded, *self.decoded.values()})
        secret = _secrets(self.decoded, ())
        self.scrubbed = (scrub_path(path, secret), scrub_query(query, secret))

    def logged(self, tokens: Collection[str]) -> tuple[str, str]:
        """The path and query to log, given which texts are tokens of the sandbox."""
        if not tokens or self.texts.isdisjoint(tokens):
            return self.scrubbed
        secret = _secrets(self.decoded, tokens)
        return scrub_path(self.path, secret), scrub_query(self.query, secret)


def target(path: str, query: bytes) -> Target:
    """The request's target; those of the usual length made once and kept (the last 512)."""
    if len(path) + len(query) > _KEPT_LENGTH:
        return Target(path, query.decode("latin-1"))
    return _kept_target(path, query)


@lru_cache(maxsize=512)
def _kept_target(path: str, query: bytes) -> Target:
    return Target(path, query.decode("latin-1"))


#: An entry as kept: LoggedRequest's fields, in order.
_Entry = tuple[str, str, str, int, int | None, bool]


class RequestLog:
    """Appended to by the server's event loop, read from any thread."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._entries: deque[_Entry] = deque(maxlen=limit)
        self._discarded = 0
        self._lock = threading.Lock()

    def record(
        self,
        method: str,
        target: Target,
        tokens: Collection[str],
        status: int,
        account: int | None,
        dropped: bool = False,
    ) -> None:
        """Keep one request; ``tokens``: which of ``target.texts`` are tokens of the sandbox."""
        path, query = target.logged(tokens)
        with self._lock:
            if len(self._entries) == self._entries.maxlen:
                self._discarded += 1
            self._entries.append((method, path, query, status, account, dropped))

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return [LoggedRequest(*entry) for entry in self._entries]

    def json(self) -> str:
        """``{"requests": [...], "discarded": N}``, each entry as ``LoggedRequest.to_data()``.

        Written field by field: the log holds up to 10,000 entries, and a JSON encoder
        took four times as long over them.
        """
        with self._lock:
            entries = ",".join([_entry_json(*entry) for entry in self._entries])
            return f'{{"requests":[{entries}],"discarded":{self._discarded:d}}}'

    @property
    def discarded(self) -> int:
        """How many of the oldest entries were let go to keep the last :data:`MAX_ENTRIES`."""
        with self._lock:
            return self._discarded

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._discarded = 0


def _entry_json(
    method: str, path: str, query: str, status: int, account: int | None, dropped: bool
) -> str:
    shown = "null" if account is None else f"{account:d}"
    return (
        f'{{"method":{_string(method)},"path":{_string(path)},"query":{_string(query)},'
        f'"status":{status:d},"account":{shown},"dropped":{"true" if dropped else "false"}}}'
    )


# -- keeping tokens out ----------------------------------------------------------------


def scrub_query(query: str, secret: Callable[[str], bool]) -> str:
    """The query string with every secret value replaced, the rest left as sent."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if _decoded(name).lower() in SECRET_NAMES and equals:
            pairs.append(f"{name}={REDACTED}")
            continue
        if secret(name):
            name = REDACTED
        if secret(value):
            value = REDACTED
        pairs.append(f"{name}{equals}{value}")
    return "&".join(pairs)


def scrub_path(path: str, secret: Callable[[str], bool]) -> str:
    """The (decoded) path with every segment that is or holds a token replaced."""
    return "/".join(REDACTED if secret(s) else s for s in path.split("/"))


def _secrets(decoded: dict[str, str], tokens: Collection[str]) -> Callable[[str], bool]:
    """Whether a part of a path or query is secret: token-shaped, or a token.

    ``decoded``: the path's and query's parts, each with its decoded form.
    """

    def secret(text: str) -> bool:
        """For a part of this path or query (the only texts it is asked about)."""
        if not text:
            return False
        plain = decoded[text]
        return bool(
            TOKEN_SHAPE.search(text)
            or TOKEN_SHAPE.search(plain)
            or text in tokens
            or (plain != text and plain in tokens)
        )

    return secret


def _decoded(text: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text
