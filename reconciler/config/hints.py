"""What a YAML syntax error probably is, in our words, beside the parser's own message.

The parser says where it gave up, in its terms; the slip is often a line or
two above that place. These pure functions of the text and the place look for
the usual ones: a tab in the indentation, a key without its colon, a key
indented deeper than its siblings, a list item out of line with its list, a
line that lines up with no key above it, a quote or bracket never closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAB_MESSAGE = "found a tab character where YAML expects spaces"

#: A line's leading list dashes (``- `` or ``- - ``), then what follows them.
_DASHES = re.compile(r"(?:-(?: +|$))+")
#: ``key:`` then the end of the line or a space (a plain key, as configs write them).
_KEY = re.compile(r"""[^\s'"\[\]{}#&*!|>%@`,-][^:#]*?:(?:\s|$)""")
_NOT_A_KEY = tuple("-[]{}'\"&*!|>%@`#")


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based
    indent: int  # spaces before the first character
    key_indent: int  # where the content starts after any list dashes
    text: str  # without the indentation and a trailing comment
    dashed: bool  # a list item

    @property
    def is_key(self) -> bool:
        return _KEY.match(self.text[self.key_indent - self.indent :]) is not None

    @property
    def opens_block(self) -> bool:
        """``key:`` (or ``- key:``, ``key: |``): the next line may be indented deeper."""
        rest = self.text[self.key_indent - self.indent :]
        return rest.endswith(":") or (self.dashed and rest == "") or rest.endswith(("|", ">"))


def syntax_message(parser: str, text: str, line: int, col: int) -> str:
    """The message for a syntax error the parser placed at ``line``:``col`` (1-based).

    A tab where the error is needs no more than saying so; otherwise the
    parser's words, then our hint when one of the usual slips fits.
    """
    if _char_at(text, line, col) == "\t":
        return TAB_MESSAGE
    hint = syntax_hint(text, line)
    message = parser or "the text cannot be read as YAML"
    return f"{message}; hint: {hint}" if hint else message


def syntax_hint(text: str, line: int) -> str | None:
    """Our guess at the slip behind a syntax error on ``line``, or None when nothing fits."""
    lines = _content_lines(text)
    above = [entry for entry in lines if entry.number < line]
    here = next((entry for entry in lines if entry.number == line), None)
    if here is None:  # the parser gave up on a blank line or at the end: the last line is it
        if not above:
            return None
        here, above = above[-1], above[:-1]
    nearby = [*above[-1:], here]
    for entry in nearby:
        if "\t" in _indentation(text, entry.number):
            return f"line {entry.number} is indented with a tab; YAML indents with spaces only"
    previous = above[-1] if above else None
    return (
        _missing_colon(previous, here)
        or _deeper_than_sibling(previous, here)
        or _list_out_of_line(above, here)
        or _lines_up_with_nothing(above, here)
        or _unclosed(above, here)
    )


def _missing_colon(previous: _Line | None, here: _Line) -> str | None:
    """``name X`` above a ``key:`` at the same indentation: the parser read on past it."""
    for entry in (previous, here):
        if entry is None or entry.dashed or entry.text.startswith(_NOT_A_KEY):
            continue
        if ":" in entry.text or (entry is here and previous is None):
            continue
        if entry is previous and not (here.is_key and here.indent == entry.indent):
            continue
        key, _, value = entry.text.partition(" ")
        suggestion = f"'{key}: {value}'" if value else f"'{key}:'"
        return f"line {entry.number} has no ':' after its key; write it as {suggestion}"
    return None


def _deeper_than_sibling(previous: _Line | None, here: _Line) -> str | None:
    """A key indented deeper than the ``key: value`` above it, which can hold nothing."""
    if previous is None or previous.opens_block or not previous.is_key:
        return None
    if here.indent <= previous.key_indent or not here.is_key:
        return None
    return (
        f"line {here.number} is indented {_spaces(here.indent)}, line {previous.number} above it"
        f" {previous.key_indent}: keys of one mapping start in the same column"
    )


def _list_out_of_line(above: list[_Line], here: _Line) -> str | None:
    """``- item`` at the indentation of the key that holds a list indented deeper."""
    if not here.dashed:
        return None
    items: list[_Line] = []
    for entry in reversed(above):
        if entry.indent < here.indent:
            break
        if entry.indent == here.indent:
            if entry.dashed or not items:
                return None
            return (
                f"line {here.number} is a list item indented {_spaces(here.indent)}, but the"
                f" items of the list above it (line {items[-1].number}) are indented"
                f" {items[-1].indent}; items of one list line up"
            )
        if entry.dashed:
            items.append(entry)
    return None


def _lines_up_with_nothing(above: list[_Line], here: _Line) -> str | None:
    """A line whose indentation matches no block that is open above it."""
    if not above or (above[-1].opens_block and here.indent > above[-1].key_indent):
        return None
    levels: list[int] = []
    bound = here.indent + 10**6
    for entry in reversed(above):
        for level in sorted({entry.key_indent, entry.indent}, reverse=True):
            if level < bound and level not in levels:
                levels.append(level)
        bound = min(bound, entry.indent)
    if here.indent in levels:
        return None
    shown = ", ".join(str(level) for level in levels[:-1])
    choices = f"{shown} or {levels[-1]}" if shown else str(levels[-1])
    return (
        f"line {here.number} is indented {_spaces(here.indent)}, in line with no key above it"
        f" (they are at {choices}); line it up with the key it belongs under"
    )


def _unclosed(above: list[_Line], here: _Line) -> str | None:
    """A quote or flow bracket opened and never closed (the parser reads on to the end)."""
    for entry in reversed([*above, here]):
        for opening, closing in (("[", "]"), ("{", "}")):
            if entry.text.count(opening) > entry.text.count(closing):
                return f"the '{opening}' on line {entry.number} is not closed with '{closing}'"
        _, _, value = entry.text.partition(": ")
        value = value or entry.text[entry.key_indent - entry.indent :]
        for quote in "\"'":
            if value.startswith(quote) and (len(value) == 1 or not value.endswith(quote)):
                return f"the {quote} on line {entry.number} is not closed"
    return None


def _content_lines(text: str) -> list[_Line]:
    """The lines that hold something: not blank, not only a comment."""
    found = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(stripped)
        content = re.sub(r"\s+#.*$", "", stripped).rstrip()
        dashes = _DASHES.match(content)
        offset = dashes.end() if dashes else 0
        found.append(_Line(number, indent, indent + offset, content, dashes is not None))
    return found


def _indentation(text: str, line: int) -> str:
    raw = text.split("\n", line)[line - 1] if line >= 1 else ""
    return raw[: len(raw) - len(raw.lstrip(" \t"))]


def _char_at(text: str, line: int, col: int) -> str:
    lines = text.split("\n", line)
    if len(lines) >= line and col <= len(lines[line - 1]):
        return lines[line - 1][col - 1]
    return ""


def _spaces(count: int) -> str:
    return "1 space" if count == 1 else f"{count} spaces"
