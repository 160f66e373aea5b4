"""Options and helpers shared by the commands that plan: formats, account selection, progress."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any

import click

from reconciler.collector import gc_paused
from reconciler.engine import make_plan, select_accounts
from reconciler.model import Config
from reconciler.plan import Plan
from reconciler.providers.base import Provider
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text


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
