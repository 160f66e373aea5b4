"""`validate`, `plan`, `show` and `import`: the commands that change nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.app import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_WAITING,
    echo_json,
    handle_errors,
    main,
)
from reconciler.cli.options import (
    ACCOUNT,
    FORMAT,
    PARALLELISM,
    SHARD,
    SOURCE_URL,
    echo_provider_warnings,
    output_options,
    planned,
    render,
    render_context,
)
from reconciler.collector import gc_paused
from reconciler.config import load_config
from reconciler.engine import open_provider, read_states, select_accounts
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.importer import import_document, import_documents, init_documents
from reconciler.model import AccountState, ReadFailure
from reconciler.planfile import load_plan_file, write_plan_file
from reconciler.render import plural, some_ids
from reconciler.render.annotations import render_annotations
from reconciler.steps import StepType


@main.command("validate")
@click.argument("path", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="json: one object with `valid`, `diagnostics` and `summary` on stdout. github: one"
    " GitHub Actions annotation (`::error file=…,line=…,col=…::…`) per problem or warning.",
)
@handle_errors
def validate_command(path: str, fmt: str) -> None:
    """Check the config against the schema and the business rules. Reads no current state."""
    from reconciler.config import check_config
    from reconciler.config.fleet import origin_words, origins

    result = check_config(path)
    if fmt == "github":  # workflow commands go to stdout, where the runner reads them
        for line in render_annotations(result.diagnostics, result.warnings):
            click.echo(line)
        if not result.valid:
            click.echo(f"{plural(len(result.diagnostics), 'problem')} found", err=True)
            sys.exit(EXIT_ERROR)
    for warning in [] if fmt == "github" else result.warnings:  # valid, but probably not meant
        click.echo(f"warning: {warning}", err=True)
    config = result.config
    accounts = len(config.accounts) if config else 0
    users = sum(len(account.users) for account in config.accounts) if config else 0
    if fmt == "json":
        summary = {
            "files": len(result.files),
            "accounts": accounts,
            "users": users,
            "problems": len(result.diagnostics),
            "origins": origins(config),
        }
        diagnostics = [diagnostic.to_data() for diagnostic in result.diagnostics]
        echo_json({"valid": result.valid, "diagnostics": diagnostics, "summary": summary})
        if not result.valid:
            sys.exit(EXIT_ERROR)
        return
    if config is None:
        raise ConfigError(result.diagnostics)
    click.echo(
        f"OK: {plural(accounts, 'account')}, {plural(users, 'user')}"
        f" in {plural(len(result.files), 'file')}{origin_words(origins(config))}"
    )


@main.command("plan")
@click.argument("path", type=click.Path())
@FORMAT
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Save the plan (JSON) for `apply --plan`."
)
@ACCOUNT
@SHARD
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when the tool would change something, 3 when"
    " only manual or approval steps wait on people, 1 on error.",
)
@SOURCE_URL
@PARALLELISM
@output_options
@handle_errors
def plan_command(
    path: str,
    fmt: str,
    out: str | None,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
    detailed_exitcode: bool,
    source_url: str | None,
    parallelism: int | None,
) -> None:
    """Read current state, diff, and print the ordered plan. Changes nothing."""
    with gc_paused():  # millions of objects, no cycles worth collecting (reconciler.collector)
        config = load_config(path)
        with open_provider(config, parallelism) as provider:
            echo_provider_warnings(provider)
            plan = planned(path, config, provider, accounts, shard)
    if out:
        write_plan_file(plan, out)
    context = render_context(path, source_url, config.partner.actor)
    click.echo(render(plan, fmt, context), nl=False)
    if out:
        click.echo(
            f"Saved the plan to {out}; apply it with: reconciler apply --plan {out}", err=True
        )
    failed = [a for a in plan.accounts if a.error]
    if failed:
        click.echo(
            f"error: {plural(len(failed), 'account')} cannot be planned:"
            f" {some_ids([a.account for a in failed])}",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and plan.steps:
        # A drift alarm tells "the tool would change something" (an api step, or an
        # access request it can still send) from "people must act".
        sends = StepType.REQUEST_ACCESS in provider.capabilities.step_types
        automatic = any(
            step.channel == "api"
            or (
                sends
                and step.type == StepType.REQUEST_ACCESS
                and step.after is not None
                and step.after.partner_access == "pending"
            )
            for step in plan.steps
        )
        sys.exit(EXIT_CHANGES if automatic else EXIT_WAITING)


@main.command("show")
@click.argument("planfile", type=click.Path(dir_okay=False))
@FORMAT
@SOURCE_URL
@handle_errors
def show_command(planfile: str, fmt: str, source_url: str | None) -> None:
    """Render a saved plan."""
    plan = load_plan_file(planfile)
    # Config lines are named relative to where plan ran: run show from the same folder.
    context = render_context(plan.config_path or planfile, source_url, actor=None)
    click.echo(render(plan, fmt, context), nl=False)


@main.command("import")
@click.argument("path", type=click.Path())
@ACCOUNT
@click.option(
    "--out", type=click.Path(file_okay=False), help="Write one YAML file per account here."
)
@click.option(
    "--init",
    "init",
    type=click.Path(file_okay=False),
    help="Write a whole new config here (partner, provider, defaults, one file per account),"
    " whose plan is empty. The directory must be new or empty.",
)
@PARALLELISM
@output_options
@handle_errors
def import_command(
    path: str, accounts: tuple[int, ...], out: str | None, init: str | None, parallelism: int | None
) -> None:
    """Write the current state of the accounts as config YAML."""
    if out and init:
        raise click.UsageError("give --out or --init, not both")
    if init and Path(init).exists() and (not Path(init).is_dir() or any(Path(init).iterdir())):
        raise ReconcilerError(f"{init}: not empty; import --init writes a new config only")
    config = load_config(path)
    with open_provider(config, parallelism) as provider:
        echo_provider_warnings(provider)
        pairs = read_states(provider, select_accounts(config, accounts))
    failed = [(a.id, s) for a, s in pairs if isinstance(s, ReadFailure)]
    for account_id, failure in failed:
        click.echo(f"error: account {account_id}: {failure.message}", err=True)
    states = [s for _, s in pairs if isinstance(s, AccountState)]
    if init:
        from reconciler.providers.sandbox import sandbox_path

        database = sandbox_path(config.provider) if config.provider.type == "sandbox" else None
        # Nothing in an account without partner access can be managed (or seen) yet.
        for state in (s for s in states if s.partner_access != "granted"):
            click.echo(
                f"warning: account {state.id} ({state.name}): left out: the partner has no"
                " access to it yet; add it once the client approves an access request",
                err=True,
            )
        states = [s for s in states if s.partner_access == "granted"]
        files = init_documents(states, config, init, database)
        _write_files(init, files)
        click.echo(
            f"wrote a config of {plural(len(states), 'account')} to {init}; check it with:"
            f" reconciler plan {init}",
            err=True,
        )
    elif out:
        documents = import_documents(states, config)
        _write_files(out, [(f"{account_id}.yaml", text) for account_id, text in documents])
        click.echo(f"wrote {plural(len(documents), 'account file')} to {out}", err=True)
    else:
        click.echo(import_document(states, config), nl=False)
    if failed:
        sys.exit(EXIT_ERROR)


def _write_files(directory: str, files: list[tuple[str, str]]) -> None:
    for name, text in files:
        target = Path(directory) / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ReconcilerError(f"{target}: cannot write: {exc.strerror}") from exc
