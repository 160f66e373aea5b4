"""Characters that do not belong in an address, and addresses that only look alike.

Two ways an email in the config can say something other than what a reader sees:

- characters nobody sees: controls (C0, DEL, C1), whitespace, bidirectional
  controls and other invisible format characters. The schema's email pattern
  refuses them; :func:`first_unseen` finds the one to name, as ``U+0000``, so the
  message never prints it raw;
- characters that look like others: ``аna@northwind.agency`` with a Cyrillic ``а``
  is another user than ``ana@northwind.agency``. :func:`skeleton` is the skeleton
  of Unicode Technical Standard #39 (section 4): two strings with the same skeleton
  are confusable. It is built on the confusables data that ``confusable_homoglyphs``
  ships (Unicode's ``confusables.txt``), which that library offers only as pairs.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from functools import cache

#: What the schema's email pattern refuses besides ``@``, as a regex class body. Keep in
#: step with ``$defs/email`` in both schemas (a test holds them together).
UNSEEN_CLASS = (
    "\\x00-\\x20\\x7f-\\xa0\\xad\\u061c\\u1680\\u180e\\u2000-\\u200f"
    "\\u2028-\\u202f\\u205f-\\u206f\\u3000\\ufeff"
)
_UNSEEN = re.compile(f"[{UNSEEN_CLASS}]")

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: The marks confusables.txt puts around right-to-left characters so its comments display.
_DISPLAY_MARKS = str.maketrans("", "", "\u200e\u200f")


def first_unseen(text: str) -> str | None:
    """The first control, whitespace or invisible format character in ``text``."""
    found = _UNSEEN.search(text)
    return found.group() if found else None


def describe(char: str) -> str:
    """``U+202E (a bidirectional text control)``: a character named without printing it."""
    code = f"U+{ord(char):04X}"
    if char in _BIDI:
        return f"{code} (a bidirectional text control)"
    category = unicodedata.category(char)
    if category == "Cc":
        return f"{code} (a control character)"
    if category in ("Zs", "Zl", "Zp"):
        return f"{code} (whitespace)"
    if category == "Cf":
        return f"{code} (an invisible formatting character)"
    name = unicodedata.name(char, "")
    return f"{code} {name}" if name else code


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, each character replaced by its prototype, NFD again."""
    if text.isascii():  # NFD changes nothing; the few ASCII prototypes go at C speed
        replaced, single = _ascii_prototypes()
        for char, prototype in replaced:
            if char in text:
                text = text.replace(char, prototype)
        mapped = text.translate(single)
        return mapped if mapped.isascii() else unicodedata.normalize("NFD", mapped)
    mapped = unicodedata.normalize("NFD", text).translate(_prototypes())
    return unicodedata.normalize("NFD", mapped)


def differences(text: str, other: str) -> tuple[list[str], list[str]]:
    """The characters ``text`` has more of than ``other``, and those ``other`` has more of."""
    mine, theirs = Counter(text), Counter(other)
    return list(mine - theirs), list(theirs - mine)


@cache
def _prototypes() -> Mapping[int, str]:
    """Code point -> its prototype, as a ``str.translate`` table.

    ``confusable_homoglyphs`` keeps each line ``source ; prototype`` of
    confusables.txt in both directions. Every source appears on one line only and a
    prototype is never a source, so its data is a set of stars: a prototype (a
    string, possibly of several characters) linked to its one-character sources.
    The prototype of a star is its node with more than one link or more than one
    character; in a star of two single characters either can stand for both.
    """
    from confusable_homoglyphs.confusables import (  # type: ignore[import-untyped]
        confusables_data,
    )

    links: dict[str, set[str]] = {}
    for key, entries in confusables_data.items():
        node = key.translate(_DISPLAY_MARKS)
        for entry in entries:
            other = entry["c"].translate(_DISPLAY_MARKS)
            if node and other and node != other:
                links.setdefault(node, set()).add(other)
                links.setdefault(other, set()).add(node)
    table: dict[int, str] = {}
    for node, linked in links.items():
        if len(node) == 1 and len(linked) == 1:
            (other,) = linked
            if len(other) > 1 or len(links[other]) > 1:
                table[ord(node)] = other  # a source and its prototype
            elif _rank(other) < _rank(node):
                table[ord(node)] = other  # a pair: the lower-ranked one stands for both
    # Prototypes are their own skeletons: map the characters inside them too, so that a
    # pair's stand-in is used wherever the other character appears.
    for _ in range(3):
        changed = False
        for code, prototype in table.items():
            mapped = prototype.translate(table)
            if mapped != prototype:
                table[code] = mapped
                changed = True
        if not changed:
            break
    return table


@cache
def _ascii_prototypes() -> tuple[list[tuple[str, str]], dict[int, str]]:
    """The ASCII part of the table: characters replaced by several, and one by one.

    Every prototype is its own skeleton, so replacing one kind after the other gives
    the same as replacing all at once.
    """
    ascii_part = {code: prototype for code, prototype in _prototypes().items() if code < 128}
    replaced = [(chr(code), p) for code, p in sorted(ascii_part.items()) if len(p) != 1]
    # Every ASCII code is listed, most as itself: a miss would raise inside translate.
    single = {code: chr(code) for code in range(128)}
    single.update((code, p) for code, p in ascii_part.items() if len(p) == 1)
    return replaced, single


def _rank(char: str) -> tuple[bool, str]:
    return (not char.isascii(), char)
