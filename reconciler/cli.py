"""The command line. The only module that prints, prompts or exits.

Exit codes: 0 success (with ``--detailed-exitcode``: nothing to do), 1 error,
2 changes the tool would make and 3 only manual or approval steps waiting on
people (``--detailed-exitcode`` only). Usage errors exit 64 so that they are
never mistaken for "changes present".
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from reconciler.collector import gc_paused
from reconciler.config import load_config
from reconciler.config.rules import LOOPBACK
from reconciler.engine import (
    apply_plan,
    check_fresh,
    lock_paths,
    make_plan,
    open_provider,
    read_states,
    select_accounts,
)
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.importer import import_document, import_documents
from reconciler.model import AccountState, Config, ReadFailure
from reconciler.plan import REQUEST_ACCESS, Plan
from reconciler.planfile import load_plan_file, write_plan_file
from reconciler.providers.base import Provider
from reconciler.render import inert, plural
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.report import report_lines
from reconciler.render.text import render_text

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_WAITING = 3
EXIT_USAGE = 64
DEFAULT_JOURNAL = ".reconciler/journal.jsonl"


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


@main.group()
def sandbox() -> None:
    """The embedded sandbox: simulated HubSpot accounts in SQLite."""


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


# --- validate -------------------------------------------------------------------


@main.command("validate")
@click.argument("path", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object with `valid`, `diagnostics` and `summary` on stdout.",
)
@handle_errors
def validate_command(path: str, fmt: str) -> None:
    """Check the config against the schema and the business rules. Reads no current state."""
    from reconciler.config import check_config

    result = check_config(path)
    for warning in result.warnings:  # valid, but probably not meant; the exit code stays
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
        f" in {plural(len(result.files), 'file')}"
    )


# --- plan, apply, show, import ------------------------------------------------


def use_color() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render(plan: Plan, fmt: str) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=use_color())


def progress_bar(total: int) -> Any:
    """A progress bar on stderr for long runs at a terminal; a no-op otherwise."""
    from rich.console import Console
    from rich.progress import Progress

    enabled = sys.stderr.isatty() and total >= 20
    return Progress(console=Console(stderr=True), transient=True, disable=not enabled)


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
ACCOUNT = click.option(
    "--account", "accounts", type=int, multiple=True, help="Only this account (repeatable)."
)


def shard_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, int] | None:
    """``K/N`` (1-based) → (K, N); an account's shard is stable: ``id % N == K - 1``."""
    if value is None:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected K/N, for example 1/4") from None
    if n < 1 or not 1 <= k <= n:
        raise click.BadParameter(f"{value!r}: K must be between 1 and N")
    return k, n


SHARD = click.option(
    "--shard",
    metavar="K/N",
    callback=shard_option,
    help="Only accounts whose id % N == K-1 (for CI matrices).",
)


def planned(
    path: str,
    config: Config,
    provider: Provider,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
) -> Plan:
    """The plan of the config at ``path``, with a progress bar while current state is read."""
    # Loading, reading and planning a thousand accounts allocates millions of objects and
    # no cycles worth collecting: the collector's passes cost a fifth of the run.
    with gc_paused():
        selected = select_accounts(config, accounts, shard)
        with progress_bar(len(selected)) as bar:
            task = bar.add_task("reading current state", total=len(selected))
            plan = make_plan(
                config, provider, accounts, shard, progress=lambda n: bar.advance(task, n)
            )
    return replace(plan, config_path=path)


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
@handle_errors
def plan_command(
    path: str,
    fmt: str,
    out: str | None,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
    detailed_exitcode: bool,
) -> None:
    """Read current state, diff, and print the ordered plan. Changes nothing."""
    with gc_paused():  # see planned()
        config = load_config(path)
        with open_provider(config) as provider:
            plan = planned(path, config, provider, accounts, shard)
    if out:
        write_plan_file(plan, out)
    click.echo(render(plan, fmt), nl=False)
    if out:
        click.echo(
            f"Saved the plan to {out}; apply it with: reconciler apply --plan {out}", err=True
        )
    failed = [a for a in plan.accounts if a.error]
    if failed:
        click.echo(
            f"error: {plural(len(failed), 'account')} cannot be planned: {', '.join(str(a.account) for a in failed)}",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and plan.steps:
        # A drift alarm tells "the tool would change something" (an api step, or an
        # access request it can still send) from "people must act".
        sends = REQUEST_ACCESS in provider.capabilities.step_types
        automatic = any(
            step.channel == "api"
            or (
                sends
                and step.type == REQUEST_ACCESS
                and step.after is not None
                and step.after.partner_access == "pending"
            )
            for step in plan.steps
        )
        sys.exit(EXIT_CHANGES if automatic else EXIT_WAITING)


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
        targets = [a.account for a in saved.accounts]
    else:
        if not path:
            raise click.UsageError("give the config PATH, or --plan PLANFILE")
        config = load_config(path)
        targets = [a.id for a in select_accounts(config, accounts, shard)]
    with holding(lock_paths(config, targets), lock_timeout):
        _apply_locked(config, path or "", saved, auto_approve, force, journal, accounts, shard)


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


def _apply_locked(
    config: Config,
    path: str,
    saved: Plan | None,
    auto_approve: bool,
    force: bool,
    journal: str | None,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
) -> None:
    """Plan (or check the saved plan) and apply, while the lock is held."""
    from reconciler.journal import Journal, current_commit

    with open_provider(config) as provider:
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
            report = apply_plan(plan, config, provider, force=force, on_step=written.record)
    for line in report_lines(report):
        click.echo(inert(line))
    if report.failed:
        names = ", ".join(str(a.account) for a in report.failed)
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


@main.command("show")
@click.argument("planfile", type=click.Path(dir_okay=False))
@FORMAT
@handle_errors
def show_command(planfile: str, fmt: str) -> None:
    """Render a saved plan."""
    click.echo(render(load_plan_file(planfile), fmt), nl=False)


@main.command("import")
@click.argument("path", type=click.Path())
@ACCOUNT
@click.option(
    "--out", type=click.Path(file_okay=False), help="Write one YAML file per account here."
)
@handle_errors
def import_command(path: str, accounts: tuple[int, ...], out: str | None) -> None:
    """Write the current state of the accounts as config YAML."""
    config = load_config(path)
    with open_provider(config) as provider:
        pairs = read_states(provider, select_accounts(config, accounts))
    failed = [(a.id, s) for a, s in pairs if isinstance(s, ReadFailure)]
    for account_id, failure in failed:
        click.echo(f"error: account {account_id}: {failure.message}", err=True)
    states = [s for _, s in pairs if isinstance(s, AccountState)]
    if out:
        documents = import_documents(states, config)
        for account_id, text in documents:
            target = Path(out) / f"{account_id}.yaml"
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ReconcilerError(f"{target}: cannot write: {exc.strerror}") from exc
        click.echo(f"wrote {plural(len(documents), 'account file')} to {out}", err=True)
    else:
        click.echo(import_document(states, config), nl=False)
    if failed:
        sys.exit(EXIT_ERROR)


@sandbox.command("seed")
@click.argument("path", type=click.Path())
@click.argument("snapshot", type=click.Path())
@handle_errors
def sandbox_seed_command(path: str, snapshot: str) -> None:
    """Load a current-state SNAPSHOT into the sandbox of the config at PATH.

    Accounts in the snapshot replace those with the same id; others stay.
    """
    from reconciler.providers.sandbox import sandbox_path
    from reconciler.sandbox.snapshot import load_snapshot
    from reconciler.sandbox.store import Store

    config = load_config(path)
    data = load_snapshot(snapshot)
    target = sandbox_path(config.provider)
    with Store(target) as store:
        store.seed(data, config.partner)
    accounts = len(data["accounts"])
    users = sum(len(account.get("users") or ()) for account in data["accounts"])
    click.echo(
        f"seeded {accounts} account{'s' * (accounts != 1)}, "
        f"{users} user{'s' * (users != 1)} into {target}"
    )


@sandbox.command("export")
@click.argument("path", type=click.Path())
@click.option("--with-tokens", is_flag=True, help="Include the accounts' API tokens (secrets).")
@handle_errors
def sandbox_export_command(path: str, with_tokens: bool) -> None:
    """Print the sandbox of the config at PATH as a snapshot (YAML).

    API tokens are left out unless --with-tokens: output never carries a secret by default.
    """
    import yaml

    from reconciler.providers.sandbox import open_store

    with open_store(load_config(path), must_exist=True) as store:
        data = store.export()
    header = "# The sandbox's current state (reconciler sandbox export).\n"
    if not with_tokens:
        for account in data.get("accounts", []):
            account.pop("tokens", None)
        header += "# API tokens are left out: seeding this file drops them; export --with-tokens keeps them.\n"
    body = yaml.safe_dump({"version": 1, **data}, sort_keys=False, allow_unicode=True, width=100)
    click.echo(header + body, nl=False)


@sandbox.command("approve")
@click.argument("path", type=click.Path())
@click.argument("account_id", type=int)
@handle_errors
def sandbox_approve_command(path: str, account_id: int) -> None:
    """Approve the partner's access request, as the client of ACCOUNT_ID would."""
    from reconciler.providers.sandbox import open_store

    config = load_config(path)
    desired = config.account(account_id)
    actor = desired.actor if desired is not None and desired.actor else config.partner.actor
    with open_store(config, must_exist=True) as store:
        store.approve(account_id, actor)
    click.echo(
        f"account {account_id}: approved access for {actor}: Partner Admin on the partner seat"
    )


@sandbox.command("serve")
@click.argument("path", type=click.Path())
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="0 picks a free port.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Listen here; anything but loopback opens the sandbox to the network.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Requests per token per window (HubSpot: 100, or 190 on higher tiers).",
)
@click.option(
    "--window-ms",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="The rolling window, in milliseconds.",
)
@click.option(
    "--daily-limit",
    type=click.IntRange(min=1),
    default=250_000,
    show_default=True,
    help="Requests per account per day, counted from midnight in the account's time zone.",
)
@click.option(
    "--time-zone",
    help="The accounts' time zone (IANA name; default America/New_York), shown in account"
    " details; their day starts at midnight there.",
)
@click.option(
    "--retry-after/--no-retry-after",
    default=True,
    show_default=True,
    help="Send Retry-After with 429 answers.",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of requests answered 500 or 503.",
)
@click.option(
    "--throttle-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of requests answered 429 whatever the window holds.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of connections closed without an answer.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds added before every answer.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault switches.")
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    help="The largest request body, in bytes (default 1 MiB); a larger one is answered 413.",
)
@handle_errors
def sandbox_serve_command(
    path: str,
    port: int,
    host: str,
    rate_limit: int,
    window_ms: int,
    daily_limit: int,
    time_zone: str | None,
    retry_after: bool,
    error_rate: float,
    throttle_rate: float,
    drop_rate: float,
    latency: float,
    seed: int,
    max_body: int | None,
) -> None:
    """Serve the sandbox of the config at PATH as a HubSpot-compatible API.

    Point the hubspot provider at it (`base_url`) or any HubSpot client; the
    tokens are those of the sandbox's snapshot. Stop it with Ctrl-C.
    """
    from reconciler.providers.hubspot.versions import DEFAULT_SEAT_NAMES, DEFAULT_TIME_ZONE
    from reconciler.providers.sandbox import open_store
    from reconciler.sandbox.http.faults import Faults
    from reconciler.sandbox.http.ratelimit import RateLimits
    from reconciler.sandbox.http.server import SandboxAPI, serve
    from reconciler.sandbox.http.settings import MAX_BODY, ServerSettings
    from reconciler.sandbox.http.shapes import DEFAULT_PARTNER_ADMIN_ROLE

    time_zone = time_zone or DEFAULT_TIME_ZONE
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(
            f"unknown time zone {time_zone!r}", param_hint="--time-zone"
        ) from exc
    config = load_config(path)
    options = config.provider.options
    settings = ServerSettings(
        limits=RateLimits(rate_limit, window_ms, daily_limit, retry_after),
        time_zone=time_zone,
        faults=Faults(error_rate, throttle_rate, drop_rate, latency, seed),
        partner_admin_role=str(options.get("partner_admin_role") or DEFAULT_PARTNER_ADMIN_ROLE),
        seat_names={**DEFAULT_SEAT_NAMES, **(options.get("seat_names") or {})},
        actor=config.partner.actor,
        max_body=max_body or MAX_BODY,
    )
    if host not in LOOPBACK:
        click.echo(f"warning: listening on {host}, not loopback", err=True)
    with open_store(config, must_exist=True) as store:
        serve(SandboxAPI(store, settings), host, port, lambda url: click.echo(f"serving on {url}"))
