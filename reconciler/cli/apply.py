"""`apply`: the one command that changes accounts, under a lock, with a journal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from reconciler.cli.app import EXIT_ERROR, handle_errors, main
from reconciler.cli.options import (
    ACCOUNT,
    PARALLELISM,
    SHARD,
    applied,
    echo_provider_warnings,
    output_options,
    planned,
    render,
)
from reconciler.config import load_config
from reconciler.engine import (
    check_fresh,
    config_digest,
    lock_paths,
    open_provider,
    select_accounts,
)
from reconciler.errors import ReconcilerError
from reconciler.model import Config
from reconciler.plan import Plan
from reconciler.planfile import load_plan_file
from reconciler.render import inert, plural, some_ids
from reconciler.render.report import report_lines

DEFAULT_JOURNAL = ".reconciler/journal.jsonl"


@main.command("apply")
@click.argument("path", type=click.Path(), required=False)
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), help="Apply this saved plan.")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Allow more removals than max_removals.")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    help=f"Append one JSON line per step to this file (default: {DEFAULT_JOURNAL} beside the"
    " provider block's file).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for another apply on the same accounts to end.",
)
@ACCOUNT
@SHARD
@PARALLELISM
@output_options
@handle_errors
def apply_command(
    path: str | None,
    plan_file: str | None,
    auto_approve: bool,
    force: bool,
    journal: str | None,
    lock_timeout: float,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
    parallelism: int | None,
) -> None:
    """Apply the plan (or a saved plan, refusing it when stale).

    One apply at a time per target: it holds a lock from reading current state to
    the last write, and another waits up to --lock-timeout.
    """
    from reconciler.lock import holding

    saved: Plan | None = None
    if plan_file:
        saved = load_plan_file(plan_file)
        config = load_config(_saved_plan_config(saved, plan_file, path, accounts, shard))
        if path:
            _check_same_config(saved, plan_file, path, config)
        targets = [a.account for a in saved.accounts]
    else:
        if not path:
            raise click.UsageError("give the config PATH, or --plan PLANFILE")
        config = load_config(path)
        targets = [a.id for a in select_accounts(config, accounts, shard)]
    with holding(lock_paths(config, targets), lock_timeout):
        _apply_locked(
            config, path or "", saved, auto_approve, force, journal, accounts, shard, parallelism
        )


def _saved_plan_config(
    plan: Plan,
    plan_file: str,
    path: str | None,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
) -> str:
    """The config a saved plan is applied with: PATH, or the one the plan names."""
    if accounts or shard:
        raise click.UsageError(
            "--account and --shard cannot be used with --plan (the plan fixes its accounts)"
        )
    config_path = path or plan.config_path
    if not config_path:
        raise click.UsageError("the plan file does not say which config it came from; give PATH")
    if not path and not Path(config_path).exists():
        raise ReconcilerError(
            f"{plan_file}: the plan was made from the config at {config_path!r} (relative to"
            " where plan ran), which is not here; run apply from there or give the config PATH"
        )
    return config_path


def _check_same_config(plan: Plan, plan_file: str, path: str, config: Config) -> None:
    """Refuse PATH when it is not the config the plan was made from.

    The same place, or the same files elsewhere (a plan made from a relative path in
    another folder, or in another checkout), is the same config.
    """
    if not plan.config_path or os.path.realpath(plan.config_path) == os.path.realpath(path):
        return
    if plan.config_digest == config_digest(config):
        return
    raise ReconcilerError(
        f"{plan_file}: the plan was made from the config at {plan.config_path!r}, not {path!r};"
        " nothing was changed; apply it with that config, or make a new plan of this one"
    )


def _apply_locked(
    config: Config,
    path: str,
    saved: Plan | None,
    auto_approve: bool,
    force: bool,
    journal: str | None,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
    parallelism: int | None = None,
) -> None:
    """Plan (or check the saved plan) and apply, while the lock is held."""
    from reconciler.journal import Journal, current_commit

    with open_provider(config, parallelism) as provider:
        echo_provider_warnings(provider)
        if saved is None:
            plan = planned(path, config, provider, accounts, shard)
        else:
            plan = saved
            check_fresh(plan, config, provider)
        click.echo(render(plan, "text"), nl=False)
        if not plan.steps:
            click.echo("Nothing to apply.")
            if any(a.error for a in plan.accounts):
                sys.exit(EXIT_ERROR)
            return
        confirm(auto_approve)
        base = Path(config.provider.base_dir)
        where = Path(journal) if journal else base / DEFAULT_JOURNAL
        with Journal(where, str(plan.to_data()["digest"]), current_commit(base)) as written:
            report = applied(plan, config, provider, force, written.record)
    for line in report_lines(report):
        click.echo(inert(line))
    if report.failed:
        names = some_ids([a.account for a in report.failed])
        click.echo(f"error: {plural(len(report.failed), 'account')} failed: {names}", err=True)
        sys.exit(EXIT_ERROR)


def confirm(auto_approve: bool) -> None:
    """Go on only with --auto-approve or a yes at the terminal."""
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ReconcilerError(
            "refusing to apply without confirmation: no terminal; pass --auto-approve"
        )
    click.confirm("Apply these changes?", abort=True)
