"""What a long run shows while it works: a progress line on a terminal, nothing elsewhere.

Reading a thousand accounts or applying their steps takes minutes; a person at
a terminal sees how many are done, the rate and the time left, on stderr, in
one line that is gone when the work ends. Nothing is drawn where no one
watches or where it would end up in a log: when stderr is not a terminal, in
CI (the ``CI`` variable that CI services set) and with ``--quiet``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

#: Set by ``--quiet`` (and left alone otherwise): no progress display at all.
_settings = {"quiet": False}


class Advance(Protocol):
    def __call__(self, done: int) -> None: ...


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress display for the rest of this run."""
    _settings["quiet"] = quiet


def shows_progress() -> bool:
    """Whether a progress display is drawn: a terminal on stderr, not CI, not ``--quiet``."""
    if _settings["quiet"] or os.environ.get("CI"):
        return False
    return sys.stderr.isatty()


def _nothing(done: int) -> None:
    """Where no one watches, progress is not shown."""


@contextmanager
def progress(what: str, total: int, unit: str) -> Iterator[Advance]:
    """A display of ``what`` (``reading accounts``) out of ``total`` ``unit`` s; yields ``advance``.

    Shows the count done, the rate per second and the time left; a no-op where
    :func:`shows_progress` says no (or for fewer than two items).
    """
    if not shows_progress() or total < 2:
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total, rate="")

        def advance(done: int) -> None:
            bar.advance(task, done)
            speed = bar.tasks[task].speed
            if speed:
                bar.update(task, rate=f"{speed:.1f} {unit}/s")

        yield advance
