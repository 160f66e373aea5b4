"""Killed runs on a real process: the first run's seeding either completes or leaves nothing.

``reconciler plan`` on a fresh checkout creates the sandbox database from the
snapshot. A run killed (SIGKILL, no clean-up possible) at any moment of that
must leave either no database or a whole one, and the next run must work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.generate import generate
from reconciler.sandbox.store import Store

ACCOUNTS = 150
#: Moments to kill at, in seconds after start: from Python's start-up to well into seeding.
KILL_AFTER = (0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 2.5, 3.0)


def reconciler(*args: str, to_kill: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if to_kill else subprocess.PIPE,
    )


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    generate(tmp_path / "fleet", accounts=ACCOUNTS, users=40, drift=0.05, seed=3)
    return tmp_path / "fleet"


def test_a_run_killed_while_seeding_leaves_no_database_or_a_whole_one(fleet: Path) -> None:
    database = fleet / ".reconciler" / "sandbox.db"
    outcomes = []
    for delay in KILL_AFTER:
        process = reconciler("plan", str(fleet), to_kill=True)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if database.exists():
            with Store(database) as store:
                outcomes.append(len(store.account_ids()))
            # Whole: every account is there. Start again for the next kill.
            assert outcomes[-1] == ACCOUNTS
            for leftover in database.parent.iterdir():
                leftover.unlink()
        else:
            outcomes.append(0)
    # The kills did land while seeding: some runs left nothing (killed mid-way).
    assert 0 in outcomes
    finished = reconciler("plan", str(fleet))
    _, stderr = finished.communicate(timeout=600)
    assert finished.returncode == 0, stderr.decode()
    with Store(database) as store:
        assert len(store.account_ids()) == ACCOUNTS
    # The killed runs' scratch files are gone: only the database (and SQLite's own) remain.
    assert sorted(p.name for p in database.parent.iterdir() if "seeding" in p.name) == []


def test_killed_seeding_scratch_from_a_live_process_is_left_alone(fleet: Path) -> None:
    # Another run seeding right now is not disturbed by a new one.
    database = fleet / ".reconciler" / "sandbox.db"
    database.parent.mkdir()
    mine = database.with_name(f".sandbox.db.seeding-{os.getpid()}")
    mine.write_bytes(b"in progress")
    finished = reconciler("plan", str(fleet))
    _, stderr = finished.communicate(timeout=600)
    assert finished.returncode == 0, stderr.decode()
    assert mine.read_bytes() == b"in progress"
