"""Orchestration: load → read current state → plan → apply. Concurrency lives here.

Accounts are read and applied through an executor (bounded parallelism; tests
pass ``workers=1`` to make it serial). Steps within an account are always
applied in plan order by one worker.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from reconciler.affinity import one_cpu
from reconciler.apply import AccountReport, ApplyReport, StepOutcome, apply_account
from reconciler.catalog import load_catalogue
from reconciler.collector import gc_paused
from reconciler.config.pool import fork_context, pool_size, start_method, start_worker
from reconciler.digests import account_digest, plan_digest
from reconciler.drift import drift_lines
from reconciler.errors import PlanError, ProviderError, ReconcilerError
from reconciler.model import AccountState, Config, DesiredAccount, ReadFailure
from reconciler.plan import AccountPlan, Plan
from reconciler.planner import build_plan, plan_read_account
from reconciler.providers.base import Provider
from reconciler.render import plural

#: One account and what reading it gave.
Read: TypeAlias = tuple[DesiredAccount, AccountState | ReadFailure]
Item = TypeVar("Item")
Result = TypeVar("Result")


def open_provider(config: Config, parallelism: int | None = None) -> Provider:
    """The provider named in the config's ``provider`` block; use it in ``with`` to close it.

    ``parallelism``: accounts read, planned or applied at once (``--parallelism``),
    instead of the provider's own default.
    """
    if config.provider.type == "sandbox":
        from reconciler.providers.sandbox import SandboxProvider

        sandbox = SandboxProvider(config)
        if parallelism is not None:
            sandbox.parallelism = parallelism
        return sandbox
    if config.provider.type == "hubspot":
        from reconciler.providers.hubspot.provider import HubSpotProvider

        return HubSpotProvider(config, parallelism=parallelism)
    raise ReconcilerError(f"unknown provider type {config.provider.type!r}")


def lock_paths(config: Config, accounts: Sequence[int]) -> list[Path]:
    """The locks an apply of ``accounts`` holds (:mod:`reconciler.lock`)."""
    if config.provider.type == "sandbox":
        from reconciler.providers.sandbox import sandbox_path

        database = sandbox_path(config.provider)
        return [database.with_name(database.name + ".lock")]
    from reconciler.lock import hubspot_lock_paths
    from reconciler.providers.hubspot.client import DEFAULT_BASE_URL

    base_url = str(config.provider.options.get("base_url") or DEFAULT_BASE_URL)
    return hubspot_lock_paths(base_url, accounts)


def select_accounts(
    config: Config, account_ids: Sequence[int] = (), shard: tuple[int, int] | None = None
) -> list[DesiredAccount]:
    known = {a.id for a in config.accounts}
    missing = sorted(set(account_ids) - known)
    if missing:
        raise ReconcilerError(
            f"--account {', '.join(map(str, missing))}: not in the config"
            f" ({plural(len(config.files), 'file')} read)"
        )
    accounts = [a for a in config.accounts if not account_ids or a.id in account_ids]
    if shard is not None:
        k, n = shard
        accounts = [a for a in accounts if a.id % n == k - 1]
    return sorted(accounts, key=lambda a: a.id)


def workers_for(provider: Provider, accounts: int, workers: int | None = None) -> int:
    """Threads for ``accounts`` accounts: ``workers`` if given, else the provider's parallelism."""
    wanted = workers if workers is not None else provider.parallelism
    return max(1, min(wanted, accounts))


def read_states(
    provider: Provider,
    accounts: Sequence[DesiredAccount],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Read]:
    """Current state of every account; a failed read becomes that account's ReadFailure."""

    def read(account: DesiredAccount) -> Read:
        pair = read_state(provider, account)
        if progress is not None:
            progress(1)
        return pair

    return for_each(read, accounts, workers_for(provider, len(accounts), workers), "read")


def read_state(provider: Provider, account: DesiredAccount) -> Read:
    """One account's current state, or the ReadFailure that says why it cannot be read."""
    try:
        result: AccountState | ReadFailure = provider.read_account(account)
    except ProviderError as exc:
        result = ReadFailure(f"cannot read current state: {exc}")
    return account, result


def for_each(
    action: Callable[[Item], Result], items: Sequence[Item], workers: int, name: str
) -> list[Result]:
    """``action`` over ``items`` by ``workers`` threads (1: here, in order); results in order."""
    if workers <= 1:
        return [action(item) for item in items]
    with one_cpu(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(action, items))


def config_digest(config: Config) -> str:
    """The digest of the config files' bytes, named relative to their common folder.

    A saved plan is refused if the config changed, but not because the same
    files were checked out somewhere else.
    """
    files = sorted(config.files)
    base = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files]) if files else ""
    hasher = hashlib.sha256()
    for name in files:
        relative = os.path.relpath(os.path.abspath(name), base)
        hasher.update(relative.encode("utf-8") + b"\0")
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
    """Read, then plan, each account, keeping only its plan.

    An account's current state is released as soon as it is planned, so memory
    follows the largest account rather than the whole fleet. The plan is the one
    :func:`plan_of` would make of every account read at once.

    The cyclic collector is paused, as ``reconciler plan`` pauses it: reading and
    planning allocate many containers and no cycles, and through the hubspot
    provider its passes took an eighth of the client's CPU.
    """
    accounts = select_accounts(config, account_ids, shard)
    with gc_paused():
        account_plans = plan_accounts(config, provider, accounts, workers, progress)
    return Plan(
        tuple(account_plans),
        plan_digest(account_plans),
        config_digest(config),
        seat_prices=config.seat_prices,
    )


def plan_accounts(
    config: Config,
    provider: Provider,
    accounts: Sequence[DesiredAccount],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[AccountPlan]:
    """Each account read and planned, the plans in the accounts' order.

    With threads, an account's thread goes on to its next account as soon as one is
    read, and one thread beside them plans what they read: planning is Python work,
    which threads take turns at, and a thread planning is a thread not reading.
    Accounts held at once, being read or waiting to be planned: at most twice the
    threads, so memory still follows the largest accounts.
    """
    threads = workers_for(provider, len(accounts), workers)
    if threads <= 1 or _forks_for(config, provider, len(accounts), workers) > 1:
        return map_accounts(config, provider, accounts, plan_account_of, workers, progress)
    room = threading.BoundedSemaphore(2 * threads)

    def plan(desired: DesiredAccount, current: AccountState | ReadFailure) -> AccountPlan:
        try:
            planned = plan_as_read(config, provider, desired, current)
        finally:
            room.release()
        if progress is not None:
            progress(1)
        time.sleep(0)  # a thread with an answer waiting goes before the next plan
        return planned

    with ThreadPoolExecutor(1, thread_name_prefix="planner") as planner:

        def read(account: DesiredAccount) -> Future[AccountPlan]:
            room.acquire()
            try:
                desired, current = read_state(provider, account)
            except BaseException:
                room.release()
                raise
            return planner.submit(plan, desired, current)

        return [planned.result() for planned in for_each(read, accounts, threads, "account")]


def map_accounts(
    config: Config,
    provider: Provider,
    accounts: Sequence[DesiredAccount],
    work: Callable[[Config, Provider, DesiredAccount], Result],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Result]:
    """``work`` on each account (reading it, typically), results in the accounts' order.

    By the provider's threads; with the sandbox and many accounts, in forked
    processes (``work`` must then be a module-level function and its result
    picklable). A forked worker shares the open files of its parent, apply's lock
    among them: it ends with its parent (:func:`~reconciler.config.pool.start_worker`),
    so a killed apply's lock goes with it.
    """

    def one(account: DesiredAccount) -> Result:
        result = work(config, provider, account)
        if progress is not None:
            progress(1)
        return result

    forks = _forks_for(config, provider, len(accounts), workers)
    if forks > 1:
        return _in_processes(config, accounts, forks, work, progress)
    return for_each(one, accounts, workers_for(provider, len(accounts), workers), "account")


def plan_account_of(config: Config, provider: Provider, account: DesiredAccount) -> AccountPlan:
    """One account read and planned; its current state is not kept."""
    return plan_as_read(config, provider, *read_state(provider, account))


def plan_as_read(
    config: Config, provider: Provider, desired: DesiredAccount, current: AccountState | ReadFailure
) -> AccountPlan:
    """One account's plan from what reading it gave, with this config and provider."""
    args = (config.partner, load_catalogue(), provider.capabilities, provider.name)
    return plan_read_account(desired, current, *args)


def _forks_for(config: Config, provider: Provider, accounts: int, workers: int | None) -> int:
    """Processes to work on the accounts in: the sandbox's reads are Python work, which
    threads do not share.

    Only for the sandbox at its own parallelism, with many accounts, and where a
    forked process inherits the loaded config (``fork``, and no other thread here).
    """
    if config.provider.type != "sandbox" or workers is not None or provider.parallelism != 1:
        return 1
    if start_method() != "fork":
        return 1
    return pool_size(accounts)


#: In a planning process: the config and provider it inherited and opened.
_forked: dict[str, Any] = {}


def _open_forked(config: Config, parent: int) -> None:
    start_worker(parent)
    _forked["config"] = config
    _forked["accounts"] = {account.id: account for account in config.accounts}
    _forked["provider"] = open_provider(config)


def _work_ids(
    work: Callable[[Config, Provider, DesiredAccount], Result], ids: list[int]
) -> list[Result]:
    config, provider, accounts = _forked["config"], _forked["provider"], _forked["accounts"]
    return [work(config, provider, accounts[i]) for i in ids]


def _in_processes(
    config: Config,
    accounts: Sequence[DesiredAccount],
    processes: int,
    work: Callable[[Config, Provider, DesiredAccount], Result],
    progress: Callable[[int], None] | None,
) -> list[Result]:
    """``work`` on slices of the accounts in forked processes, each with its own provider."""
    ids = [account.id for account in accounts]
    size = max(1, len(ids) // (processes * 8))
    slices = [ids[start : start + size] for start in range(0, len(ids), size)]
    context = fork_context()
    results: list[Result] = []
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_open_forked, initargs=(config, os.getpid())
    ) as pool:
        for done in pool.map(functools.partial(_work_ids, work), slices):
            results.extend(done)
            if progress is not None:
                progress(len(done))
    return results


def plan_of(pairs: Sequence[Read], config: Config, provider: Provider) -> Plan:
    """The plan of these accounts as read (:func:`build_plan` with this config and provider)."""
    plan = build_plan(
        pairs,
        config.partner,
        load_catalogue(),
        provider.capabilities,
        provider.name,
        config_digest(config),
    )
    return replace(plan, seat_prices=config.seat_prices) if config.seat_prices else plan


STALE = "stale plan: {what} changed since this plan was made; nothing was changed; run plan again"


def check_fresh(plan: Plan, config: Config, provider: Provider, workers: int | None = None) -> None:
    """Refuse a saved plan unless it is exactly the plan of this config and current state.

    The plan is made again from the config and the accounts as they are now; every
    step must be the same, in the same order (only where a step's config line is
    shown from may differ: plan and apply may run in different folders). So an
    edited, added, removed, reordered or retargeted step is refused before
    anything is written, whatever digests the file carries.
    """
    if plan.config_digest != config_digest(config):
        raise PlanError(STALE.format(what="the config"))
    accounts = [a for a in (config.account(ap.account) for ap in plan.accounts) if a is not None]
    if len(accounts) != len(plan.accounts):
        raise PlanError(STALE.format(what="the config's accounts"))
    planned = {ap.account: ap for ap in plan.accounts}
    pairs = read_states(provider, accounts, workers)
    changed = [
        (planned[account.id], state)
        for account, state in pairs
        if account_digest(state) != planned[account.id].state_digest
    ]
    if changed:
        names = ", ".join(f"{ap.name} ({ap.account})" for ap, _ in changed)
        drift = [line for ap, state in changed for line in drift_lines(ap, state)]
        message = STALE.format(what=f"the current state of {names}")
        raise PlanError("\n".join([message, *drift]))
    if plan_digest(plan.accounts) != plan.state_digest:
        raise PlanError(STALE.format(what="the plan file"))
    again = plan_of(pairs, config, provider)
    for saved, now in zip(plan.accounts, again.accounts, strict=True):
        if _comparable(saved) != _comparable(now):
            raise PlanError(
                f"the plan file's steps for {saved.name} ({saved.account}) are not the plan of"
                " this config and current state (edited after plan made it?); nothing was"
                " changed; make a new plan"
            )


def _comparable(account_plan: AccountPlan) -> dict[str, Any]:
    data = account_plan.to_data()
    for step in data["steps"]:
        step.pop("source", None)
    return data


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

    reports = for_each(run, work, workers_for(provider, len(work), workers), "apply")
    return ApplyReport(tuple(reports))
