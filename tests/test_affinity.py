"""While accounts are worked on by threads, the process keeps to one CPU, and gets its CPUs back."""

from __future__ import annotations

import os
import threading

import pytest

from reconciler.affinity import SWITCH, one_cpu
from reconciler.engine import for_each


def can_choose_cpus() -> bool:
    """Whether this process may set its threads' CPUs, among two or more."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    try:
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, allowed)  # no change: only asks whether it is allowed
    except OSError:
        return False
    return len(allowed) >= 2


pytestmark = pytest.mark.skipif(
    not can_choose_cpus(),
    reason="needs a system that lets a process choose among two CPUs or more",
)


def cpus_of(thread: threading.Thread) -> set[int]:
    assert thread.native_id is not None
    return os.sched_getaffinity(thread.native_id)


def test_every_thread_keeps_to_one_cpu_inside_and_all_get_theirs_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SWITCH, raising=False)
    before = os.sched_getaffinity(0)
    stop = threading.Event()
    older = threading.Thread(target=stop.wait)
    older.start()
    try:
        with one_cpu():
            inside = os.sched_getaffinity(0)
            newer = threading.Thread(target=stop.wait)  # started inside, outlives it
            newer.start()
            assert len(inside) == 1 and inside <= before
            assert cpus_of(older) == inside
            assert cpus_of(newer) == inside
            with one_cpu():  # nested: the outer one decides
                assert os.sched_getaffinity(0) == inside
            assert os.sched_getaffinity(0) == inside
        assert os.sched_getaffinity(0) == before
        assert cpus_of(older) == before
        assert cpus_of(newer) == before
    finally:
        stop.set()
        older.join()
        newer.join()


def test_accounts_worked_on_by_threads_are_on_one_cpu_and_alone_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SWITCH, raising=False)
    before = os.sched_getaffinity(0)

    def cpus(_: int) -> int:
        return len(os.sched_getaffinity(0))

    assert for_each(cpus, range(8), 4, "test") == [1] * 8
    assert for_each(cpus, range(3), 1, "test") == [len(before)] * 3  # here, in order
    assert os.sched_getaffinity(0) == before


def test_the_switch_leaves_the_process_on_every_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SWITCH, "0")
    before = os.sched_getaffinity(0)
    with one_cpu():
        assert os.sched_getaffinity(0) == before
    assert for_each(lambda _: os.sched_getaffinity(0), range(4), 2, "test") == [before] * 4
