"""The command line. The only package that prints, prompts or exits.

``app`` holds the command group and its exit codes; each other module adds its
commands to it when imported, as this package does below.
"""

from __future__ import annotations

import contextlib
import os
import sys

from reconciler.cli import apply, commands, report, sandbox  # noqa: F401  (they add the commands)
from reconciler.cli.app import main

__all__ = ["main", "run"]


def run() -> None:
    """The console entry point: ``main``, then exit without tearing down the heap.

    Freeing the million objects of a thousand-account plan one by one takes
    half a second at exit and changes nothing; output is flushed first.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that went away (| head) is no error
            stream.flush()
    os._exit(code)
