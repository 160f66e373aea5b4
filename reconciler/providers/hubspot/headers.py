"""An answer's headers as ``httpx.Headers`` reads them, at a fraction of its cost.

The client reads a few headers of every answer (the rate limits, ``Retry-After``,
``Content-Encoding``, ``Set-Cookie``). ``httpx.Headers`` normalizes every header
when it is made and scans them all at each look-up; :class:`Headers` decodes
them once into a dict, with httpx's rules: names compared lower-cased (as
bytes), a name given twice read as its values joined with ``", "``, and the
encoding httpx picks (ASCII if every name and value is, else UTF-8 if every
one is, else ISO-8859-1).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from itertools import chain
from typing import Any

_ENCODINGS = ("ascii", "utf-8")


def header_encoding(raw: list[tuple[bytes, bytes]]) -> str:
    """The encoding httpx decodes these headers with."""
    for encoding in _ENCODINGS:
        try:
            for name, value in raw:
                name.decode(encoding)
                value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "iso-8859-1"


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive; made from the raw ``(name, value)`` pairs of an answer."""

    __slots__ = ("_count", "_encoding", "_values")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        ascii_only = b"".join(chain.from_iterable(raw)).isascii()
        self._encoding = encoding = "ascii" if ascii_only else header_encoding(raw)
        values: dict[bytes, str] = {}
        for name, value in raw:
            key, text = name.lower(), value.decode(encoding)
            values[key] = f"{values[key]}, {text}" if key in values else text
        self._values = values
        self._count = len(raw)  # httpx counts a name given twice twice

    def __getitem__(self, key: str) -> str:
        return self._values[key.lower().encode(self._encoding)]

    def get(self, key: str, default: Any = None) -> Any:  # as Mapping's, in one look-up
        return self._values.get(key.lower().encode(self._encoding), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower().encode(self._encoding) in self._values

    def __iter__(self) -> Iterator[str]:
        return (key.decode(self._encoding) for key in self._values)

    def __len__(self) -> int:
        return self._count

    # As httpx: by the names as received, not looked up again (a name outside ASCII
    # lower-cases differently as text than as bytes).
    def items(self) -> ItemsView[str, str]:
        return {key.decode(self._encoding): v for key, v in self._values.items()}.items()

    def values(self) -> ValuesView[str]:
        return self._values.copy().values()

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"
