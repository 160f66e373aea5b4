"""One apply at a time per target: operating-system file locks, released with their holder.

``apply`` holds a lock on what it writes to while it plans (or checks a saved
plan) and applies: for the sandbox, a lock file beside the database; for
HubSpot, one lock file per account and API host, in the user's cache folder
(``$XDG_CACHE_HOME/reconciler/locks``), so two configs that name the same
client account exclude each other too. A second apply waits up to its
timeout, then stops naming the holder.

The locks are ``flock`` locks: the kernel releases them when the holding
process ends, however it ends (even ``kill -9``), so no lock outlives its
holder and there is nothing to clear by hand. The holder's description in the
file is only for messages. Across machines (CI runners) they cannot help: run
applies in one CI concurrency group (see ``docs/guarantees.md``).
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.cachedir import user_cache
from reconciler.errors import ReconcilerError

#: How often a waiting apply tries the lock again, in seconds.
POLL = 0.1


class LockError(ReconcilerError):
    """Another apply holds the lock for longer than this one would wait."""


def hubspot_lock_paths(base_url: str, accounts: Sequence[int]) -> list[Path]:
    """One lock per HubSpot account and API host, shared by every config on this machine."""
    host = hashlib.sha256(base_url.rstrip("/").encode("utf-8")).hexdigest()[:12]
    folder = user_cache() / "locks"
    return [folder / f"hubspot-{host}-{account}.lock" for account in sorted(set(accounts))]


@contextmanager
def holding(
    paths: Sequence[Path],
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold every lock in ``paths`` (taken in sorted order, so two holders never deadlock)."""
    deadline = clock() + timeout
    with ExitStack() as stack:
        for path in sorted(paths):
            stack.enter_context(_one(path, deadline, timeout, clock, sleep))
        yield


@contextmanager
def _one(
    path: Path,
    deadline: float,
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ReconcilerError(f"cannot open the lock file {path}: {exc.strerror or exc}") from exc
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise LockError(
                        f"another apply is running ({_holder(fd)}; lock {path}); waited"
                        f" {timeout:g} s; nothing was changed; run apply again when it ends"
                    ) from None
                sleep(POLL)
        os.ftruncate(fd, 0)
        os.write(fd, _describe_me().encode("utf-8"))
        yield
    finally:
        os.close(fd)  # and with it, the lock


def _describe_me() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": user,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(
                os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)
            )[:200],
        }
    )


def _holder(fd: int) -> str:
    """Who holds it, from what the holder wrote (it may not have written yet)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or "pid" not in data:
        return "holder unknown"
    return (
        f"pid {data.get('pid')} on {data.get('host')} by {data.get('user')}"
        f" since {data.get('since')}: {data.get('command')}"
    )
