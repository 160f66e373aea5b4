"""Options and helpers shared by the commands that plan: formats, account selection, progress."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from reconciler.apply import ApplyReport, StepOutcome
from reconciler.engine import apply_plan, make_plan, select_accounts
from reconciler.logs import FORMATS as LOG_FORMATS
from reconciler.logs import configure
from reconciler.model import Config
from reconciler.plan import Plan
from reconciler.progress import progress, set_quiet
from reconciler.providers.base import Provider
from reconciler.render import NO_CONTEXT, Context
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown, source_links
from reconciler.render.text import render_text


def echo_provider_warnings(provider: object) -> None:
    """What the provider noticed while opening (a snapshot changed since seeding), one line each."""
    for warning in getattr(provider, "warnings", ()):
        click.echo(f"warning: {warning}", err=True)


def use_color() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render(plan: Plan, fmt: str, context: Context = NO_CONTEXT) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan, context=context)
    return render_text(plan, color=use_color(), context=context)


def source_url_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (
        not value.startswith(("https://", "http://")) or any(c.isspace() for c in value)
    ):
        raise click.BadParameter(f"{value!r}: expected an http(s) URL without spaces")
    return value


SOURCE_URL = click.option(
    "--source-url",
    metavar="URL",
    callback=source_url_option,
    help="Link each Markdown step to its config line: the blob URL up to and including the"
    " commit, e.g. https://github.com/o/r/blob/abc123. In GitHub Actions the default is"
    " $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/$GITHUB_SHA.",
)


def render_context(config_path: str, source_url: str | None, actor: str | None) -> Context:
    """What the renderings may know besides the plan: the actor, and links to config lines.

    Links need a URL prefix (``--source-url``, else GitHub Actions' ``GITHUB_SERVER_URL``,
    ``GITHUB_REPOSITORY`` and ``GITHUB_SHA``: on a pull request that is the merge commit
    GitHub made, which holds the same config lines) and the repository's root, the
    nearest folder above ``config_path`` with a ``.git``.
    """
    env = os.environ
    github = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA")]
    prefix = source_url or ("{}/{}/blob/{}".format(*github) if all(github) else None)
    if prefix is None:
        return Context(actor=actor)
    start = Path(config_path).resolve()
    root = next((d for d in (start, *start.parents) if (d / ".git").exists()), None)
    if root is None:
        if source_url:
            click.echo(
                f"warning: --source-url: no .git above {config_path}, so the repository root"
                " is unknown; steps are not linked to their config lines",
                err=True,
            )
        return Context(actor=actor)
    return Context(actor=actor, link=source_links(prefix, str(root), os.getcwd()))


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
    if n < 1:
        raise click.BadParameter(f"{value!r}: N must be at least 1")
    if not 1 <= k <= n:
        raise click.BadParameter(f"{value!r}: K must be between 1 and {n}")
    return k, n


SHARD = click.option(
    "--shard",
    metavar="K/N",
    callback=shard_option,
    help="Only accounts whose id % N == K-1 (for CI matrices).",
)
PARALLELISM = click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    metavar="N",
    help="Accounts read, planned or applied at once (default: the provider's; hubspot: 32,"
    " as each account has its own token and rate limit; sandbox: 1).",
)


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    set_quiet(value)
    return value


def _set_logging(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    _logging[str(param.name)] = value
    configure(bool(_logging.get("verbose")), str(_logging.get("log_format") or "text"))
    return value


_logging: dict[str, Any] = {}


def output_options(command: Any) -> Any:
    """``--quiet``, ``--verbose`` and ``--log-format``, for the commands that talk to accounts."""
    options = (
        click.option(
            "--quiet",
            is_flag=True,
            expose_value=False,
            callback=_set_quiet,
            help="No progress display (there is none when stderr is not a terminal, or in CI).",
        ),
        click.option(
            "--verbose",
            is_flag=True,
            expose_value=False,
            callback=_set_logging,
            help="Log each API request to stderr: method, path, status, duration (never a token).",
        ),
        click.option(
            "--log-format",
            type=click.Choice(LOG_FORMATS),
            default="text",
            show_default=True,
            expose_value=False,
            callback=_set_logging,
            help="json: --verbose logs as JSON lines.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def applied(
    plan: Plan,
    config: Config,
    provider: Provider,
    force: bool,
    record: Callable[[StepOutcome], None],
) -> ApplyReport:
    """:func:`apply_plan`, each step's outcome recorded, with a display of the steps done."""
    with progress("applying steps", len(plan.steps), "steps") as advance:

        def on_step(outcome: StepOutcome) -> None:
            record(outcome)
            advance(1)

        return apply_plan(plan, config, provider, force=force, on_step=on_step)


def planned(
    path: str,
    config: Config,
    provider: Provider,
    accounts: tuple[int, ...],
    shard: tuple[int, int] | None,
) -> Plan:
    """The plan of the config at ``path``, with a progress bar while current state is read."""
    selected = select_accounts(config, accounts, shard)
    with progress("reading accounts", len(selected), "accounts") as advance:
        plan = make_plan(config, provider, accounts, shard, progress=advance)
    return replace(plan, config_path=path)
