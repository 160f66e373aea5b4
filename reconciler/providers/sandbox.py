"""The sandbox provider: the embedded SQLite accounts, with every step type executable.

An adapter only: it opens the :class:`~reconciler.sandbox.store.Store`, reads
accounts as the config's actor sees them, hands each step to the store (which
enforces HubSpot's rules) and maps the store's refusals to ProviderError.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from reconciler.config.loader import read_document
from reconciler.errors import ConfigError, ProviderError, ReconcilerError, SandboxError
from reconciler.model import (
    ACCESS_KINDS,
    SEATS,
    AccountState,
    Config,
    DesiredAccount,
    Partner,
    ProviderConfig,
    user_key,
)
from reconciler.plan import Step
from reconciler.providers.base import Capabilities
from reconciler.sandbox.rules import NOT_FOUND, RefusedError
from reconciler.sandbox.snapshot import load_snapshot, snapshot_digest
from reconciler.sandbox.store import Store
from reconciler.steps import STEP_TYPES, StepType

DEFAULT_PATH = ".reconciler/sandbox.db"


def sandbox_path(provider: ProviderConfig) -> Path:
    """The database the ``provider`` block names (``path``), relative to the config's directory."""
    return _resolve(provider, str(provider.options.get("path") or DEFAULT_PATH))


def open_store(config: Config, *, must_exist: bool = False) -> Store:
    """Open the sandbox database; a missing (or empty) one is created from ``provider.snapshot``.

    That makes the first ``reconciler plan`` work on a fresh clone: the database
    is never committed, the snapshot is. With ``must_exist`` and no snapshot to
    seed from, a missing database is an error rather than a new empty one; a
    snapshot named but missing is always one, placed at its ``provider.snapshot``.
    """
    path = sandbox_path(config.provider)
    snapshot = config.provider.options.get("snapshot")
    if not path.exists() and not snapshot and must_exist:
        raise SandboxError(
            f"no sandbox database at {path}; create it with `reconciler sandbox seed PATH SNAPSHOT`"
        )
    if not snapshot or (path.exists() and path.stat().st_size > 0):
        return Store(path)
    source = _inside_root(config, _resolve(config.provider, str(snapshot)))
    if not source.exists():
        raise _missing_snapshot(config, source, path)
    data = load_snapshot(source)
    _seed_new(path, data, config.partner, (os.path.realpath(source), snapshot_digest(source)))
    return Store(path)


def seed_database(path: Path, snapshot: Path, partner: Partner, *, reset: bool) -> dict[str, Any]:
    """Seed the database at ``path`` from the ``snapshot`` file; the snapshot's data.

    The snapshot's accounts replace those with the same ids and the others stay;
    with ``reset`` the database is made anew from the snapshot alone.
    """
    data = load_snapshot(snapshot)
    source = (os.path.realpath(snapshot), snapshot_digest(snapshot))
    if reset:
        _remove_database(path)  # with its -wal and -shm, which would not fit the new one
        _seed_new(path, data, partner, source)
    else:
        with Store(path) as store:
            store.seed(data, partner, source)
    return data


def _seed_new(path: Path, data: dict[str, Any], partner: Partner, source: tuple[str, str]) -> None:
    """Seeded beside the database and renamed into place: a run killed while seeding
    leaves no database behind (only its own scratch file, removed by the next run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_seeds(path)
    scratch = path.with_name(f".{path.name}.seeding-{os.getpid()}")
    try:
        with Store(scratch) as seeding:
            seeding.seed(data, partner, source)
        os.replace(scratch, path)
    finally:
        _remove_database(scratch)


def snapshot_warning(config: Config, store: Store) -> str | None:
    """One line when ``provider.snapshot`` changed after the database was seeded from it."""
    snapshot = config.provider.options.get("snapshot")
    if not snapshot:
        return None
    source = _resolve(config.provider, str(snapshot))
    real = os.path.realpath(source)
    root = os.path.realpath(config.root or config.provider.base_dir)
    if os.path.commonpath([root, real]) != root or not source.exists():
        return None
    recorded = store.seeded_digest(real)
    if recorded is None or recorded == snapshot_digest(source):
        return None
    return (
        f"snapshot {source} changed after the sandbox database {store.path} was made from it;"
        " plans read the database; to start again from the snapshot: reconciler sandbox seed"
        f" --reset {config.root or config.provider.base_dir} {source}"
    )


def _missing_snapshot(config: Config, snapshot: Path, database: Path) -> ReconcilerError:
    """A snapshot the provider block names is missing: an error at that ``snapshot`` key."""
    message = (
        f"provider.snapshot: no such file {str(snapshot)!r}; the sandbox database {database}"
        " is made from it (restore the file, or seed: reconciler sandbox seed PATH SNAPSHOT)"
    )
    for file in config.files:
        document, _ = read_document(file)
        if document is None:
            continue
        provider = document.data.get("provider")
        if isinstance(provider, dict) and "snapshot" in provider:
            return ConfigError([document.diagnostic("/provider/snapshot", message)])
    return SandboxError(message)


def act_out(store: Store, step: Step, state: AccountState, actor: str) -> str:
    """Do a manual or approval step in the sandbox as the person it waits on would; what was done.

    A manual step is done by a Super Admin of the account (the client's admin can
    do what the actor may not), someone other than the step's user when there is
    one; an approval is the client approving the partner's access request, which
    is sent first if ``apply`` has not sent it. The store checks every rule.
    """
    if step.type == StepType.REQUEST_ACCESS:
        if state.partner_access == "none":
            store.execute(step, actor=actor)
        store.approve(step.account, actor)
        return f"the client approved access for {actor}: Partner Admin on the partner seat"
    subject = user_key(step.user or "")
    admins = sorted(
        (user.email for key, user in state.users.items() if user.access.kind == "super_admin"),
        key=lambda email: (user_key(email) == subject, user_key(email)),
    )
    if not admins:
        raise SandboxError(f"account {step.account}: no Super Admin to do {step.id} by hand")
    store.execute(step, actor=admins[0])
    done = step.kind.describe(step.user, step.before, step.after)
    return f"{admins[0]} (Super Admin) did it in HubSpot's settings: {done}"


def _inside_root(config: Config, snapshot: Path) -> Path:
    """A snapshot named in a config is read only from inside the configuration directory.

    A pull request that points ``snapshot`` at a file of the CI runner must not
    get it read (and its lines shown in errors). ``sandbox seed`` takes any file
    a person names on the command line.
    """
    folder = config.root or config.provider.base_dir
    root = os.path.realpath(folder)
    if os.path.commonpath([root, os.path.realpath(snapshot)]) != root:
        raise SandboxError(
            f"provider.snapshot {str(snapshot)!r} is outside the configuration directory"
            f" {folder!r}; a snapshot named in a config is read only from inside it"
            " (or seed from anywhere with `reconciler sandbox seed`)"
        )
    return snapshot


def _remove_database(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _remove_abandoned_seeds(path: Path) -> None:
    """Scratch files of seeding runs that were killed (their process is gone)."""
    for scratch in path.parent.glob(f".{path.name}.seeding-*"):
        pid = scratch.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            _remove_database(scratch)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _resolve(provider: ProviderConfig, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(provider.base_dir) / path


class SandboxProvider:
    """Executes every step type; the store is safe to share between the engine's threads."""

    name = "sandbox"
    capabilities = Capabilities(
        step_types=frozenset(STEP_TYPES), seats=frozenset(SEATS), access=frozenset(ACCESS_KINDS)
    )
    # Reading SQLite rows into the model is CPU-bound Python: threads only add GIL
    # contention (1,000 x 50 read in 1.34 s serially, 1.84 s with 4 threads).
    parallelism = 1

    def __init__(self, config: Config) -> None:
        self.store = open_store(config)
        try:
            warning = snapshot_warning(config, self.store)
        except BaseException:
            self.store.close()
            raise
        #: What the command should tell the user (one line each); nothing here prints.
        self.warnings: tuple[str, ...] = (warning,) if warning else ()

    def read_account(self, account: DesiredAccount) -> AccountState:
        try:
            return self.store.read_account(account.id, account.actor)
        except SandboxError as exc:
            raise _provider_error(exc, account.id) from exc

    def execute(self, step: Step, account: DesiredAccount) -> None:
        try:
            self.store.execute(step, actor=account.actor)
        except SandboxError as exc:
            raise _provider_error(exc, account.id) from exc

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> SandboxProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _provider_error(exc: SandboxError, account: int) -> ProviderError:
    if isinstance(exc, RefusedError):
        detail = exc.detail
        if exc.rule == NOT_FOUND and exc.user is None:
            detail += " (seed it with `reconciler sandbox seed`)"
    else:
        detail = str(exc)
    return ProviderError(detail, provider="sandbox", account=account, retryable=False)
