"""The command line. The only module that prints, prompts or exits.

Exit codes: 0 success (with ``--detailed-exitcode``: no changes), 1 error,
2 changes present (``--detailed-exitcode`` only). Usage errors exit 64 so that
they are never mistaken for "changes present".
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler.errors import ConfigError, ReconcilerError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_USAGE = 64


def handle_errors(func: F) -> F:
    """Turn our errors into one-line messages and exit 1; never a traceback for user mistakes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for diagnostic in exc.diagnostics:
                click.echo(str(diagnostic), err=True)
            count = len(exc.diagnostics)
            click.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
            sys.exit(EXIT_ERROR)
        except ReconcilerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


class Group(click.Group):
    """Usage errors exit 64, not click's 2, which ``--detailed-exitcode`` uses for changes."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(EXIT_ERROR)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_ERROR)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reconciler")
def main() -> None:
    """HubSpot partner access as code: validate, plan and apply."""


@main.group()
def sandbox() -> None:
    """The embedded sandbox: simulated HubSpot accounts in SQLite."""


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
