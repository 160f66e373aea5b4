"""The process kept to one CPU while its threads take turns at the interpreter lock.

Reading and applying many accounts at once is threads waiting on sockets: each
answer wakes a thread, which needs the interpreter lock to do anything with it.
When those threads run on several cores, every hand-off of the lock is a wake-up
across cores, and a thread woken on one core waits for the lock held on another.
On one core the kernel runs them one after another, and the lock is free when a
thread runs. Measured on two cores, planning 200 accounts through `sandbox
serve` 50 ms late: 1.23-1.31x its floor on one CPU against 1.33-1.98x on both,
with a third of the context switches and a sixth less CPU.

Only where the system lets a process choose its CPUs (Linux); elsewhere, and with
``RECONCILER_ONE_CPU=0``, nothing changes. Every thread of the process gets its
CPUs back afterwards, threads started meanwhile those of the thread that started
the phase.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

#: ``0``: leave the process on every CPU it may use.
SWITCH = "RECONCILER_ONE_CPU"

_lock = threading.Lock()
_depth = 0
_saved: dict[int, set[int]] = {}
_restore_to: set[int] = set()


@contextmanager
def one_cpu() -> Iterator[None]:
    """Every thread of the process on one CPU (the one this thread is on) until the end."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            _pin()
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _unpin()


def _pin() -> None:
    if os.environ.get(SWITCH, "").strip() == "0" or not hasattr(os, "sched_setaffinity"):
        return
    try:
        allowed = os.sched_getaffinity(0)
    except OSError:
        return
    if len(allowed) < 2:
        return
    cpu = _current_cpu()
    target = {cpu} if cpu in allowed else {min(allowed)}
    _restore_to.clear()
    _restore_to.update(allowed)
    for tid in _threads():
        try:
            _saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, target)
        except OSError:  # the thread has ended, or may not be moved
            _saved.pop(tid, None)


def _unpin() -> None:
    if not _restore_to:
        return
    for tid in _threads():
        with suppress(OSError):
            os.sched_setaffinity(tid, _saved.get(tid, _restore_to))
    _saved.clear()
    _restore_to.clear()


def _threads() -> list[int]:
    """The process's threads, by their kernel ids."""
    try:
        return [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return [0]  # this thread only


def _current_cpu() -> int:
    """The CPU this thread last ran on (field 39 of its stat), else -1."""
    try:
        with open("/proc/thread-self/stat", "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return -1
