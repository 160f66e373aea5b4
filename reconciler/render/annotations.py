"""Diagnostics as GitHub Actions workflow commands, so CI shows them on the lines they are about.

One command per diagnostic: ``::error file={file},line={line},col={col}::{message}``
(``::warning …`` for a warning). The syntax and the escaping are GitHub's:
https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions
("Setting an error message"), and the runner's toolkit that writes these commands,
https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts
(``escapeData``: ``%`` → ``%25``, CR → ``%0D``, LF → ``%0A``; ``escapeProperty``: the
same, and ``:`` → ``%3A``, ``,`` → ``%2C``, since a property ends at ``,`` and the
properties at ``::``). ``%`` goes first, so an escape is never escaped again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from reconciler.errors import Diagnostic
from reconciler.render import inert

Level = Literal["error", "warning"]

_DATA = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY = (*_DATA, (":", "%3A"), (",", "%2C"))


def escape_data(text: str) -> str:
    """A command's message (after ``::``): a CR or LF would end the command early."""
    for char, escaped in _DATA:
        text = text.replace(char, escaped)
    return inert(text)  # an ESC or U+202E left in the log would act, not show


def escape_property(text: str) -> str:
    """A property's value (``file=…``): also ``:`` and ``,``, which end a property."""
    for char, escaped in _PROPERTY:
        text = text.replace(char, escaped)
    return inert(text)


def annotation(diagnostic: Diagnostic, level: Level = "error") -> str:
    """``::error file=a.yaml,line=3,col=5::/accounts/0/id: message`` (one line)."""
    message = f"{diagnostic.pointer or '/'}: {diagnostic.message}"
    return (
        f"::{level} file={escape_property(diagnostic.file)},line={diagnostic.line},"
        f"col={diagnostic.col}::{escape_data(message)}"
    )


def render_annotations(
    errors: Iterable[Diagnostic], warnings: Iterable[Diagnostic] = ()
) -> list[str]:
    """Every error, then every warning, each as one workflow command line."""
    return [annotation(d, "error") for d in errors] + [annotation(d, "warning") for d in warnings]
