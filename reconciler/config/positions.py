"""Where each value of a parsed file sits, packed small.

The loader records a place for every value (a thousand accounts of fifty users
make half a million of them), yet a valid configuration asks for only a few:
where each account and user is written, for the plan's steps to point at. A
dict of half a million pointer strings and tuples is most of the memory a large
configuration takes; packed, every pointer of a file is one string and every
place four integers in one array, a fifth of the size, and as quick to send
from one process to another as bytes are.

A lookup finds ``\\0pointer\\0`` in the string and counts the separators before
it, in C. Lookups mostly come in the order the file is written (account, then
each of its users), so each starts where the last one was found: a whole
configuration's lookups cost one pass over its pointers.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain

#: (line, column) of a value, then (line, column) of its key; both 1-based. For list
#: items and the document root the "key" is the value itself.
Position = tuple[int, int, int, int]

_SEPARATOR = "\0"


class Places(Mapping[str, Position]):
    """A read-only pointer → :data:`Position` mapping that looks up many pointers at once."""

    __slots__ = ()

    def lookup(self, pointers: Iterable[str]) -> list[Position | None]:
        """``get`` of each pointer, in one call."""
        raise NotImplementedError

    def __getitem__(self, pointer: str) -> Position:
        found = self.get(pointer)
        if found is None:
            raise KeyError(pointer)
        return found

    def get(self, pointer: str, default: Position | None = None) -> Position | None:  # type: ignore[override]
        found = self.lookup((pointer,))[0]
        return default if found is None else found


class PackedPositions(Places):
    """Places packed: equal to the dict they pack."""

    __slots__ = ("_hint", "_places", "_pointers")

    def __init__(self, pointers: str, places: array[int]) -> None:
        self._pointers = pointers
        self._places = places
        #: Where the last lookup was found, and its index (one tuple: replaced at once).
        self._hint = (0, 0)

    def lookup(self, pointers: Iterable[str]) -> list[Position | None]:
        """``get`` of each pointer, in one call: the loop of a file's users stays here."""
        text, places = self._pointers, self._places
        start, index = self._hint
        found: list[Position | None] = []
        append = found.append
        for pointer in pointers:
            if _SEPARATOR in pointer:
                append(None)
                continue
            needle = f"{_SEPARATOR}{pointer}{_SEPARATOR}"
            at = text.find(needle, start)
            if at >= 0:
                index += text.count(_SEPARATOR, start, at)
            else:
                at = text.find(needle)
                if at < 0:
                    append(None)
                    continue
                index = text.count(_SEPARATOR, 0, at)
            start = at
            line, col, key_line, key_col = places[4 * index : 4 * index + 4]
            append((line, col, key_line, key_col))
        self._hint = (start, index)
        return found

    def __iter__(self) -> Iterator[str]:
        if not self._places:  # "\0": no pointers, not one empty pointer
            return iter(())
        return iter(self._pointers[1:-1].split(_SEPARATOR))

    def __len__(self) -> int:
        return len(self._places) // 4

    def __reduce__(self) -> tuple[type[PackedPositions], tuple[str, array[int]]]:
        return PackedPositions, self.packed()

    def packed(self) -> tuple[str, array[int]]:
        """The pointers and the places, as given to the constructor."""
        return self._pointers, self._places


def lookup(positions: Mapping[str, Position], pointers: Sequence[str]) -> list[Position | None]:
    """Each pointer's position (``None``: not recorded); in one pass when ``positions`` is packed
    (or another :class:`Places`, as the fast parse's)."""
    if isinstance(positions, Places):
        return positions.lookup(pointers)
    return [positions.get(pointer) for pointer in pointers]


def pack_positions(positions: Mapping[str, Position]) -> Mapping[str, Position]:
    """``positions`` packed; as it is when packing could not tell its pointers apart.

    A pointer may hold any character a YAML key can, the separator too (``"\\0"``
    written as an escape): then, and for no pointers at all, the dict stays a dict.
    """
    if not isinstance(positions, dict) or not positions:
        return positions  # packed already, or nothing to pack, or read lazily (never counted)
    pointers = _SEPARATOR + _SEPARATOR.join(positions) + _SEPARATOR
    if pointers.count(_SEPARATOR) != len(positions) + 1:
        return positions
    places = array("I", chain.from_iterable(positions.values()))
    return PackedPositions(pointers, places)
