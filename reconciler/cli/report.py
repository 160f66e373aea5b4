"""`report`: the access review of every account, from current state and the config."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.app import EXIT_ERROR, handle_errors, main
from reconciler.cli.options import (
    ACCOUNT,
    PARALLELISM,
    SHARD,
    echo_provider_warnings,
    output_options,
)
from reconciler.collector import gc_paused
from reconciler.config import load_config
from reconciler.engine import map_accounts, open_provider, read_state, select_accounts
from reconciler.errors import ReconcilerError
from reconciler.model import Config, DesiredAccount
from reconciler.progress import progress
from reconciler.providers.base import Provider
from reconciler.render import inert, plural
from reconciler.review.build import AccountReview, assemble_review, review_account
from reconciler.review.render import FORMATS, render_review


@main.command("report")
@click.argument("path", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="html: one self-contained page with a people × accounts matrix.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write the report to this file, not stdout."
)
@ACCOUNT
@SHARD
@PARALLELISM
@output_options
@handle_errors
def report_command(
    path: str,
    fmt: str,
    out: str | None,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
    parallelism: int | None,
) -> None:
    """Who has what in every account, compared with the config; flags; seat spend.

    Reads current state once and changes nothing. Exits 1, after the report, when
    an account could not be read.
    """
    with gc_paused():  # as plan: millions of objects, no cycles worth collecting
        config = load_config(path)
        selected = select_accounts(config, accounts, shard)
        with open_provider(config, parallelism) as provider:
            echo_provider_warnings(provider)
            with progress("reading accounts", len(selected), "accounts") as advance:
                parts = map_accounts(config, provider, selected, _reviewed, progress=advance)
        review = assemble_review(config, parts)
        output = render_review(review, fmt)
    if out:
        try:
            # newline="": the CSV's CRLF row ends stay as RFC 4180 has them.
            with open(out, "w", encoding="utf-8", newline="") as handle:
                handle.write(output)
        except OSError as exc:
            raise ReconcilerError(f"{out}: cannot write the report: {exc.strerror}") from exc
        click.echo(f"Wrote the {fmt} report to {Path(out)}", err=True)
    else:
        click.echo(output, nl=False)
    for account in review.unreadable:
        click.echo(
            inert(f"error: account {account.id} ({account.name}): {account.error}"), err=True
        )
    if review.unreadable:
        click.echo(
            f"error: {plural(len(review.unreadable), 'account')} could not be read;"
            " the report leaves them out",
            err=True,
        )
        sys.exit(EXIT_ERROR)


def _reviewed(config: Config, provider: Provider, account: DesiredAccount) -> AccountReview:
    """One account read and reviewed; its current state is not kept."""
    return review_account(config, *read_state(provider, account))
