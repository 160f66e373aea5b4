"""Orchestration: load → read current state → plan → apply. Concurrency lives here.

Accounts are read and applied through an executor (bounded parallelism; tests
pass ``workers=1`` to make it serial). Steps within an account are always
applied in plan order by one worker.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.apply import AccountReport, ApplyReport, StepOutcome, apply_account
from reconciler.catalog import load_catalogue
from reconciler.errors import PlanError, ProviderError, ReconcilerError
from reconciler.model import AccountState, Config, DesiredAccount
from reconciler.plan import Plan
from reconciler.planner import build_plan, state_digest
from reconciler.providers.base import Provider


def open_provider(config: Config) -> Provider:
    """The provider named in the config's ``provider`` block."""
    if config.provider.type == "sandbox":
        from reconciler.providers.sandbox import SandboxProvider

        return SandboxProvider(config)
    if config.provider.type == "hubspot":
        from reconciler.providers.hubspot import HubSpotProvider

        return HubSpotProvider(config)
    raise ReconcilerError(f"unknown provider type {config.provider.type!r}")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``K/N`` (1-based) → (K, N); the shard of an account is stable: ``id % N == K - 1``."""
    if text is None:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ReconcilerError(f"--shard {text!r}: expected K/N, for example 1/4") from None
    if n < 1 or not 1 <= k <= n:
        raise ReconcilerError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def select_accounts(
    config: Config, account_ids: Sequence[int] = (), shard: tuple[int, int] | None = None
) -> list[DesiredAccount]:
    known = {a.id for a in config.accounts}
    missing = sorted(set(account_ids) - known)
    if missing:
        raise ReconcilerError(
            f"--account {', '.join(map(str, missing))}: not in the config"
            f" ({len(config.files)} file{'s' if len(config.files) != 1 else ''} read)"
        )
    accounts = [a for a in config.accounts if not account_ids or a.id in account_ids]
    if shard is not None:
        k, n = shard
        accounts = [a for a in accounts if a.id % n == k - 1]
    return sorted(accounts, key=lambda a: a.id)


def workers_for(provider: Provider, accounts: int) -> int:
    return max(1, min(int(getattr(provider, "parallelism", 4)), accounts))


def read_states(
    provider: Provider,
    accounts: Sequence[DesiredAccount],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[DesiredAccount, AccountState | str]]:
    """Current state of every account; a failed read becomes that account's error message."""

    def read(account: DesiredAccount) -> tuple[DesiredAccount, AccountState | str]:
        try:
            result: AccountState | str = provider.read_account(account)
        except ProviderError as exc:
            result = f"cannot read current state: {exc}"
        if progress is not None:
            progress(1)
        return account, result

    count = workers if workers is not None else workers_for(provider, len(accounts))
    if count <= 1:
        return [read(a) for a in accounts]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="read") as pool:
        return list(pool.map(read, accounts))


def config_digest(config: Config) -> str:
    """The digest of the config files' bytes: a saved plan is refused if they changed."""
    hasher = hashlib.sha256()
    for name in sorted(config.files):
        hasher.update(name.encode("utf-8") + b"\0")
        hasher.update(Path(name).read_bytes() if Path(name).is_file() else b"")
        hasher.update(b"\0")
    return "sha256:" + hasher.hexdigest()


def make_plan(
    config: Config,
    provider: Provider,
    account_ids: Sequence[int] = (),
    shard: tuple[int, int] | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    accounts = select_accounts(config, account_ids, shard)
    pairs = read_states(provider, accounts, workers, progress)
    plan = build_plan(
        pairs,
        config.partner,
        load_catalogue(),
        provider.capabilities,
        provider.name,
        config_digest(config),
    )
    return plan


def check_fresh(plan: Plan, config: Config, provider: Provider, workers: int | None = None) -> None:
    """Refuse a saved plan made against another config or another current state."""
    if plan.config_digest and plan.config_digest != config_digest(config):
        raise PlanError("stale plan: the config changed since this plan was made; run plan again")
    accounts = [a for a in (config.account(ap.account) for ap in plan.accounts) if a is not None]
    if len(accounts) != len(plan.accounts):
        raise PlanError("stale plan: it names accounts the config no longer has; run plan again")
    read: list[AccountState | tuple[int, str]] = []
    for account, state in read_states(provider, accounts, workers):
        read.append(state if isinstance(state, AccountState) else (account.id, state))
    if state_digest(read) != plan.state_digest:
        raise PlanError(
            "stale plan: the current state of the accounts changed since this plan was made;"
            " nothing was changed; run plan again"
        )


def apply_plan(
    plan: Plan,
    config: Config,
    provider: Provider,
    force: bool = False,
    workers: int | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> ApplyReport:
    """Apply every account's steps; one account's failure never stops another."""
    work = [(ap, config.account(ap.account)) for ap in plan.accounts if ap.steps or ap.error]

    def run(item: tuple[Any, DesiredAccount | None]) -> AccountReport:
        account_plan, desired = item
        if desired is None:
            return AccountReport(account_plan.account, account_plan.name, error="not in the config")
        try:
            return apply_account(account_plan, desired, provider, force, on_step)
        except ReconcilerError as exc:
            return AccountReport(account_plan.account, account_plan.name, error=str(exc))

    count = workers if workers is not None else workers_for(provider, len(work))
    if count <= 1:
        reports = [run(item) for item in work]
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="apply") as pool:
            reports = list(pool.map(run, work))
    return ApplyReport(tuple(reports))


def load_plan_file(path: str) -> Plan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read the plan file: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}:{exc.lineno}:{exc.colno}: not a plan file: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise PlanError(f"{path}: not a plan file (expected a JSON object)")
    try:
        return Plan.from_data(data)
    except PlanError as exc:
        raise PlanError(f"{path}: {exc}") from exc


def with_config_path(plan: Plan, path: str) -> Plan:
    return replace(plan, config_path=path)
