"""Killed runs on a real process (SIGKILL: no clean-up possible).

``reconciler plan`` on a fresh checkout creates the sandbox database from the
snapshot: a run killed at any moment of that must leave either no database or
a whole one, and the next run must work. ``apply`` killed at any moment must
leave every account whole (no user twice), a journal of whole lines, and a
state from which the next apply finishes the work.
"""

from __future__ import annotations

import json
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


def final_state(folder: Path) -> list[tuple[int, str]]:
    """Each account's state digest, as a plan after the applies sees it."""
    planned = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    return [(a["account"], a["state_digest"]) for a in json.loads(planned.stdout)["accounts"]]


def test_applies_killed_at_any_moment_converge_with_no_duplicate_and_a_whole_journal(
    fleet: Path, tmp_path: Path
) -> None:
    database = fleet / ".reconciler" / "sandbox.db"
    seeded = reconciler("plan", str(fleet))
    _, stderr = seeded.communicate(timeout=600)
    assert seeded.returncode == 0, stderr.decode()
    kills = 0
    for delay in KILL_AFTER:
        process = reconciler("apply", str(fleet), "--auto-approve", to_kill=True)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        # Whatever was cut short, every account still holds each user once.
        with Store(database) as store:
            for account in store.account_ids():
                emails = [row.user.key for row in store.list_users(account)]
                assert len(emails) == len(set(emails))
    assert kills, "no apply was still running when killed"
    finished = reconciler("apply", str(fleet), "--auto-approve")
    _, stderr = finished.communicate(timeout=600)
    assert finished.returncode == 0, stderr.decode()
    # The same fleet applied once, never killed, ends in exactly the same state.
    calm = tmp_path / "calm"
    generate(calm, accounts=ACCOUNTS, users=40, drift=0.05, seed=3)
    uninterrupted = reconciler("apply", str(calm), "--auto-approve")
    _, stderr = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, stderr.decode()
    assert final_state(fleet) == final_state(calm)
    # Each journal line is a whole record, even from the killed runs.
    lines = (fleet / ".reconciler" / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(line)["outcome"] for line in lines)


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_run_leaves_no_worker_behind(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers parsing in a pool wait on a pipe they hold both ends of: they go with the run."""
    monkeypatch.setenv("RECONCILER_PARALLEL_PARSE", "1")
    process = reconciler("validate", str(fleet), to_kill=True)
    workers: list[int] = []
    for _ in range(600):  # until the pool has started (or the run ended: then retry)
        workers = children_of(process.pid)
        if workers or process.poll() is not None:
            break
        time.sleep(0.01)
    assert workers, "the pool never started; give the run more files"
    process.send_signal(signal.SIGKILL)
    process.wait()
    for _ in range(500):
        if not any(alive(worker) for worker in workers):
            break
        time.sleep(0.02)
    left = [worker for worker in workers if alive(worker)]
    for worker in left:
        os.kill(worker, signal.SIGKILL)
    assert left == []
