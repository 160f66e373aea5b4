"""`sandbox seed|export|approve|serve`: the embedded sandbox from the command line."""

from __future__ import annotations

from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from reconciler.cli.app import handle_errors, sandbox
from reconciler.cli.options import echo_provider_warnings
from reconciler.config import load_config
from reconciler.config.rules import LOOPBACK
from reconciler.errors import ReconcilerError
from reconciler.model import Config
from reconciler.plan import Plan, Step
from reconciler.render import plural


@sandbox.command("seed")
@click.argument("path", type=click.Path())
@click.argument("snapshot", type=click.Path())
@click.option(
    "--reset", is_flag=True, help="Make the database anew from SNAPSHOT alone (drops the rest)."
)
@handle_errors
def sandbox_seed_command(path: str, snapshot: str, reset: bool) -> None:
    """Load a current-state SNAPSHOT into the sandbox of the config at PATH.

    Accounts in the snapshot replace those with the same id; others stay, unless --reset.
    """
    from pathlib import Path

    from reconciler.providers.sandbox import sandbox_path, seed_database

    config = load_config(path)
    target = sandbox_path(config.provider)
    data = seed_database(target, Path(snapshot), config.partner, reset=reset)
    accounts = len(data["accounts"])
    users = sum(len(account.get("users") or ()) for account in data["accounts"])
    counts = f"{plural(accounts, 'account')}, {plural(users, 'user')}"
    if reset:
        click.echo(f"made {target} anew from {snapshot}: {counts}")
    else:
        click.echo(f"seeded {counts} into {target}")


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


@sandbox.command("do")
@click.argument("path", type=click.Path())
@click.argument("step_id", required=False)
@handle_errors
def sandbox_do_command(path: str, step_id: str | None) -> None:
    """Do a manual or approval step in the sandbox, as the person it waits on would.

    STEP_ID is a step's id in the plan (`reconciler plan PATH --format json`); without
    it, the steps waiting on people are listed with their ids. A manual step is done
    by a Super Admin of the account; an approval by the client.
    """
    from reconciler.engine import make_plan
    from reconciler.providers.sandbox import SandboxProvider, act_out

    config = load_config(path)
    if config.provider.type != "sandbox":
        raise ReconcilerError(
            f"sandbox do acts in the sandbox; the config's provider is {config.provider.type}"
        )
    account = _step_account(step_id, config) if step_id else None
    with SandboxProvider(config) as provider:
        echo_provider_warnings(provider)
        plan = make_plan(config, provider, (account,) if account else (), workers=1)
        waiting = {s.id: s for s in plan.steps if s.channel != "api"}
        pending = {s.id for s in plan.steps}
        if step_id is None:
            _list_waiting(plan, list(waiting.values()), pending)
            return
        step = waiting.get(step_id)
        if step is None:
            _no_such_step(step_id, path, plan)
        first = [d for d in step.depends_on if d in pending]
        if first:
            raise ReconcilerError(
                f"account {step.account}: {step_id} waits for {first[0]}; do that first"
            )
        desired = config.account(step.account)
        assert desired is not None
        state = provider.read_account(desired)
        done = act_out(provider.store, step, state, desired.actor)
    click.echo(f"account {step.account}: {step_id}: {done}")


def _list_waiting(plan: Plan, waiting: list[Step], pending: set[str]) -> None:
    for failed in (a for a in plan.accounts if a.error):
        click.echo(f"error: account {failed.account}: {failed.error}", err=True)
    for step in waiting:
        after = [d for d in step.depends_on if d in pending]
        when = f" (after {', '.join(after)})" if after else ""
        click.echo(f"{step.id} [{step.channel}] {step.kind.title}: {step.user}{when}")
    click.echo(f"{plural(len(waiting), 'step')} waiting on people")


def _step_account(step_id: str, config: Config) -> int:
    """A step id starts with its account's id (``4410021-set_seat-129aa139ef``)."""
    head = step_id.partition("-")[0]
    if not head.isdigit() or config.account(int(head)) is None:
        raise ReconcilerError(
            f"{step_id!r} is not the id of a step of this config's accounts (ids look like"
            " 4410021-set_seat-129aa139ef; `reconciler sandbox do PATH` lists them)"
        )
    return int(head)


def _no_such_step(step_id: str, path: str, plan: Plan) -> NoReturn:
    if any(s.id == step_id for s in plan.steps):
        raise ReconcilerError(f"{step_id} is done by `reconciler apply`, not by a person")
    failed = next((a for a in plan.accounts if a.error), None)
    if failed is not None:
        raise ReconcilerError(f"account {failed.account}: cannot be planned: {failed.error}")
    raise ReconcilerError(
        f"{step_id}: no such step waits on people now (done already, or the plan changed);"
        f" `reconciler sandbox do {path}` lists those that do"
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
    help="Seconds from a request to its answer (the work done meanwhile).",
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
