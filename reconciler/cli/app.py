"""The command group, its error handling and exit codes: the only place that exits.

Exit codes: 0 success (with ``--detailed-exitcode``: nothing to do), 1 error,
2 changes the tool would make and 3 only manual or approval steps waiting on
people (``--detailed-exitcode`` only). Usage errors exit 64 so that they are
never mistaken for "changes present".
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from reconciler.errors import ConfigError, ReconcilerError
from reconciler.render import inert, plural

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_WAITING = 3
EXIT_USAGE = 64


def handle_errors(func: F) -> F:
    """Turn our errors into one-line messages and exit 1; never a traceback for user mistakes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for diagnostic in exc.diagnostics:
                click.echo(inert(str(diagnostic)), err=True)
            click.echo(f"{plural(len(exc.diagnostics), 'problem')} found", err=True)
            sys.exit(EXIT_ERROR)
        except ReconcilerError as exc:
            # Several lines at most (a stale plan lists what changed), each made inert.
            for number, line in enumerate(str(exc).split("\n")):
                click.echo(inert(f"error: {line}" if number == 0 else line), err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


class Group(click.Group):
    """Usage errors exit 64, not click's 2, which ``--detailed-exitcode`` uses for changes."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(EXIT_ERROR)
        except click.UsageError as exc:
            # One line, like every other error; `--help` has the usage.
            command = exc.ctx.command_path if exc.ctx is not None else "reconciler"
            click.echo(f"error: {command}: {exc.format_message()}", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_ERROR)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reconciler")
def main() -> None:
    """HubSpot partner access as code: validate, plan and apply."""


@main.group()
def sandbox() -> None:
    """The embedded sandbox: simulated HubSpot accounts in SQLite."""


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
