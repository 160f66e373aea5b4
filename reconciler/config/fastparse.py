"""A faster parse for configuration files written in plain YAML, with places found lazily.

Building libyaml's node tree for every file is most of what reading a large
configuration costs (:mod:`.loader`). Most account files are written in a small,
plain part of YAML: block mappings and lists, one value per line, short flow
lists and mappings, quoted strings without escapes. For such a file,
``yaml_rs`` (a parser in Rust) gives the data in a fraction of the time. Its data
is used only when it is the data the full parse gives, which this module makes
sure of in three steps, falling back to the full parse at the first doubt:

1. every line of the text has one of the plain shapes above (:data:`_PLAIN`):
   no anchors, aliases, tags, merge keys, block scalars, escapes, tabs or
   directives, no value spanning lines but a plain one, and no scalar starting
   with 0 but 0 itself (no octal, no 0.5); the text cannot nest deeper than a
   parser's stack allows (past it ``yaml_rs`` crashes, as libyaml can);
2. ``yaml_rs`` parses it into one mapping (YAML 1.2; it refuses duplicate keys);
3. a walk of the data refuses whatever YAML 1.1, which the full parse reads,
   could have typed otherwise: a string like ``yes``, ``off`` or ``~`` (it may
   have been written bare), any key that is not a string, any float.

A parse gives the place of every value, yet a valid configuration asks for
few: where each account and user is written, for the plan to point at. Those
are found by a scan of the lines (:func:`_places`), checked against the data
(the number of items, and each item's first key where the scan found it). Any
other place, asked for by a message or a warning, comes from a full parse of
that one file then (:class:`LazyPositions`), re-read from disk and refused if
its bytes changed meanwhile. ``tests/test_fast_parse.py`` compares both paths
on every fixture, a generated corpus and random text.

``RECONCILER_FAST_PARSE=0`` turns this path off; without ``yaml_rs`` it is off.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from sys import intern
from typing import Any

import yaml

from reconciler.config.files import read_bytes
from reconciler.config.loader import MAX_DEPTH, LoadedDocument, may_nest_too_deep, parse_yaml
from reconciler.config.positions import PackedPositions, Places, Position, pack_positions
from reconciler.errors import Diagnostic

_loads: Callable[..., Any] | None
#: The fast parser's version, for the parse cache's key.
VERSION = "none"
try:
    import yaml_rs

    _loads, VERSION = yaml_rs.loads, yaml_rs.__version__
except ImportError:  # pragma: no cover - a platform without its wheel: the full parse only
    _loads = None

#: ``0``: always the full parse.
SWITCH = "RECONCILER_FAST_PARSE"

# The plain shapes a line may have (step 1). A scalar never starts with a YAML
# indicator; one starting with 0 is 0 (no octal, hexadecimal or 0.5), and a sign
# comes before a digit from 1 to 9 or a letter only.
_FIRST = r"(?:[^\s\-?:,\[\]{}#&*!|>'\"%@`\\0+]|[-+](?=[1-9A-Za-z_]))"
_ZERO = r"[-+]?+0(?![^\s,\]}])"
_QUOTED = r"(?:\"[^\"\\\n\r]*+\"|'(?:[^'\n\r]|'')*+')"
_BLOCK_PLAIN = _FIRST + r"(?:[^\n\r\t:#\\\"\[\]{}]|:(?=[^\s]))*+"
_FLOW_PLAIN = _FIRST + r"[^\n\r\t:,#\\\"\[\]{}]*+"
_KEY = r"(?:[A-Za-z_][A-Za-z0-9_.@+\-]*+|" + _QUOTED + ")"
_SCALAR = f"(?:{_ZERO}|{_QUOTED}|{_FLOW_PLAIN})"
_LIST = rf"\[ *+(?:{_SCALAR} *+(?:, *+{_SCALAR} *+)*+)?\]"
_ENTRY = rf"{_KEY}: ++(?:{_SCALAR}|{_LIST})"
_FLOW = rf"(?:{_LIST}|\{{ *+(?:{_ENTRY} *+(?:, *+{_ENTRY} *+)*+)?\}})"
_VALUE = f"(?:{_ZERO}|{_QUOTED}|{_FLOW}|{_BLOCK_PLAIN})"
_COMMENT = r"(?:(?<![^ \n])#[^\n\r]*+)?"
_LINE = rf" *+(?:- ++)*+(?:{_KEY} *+:(?: ++{_VALUE})?|{_VALUE})? *+{_COMMENT}"
_PLAIN = re.compile(rf"(?:{_LINE}\n)*+{_LINE}")
#: Characters YAML 1.1 and 1.2 read differently (line breaks of 1.1, a byte order
#: mark), or that libyaml refuses (C0 and C1 controls, surrogates, non-characters).
_UNEQUAL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]"
)

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SAME = frozenset({_STR, _TIMESTAMP})  # a date stays its text in the full parse too
_RESOLVE: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = (
    yaml.resolver.Resolver().resolve
)
_FIRSTS = frozenset(first for first in yaml.resolver.Resolver.yaml_implicit_resolvers if first)
_RESOLVED_LIMIT = 10_000
_resolved: dict[str, bool] = {}


class _Unequal(Exception):
    """The data may not be what the full parse gives."""


def enabled() -> bool:
    """Whether files are parsed here first (``yaml_rs`` is there, and not switched off)."""
    return _loads is not None and os.environ.get(SWITCH, "").strip() != "0"


def read_document(file: str) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """A configuration file read and parsed, by this path where it can (see the module's text)."""
    raw = read_bytes(file)
    if isinstance(raw, Diagnostic):
        return None, [raw]
    if enabled():
        try:
            document = fast_parse(raw, raw.decode("utf-8"), file)
        except UnicodeDecodeError:
            document = None  # the full parse places the byte
        if document is not None:
            return document, []
    return parse_yaml(raw, file)


def fast_parse(raw: bytes, text: str, file: str) -> LoadedDocument | None:
    """The document :func:`~reconciler.config.loader.parse_yaml` gives for ``text``, or ``None``
    when this path cannot promise the same (then the full parse decides, messages included)."""
    if _loads is None or _UNEQUAL.search(text) or not _PLAIN.fullmatch(text):
        return None
    if may_nest_too_deep(text):  # yaml_rs, like libyaml, can overflow the stack
        return None
    try:
        loaded = _loads(text, parse_datetime=False)
    except Exception:  # any refusal, in any words: the full parse says why
        return None
    if not isinstance(loaded, dict):
        return None
    try:
        data = _mapping(loaded, 1)
    except _Unequal:
        return None
    positions = LazyPositions(file, _digest(raw), _pack(_places(text, data)))
    return LoadedDocument(file, data, positions, text)


def _mapping(mapping: dict[Any, Any], depth: int) -> dict[str, Any]:
    """``mapping`` with its keys and strings interned, as the full parse gives them (step 3)."""
    if depth >= MAX_DEPTH:
        raise _Unequal
    result: dict[str, Any] = {}
    for key, value in mapping.items():
        if type(key) is not str:
            raise _Unequal
        kind = type(value)
        if kind is str:
            if value and value[0] in _FIRSTS and not _stays_text(value):
                raise _Unequal
            result[intern(key)] = intern(value)
        elif kind is dict:
            result[intern(key)] = _mapping(value, depth + 1)
        elif kind is list:
            result[intern(key)] = _list(value, depth + 1)
        elif kind is int or kind is bool or value is None:
            result[intern(key)] = value
        else:
            raise _Unequal  # a float: YAML 1.1 and 1.2 write them differently
    return result


def _list(items: list[Any], depth: int) -> list[Any]:
    """``items`` checked as :func:`_mapping` checks values: the same tests, written out in
    both, because the walk visits every value of every file and a call for each is a cost
    it need not pay."""
    if depth >= MAX_DEPTH:
        raise _Unequal
    result: list[Any] = []
    append = result.append
    for value in items:
        kind = type(value)
        if kind is str:
            if value and value[0] in _FIRSTS and not _stays_text(value):
                raise _Unequal
            append(intern(value))
        elif kind is dict:
            append(_mapping(value, depth + 1))
        elif kind is list:
            append(_list(value, depth + 1))
        elif kind is int or kind is bool or value is None:
            append(value)
        else:
            raise _Unequal
    return result


def _stays_text(value: str) -> bool:
    """Whether YAML 1.1 reads ``value``, written bare, as text (or a date, kept as text)."""
    same = _resolved.get(value)
    if same is None:
        same = _RESOLVE(yaml.ScalarNode, value, (True, False)) in _SAME
        if len(_resolved) < _RESOLVED_LIMIT:
            _resolved[value] = same
    return same


def _places(text: str, data: dict[str, Any]) -> dict[str, Position]:
    """The places of the ``accounts`` items and of their ``users`` items, as libyaml gives them.

    Only for a top-level ``accounts:`` list in block style. Every place is checked:
    as many items as the data has, each beginning with its first key. Where a check
    fails nothing is given, and those places come from the full parse when asked.
    Lines are all of :data:`_PLAIN`'s shapes, so none of them is inside a value
    spanning lines, but for a plain one (indented further than its key).
    """
    accounts = data.get("accounts")
    key = _ACCOUNTS.search(text)
    if not isinstance(accounts, list) or not accounts or key is None:
        return {}
    last = next(reversed(data)) == "accounts"
    items, stop = _block_list(text, key.end(), len(text), 0, last=last)
    if not _agree(text, items, accounts):
        return {}
    places: dict[str, Position] = {}
    lines = _Lines(text)
    ends = [start for start, _ in items[1:]] + [stop]
    for index, ((start, content), account, end) in enumerate(
        zip(items, accounts, ends, strict=True)
    ):
        line, col = lines.place(start, content)
        pointer = f"/accounts/{index}"
        places[pointer] = (line, col, line, col)
        if isinstance(account, dict) and isinstance(account.get("users"), list):
            places.update(_user_places(text, lines, (content, end), col - 1, pointer, account))
    return places


def _user_places(
    text: str, lines: _Lines, span: tuple[int, int], col: int, pointer: str, account: dict[str, Any]
) -> Iterator[tuple[str, Position]]:
    """One account's users: its mapping (keys at ``col``) is the text from ``span[0]`` to ``span[1]``."""
    start, end = span
    users = account["users"]
    key = _USERS.match(text, start, end) or _key_pattern(col).search(text, start, end)
    if not users or key is None:
        return
    items, _ = _block_list(text, key.end(), end, col, last=next(reversed(account)) == "users")
    if _agree(text, items, users):
        for index, (item, content) in enumerate(items):
            line, item_col = lines.place(item, content)
            yield f"{pointer}/users/{index}", (line, item_col, line, item_col)


def _block_list(
    text: str, start: int, end: int, parent: int, *, last: bool = False
) -> tuple[list[tuple[int, int]], int]:
    """The block list that is the value of a key at column ``parent`` whose line ends at
    ``start``: each item's line start and content offset, and where the list ends.

    ``last``: the key is the last of its mapping, whose text ends at ``end``: then every
    line up to ``end`` is in the list, and only its items need finding.
    """
    first = _CONTENT.search(text, start, end)  # the next line with content
    if first is None:
        return [], end
    indent = len(first.group(1))
    if indent < parent or not first.group(2):
        return [], first.start() + 1
    items: list[tuple[int, int]] = []
    if last:
        needle = "\n" + " " * indent + "- "
        at = first.start()
        while at >= 0:
            content = at + len(needle)
            while text.startswith(" ", content):
                content += 1
            items.append((at + 1, content))
            at = text.find(needle, content, end)
        return items, end
    # Every line indented up to ``indent`` (found fast from its "\n"): an item, or the end.
    for line in _shallow(indent).finditer(text, first.start(), end):
        if line.group(2) is None or len(line.group(1)) < indent:
            return items, line.start() + 1
        items.append((line.start() + 1, line.end()))
    return items, end


def _agree(text: str, items: Sequence[tuple[int, int]], values: list[Any]) -> bool:
    """Whether the scanned ``items`` are the ``values``: as many, each starting with its first key."""
    if len(items) != len(values):
        return False
    for (_, content), value in zip(items, values, strict=True):
        if not isinstance(value, dict) or not value:
            return False
        if not text.startswith(next(iter(value)) + ":", content):
            return False
    return True


class _Lines:
    """Offsets → 1-based line and column, for offsets asked in increasing order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def place(self, line_start: int, offset: int) -> tuple[int, int]:
        self.line += self.text.count("\n", self.offset, line_start)
        self.offset = line_start
        return self.line, offset - line_start + 1


_ACCOUNTS = re.compile(r"^accounts: *+(?:#[^\n]*+)?$", re.MULTILINE)
#: ``users:`` where an account's item starts (``- users:``), alone on the line.
_USERS = re.compile(r"users: *+(?:#[^\n]*+)?$", re.MULTILINE)
#: The first line with content (not blank, not a comment): its indent, and whether it is an item.
_CONTENT = re.compile(r"\n( *+)(- +)?(?=[^ \n#])")


@functools.cache
def _key_pattern(col: int) -> re.Pattern[str]:
    """``users:`` alone on its line, indented to ``col``."""
    return re.compile(rf"\n {{{col}}}users: *+(?:#[^\n]*+)?$", re.MULTILINE)


@functools.cache
def _shallow(indent: int) -> re.Pattern[str]:
    """A line indented ``indent`` columns or less, with content: its indent, and its ``- ``."""
    return re.compile(rf"\n( {{0,{indent}}}+)(- +)?(?=[^ \n#])")


def _pack(places: dict[str, Position]) -> PackedPositions:
    packed = pack_positions(places)
    if isinstance(packed, PackedPositions):
        return packed
    return PackedPositions("\0", array("I"))  # none found


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


class LazyPositions(Places):
    """The places the scan found; any other is read from a full parse of the file when asked.

    The file is read again then, and used only if its bytes are those parsed (their
    digest): a file changed meanwhile gives no more places than the scan found, and
    messages point at the nearest of them.
    """

    __slots__ = ("_digest", "_eager", "_file", "_full")

    def __init__(self, file: str, digest: bytes, eager: PackedPositions) -> None:
        self._file = file
        self._digest = digest
        self._eager = eager
        self._full: Mapping[str, Position] | None = None

    def lookup(self, pointers: Iterable[str]) -> list[Position | None]:
        """``get`` of each pointer; a full parse only for a pointer the scan did not place."""
        wanted = list(pointers)
        found = self._eager.lookup(wanted)
        if None in found:
            full = self.full()
            found = [
                place if place is not None else full.get(pointer)
                for pointer, place in zip(wanted, found, strict=True)
            ]
        return found

    def full(self) -> Mapping[str, Position]:
        """Every place in the file (the scan's only, if the file changed since it was parsed)."""
        if self._full is None:
            raw = read_bytes(self._file)
            document = None
            if isinstance(raw, bytes) and _digest(raw) == self._digest:
                document, _ = parse_yaml(raw, self._file)
            self._full = pack_positions(document.positions) if document else self._eager
        return self._full

    def __iter__(self) -> Iterator[str]:
        return iter(self.full())

    def __len__(self) -> int:
        return len(self.full())

    def __reduce__(self) -> tuple[type[LazyPositions], tuple[str, bytes, PackedPositions]]:
        return LazyPositions, self.packed()

    def packed(self) -> tuple[str, bytes, PackedPositions]:
        """The file, its digest and the scan's places, as given to the constructor."""
        return self._file, self._digest, self._eager
