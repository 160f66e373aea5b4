"""Refuse literal tokens in the configuration, without ever repeating them.

Tokens belong in the environment; the config names the variable (``token_env``).
A token pasted into YAML ends up in git history, plan files and CI logs, so a
value that looks like one is an error wherever it appears. The messages say
where, never what: no token value is echoed, and schema messages about the same
place are dropped for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.config.loader import LoadedDocument, escape_pointer_token
from reconciler.errors import Diagnostic

ADVICE = "put tokens in the environment and name the variable with token_env"

#: Keys that can only mean a secret is written here.
SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "api_key",
        "apikey",
        "api_token",
        "hapikey",
        "private_app_token",
        "refresh_token",
        "client_secret",
        "secret",
        "password",
    }
)

#: Values that are tokens wherever they appear: HubSpot private app / personal
#: access keys (``pat-na1-…``) and HTTP bearer credentials.
_TOKEN_VALUE = re.compile(r"pat-(?:na|eu|ap)\d+-[A-Za-z0-9-]{6,}|\bBearer\s+\S{8,}", re.IGNORECASE)
#: Long hex or base64-ish runs: a secret when found where a variable name should be.
_SECRET_LIKE = re.compile(r"[A-Za-z0-9+/=_.-]{16,}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
#: A cheap whole-file test comes before walking the data: most files hold none of
#: these (in lower case), and substring tests on text run at C speed.
_SUSPECT_WORDS = ("pat-na", "pat-eu", "pat-ap", "bearer", "secret", "password", "apikey", "api_key")
_SUSPECT_TOKEN_KEY = re.compile(r"token(?!\w)")  # `token`, `access_token`; not `token_env`


@dataclass(frozen=True)
class Secrets:
    """What the scan found: diagnostics, and the places other messages must not describe."""

    diagnostics: list[Diagnostic]
    places: frozenset[tuple[str, str]]
    values: frozenset[str] = frozenset()

    def hides(self, document: LoadedDocument, diagnostic: Diagnostic) -> bool:
        """True for a message that would describe a secret: drop it, the scan reported the place."""
        if self.covers(document, diagnostic.pointer):
            return True
        return any(value[:12] in diagnostic.message for value in self.values)

    def covers(self, document: LoadedDocument, pointer: str) -> bool:
        """True when ``pointer`` is at or under a place holding a secret."""
        while True:
            if (document.file, pointer) in self.places:
                return True
            if not pointer:
                return False
            pointer = pointer.rpartition("/")[0]


def find_secrets(documents: list[LoadedDocument]) -> Secrets:
    diagnostics: list[Diagnostic] = []
    places: set[tuple[str, str]] = set()
    values: set[str] = set()
    for document in documents:
        for pointer, at_key in _secret_places(document):
            places.add((document.file, pointer))
            values.update(_words_at(document.data, pointer, at_key))
            message = f"{_what(pointer, at_key)}; {ADVICE}"
            diagnostics.append(document.diagnostic(pointer, message, at_key=at_key))
    return Secrets(diagnostics, frozenset(places), frozenset(values))


def looks_like_token(value: str) -> bool:
    """A value of ``token_env`` that is a credential rather than a variable name."""
    if _ENV_NAME.fullmatch(value):
        return False
    return bool(_TOKEN_VALUE.search(value) or _SECRET_LIKE.fullmatch(value))


def _words_at(data: Any, pointer: str, at_key: bool) -> Iterator[str]:
    """The secret strings at a place: the key's value, or the token (and a key that is one)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    for part in parts:
        if _TOKEN_VALUE.search(part):
            yield part
        data = data[int(part)] if isinstance(data, list) else data[part]
    if isinstance(data, str) and len(data) >= 6:
        yield data


def _what(pointer: str, at_key: bool) -> str:
    if at_key:
        return "a literal secret does not belong in the config"
    return "this looks like a literal token"


def _secret_places(document: LoadedDocument) -> Iterator[tuple[str, bool]]:
    data = document.data
    found: set[str] = set()
    if isinstance(data, dict) and isinstance(data.get("accounts"), list):
        for index, account in enumerate(data["accounts"]):
            if isinstance(account, dict):
                value = account.get("token_env")
                if isinstance(value, str) and looks_like_token(value):
                    found.add(f"/accounts/{index}/token_env")
                    yield f"/accounts/{index}/token_env", False
    if document.text and not _suspect(document.text):
        return
    for place in _walk(data, ""):
        if place[0] not in found:
            yield place


def _suspect(text: str) -> bool:
    lowered = text.lower()
    if any(word in lowered for word in _SUSPECT_WORDS):
        return True
    return bool(_SUSPECT_TOKEN_KEY.search(lowered))


def _walk(value: Any, pointer: str) -> Iterator[tuple[str, bool]]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{pointer}/{escape_pointer_token(key)}"
            if key.lower() in SECRET_KEYS or _TOKEN_VALUE.search(key):
                yield child, True
            elif key == "token_env" and isinstance(item, str):
                if looks_like_token(item):
                    yield child, False
            else:
                yield from _walk(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{pointer}/{index}")
    elif isinstance(value, str) and _TOKEN_VALUE.search(value):
        yield pointer, False
