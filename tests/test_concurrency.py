"""Two applies at once, on real processes: one waits for the other; no update is lost.

Each apply holds a lock on its target from reading current state to its last
write (:mod:`reconciler.lock`). Two configs that rename the same user
differently are applied at the same moment: the second must plan against what
the first wrote (its step's ``before`` is the first one's ``after``), never
against the state both started from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config import load_config
from reconciler.engine import lock_paths
from reconciler.lock import holding
from reconciler.sandbox.store import Store
from tests.served import ACTOR, PARTNER, Fleet, serving, token_env, token_for, user, write_fleet

ACCOUNT = 9001
CURRENT: dict[str, Any] = {
    "id": ACCOUNT,
    "name": "Juniper",
    "seats_owned": {"core": 2},
    "users": [
        user(ACTOR, "super_admin", "core"),
        user("sam@juniper.example", "basic", "none", first_name="Sam"),
    ],
}


def desired(first_name: str) -> dict[str, Any]:
    users = [user("sam@juniper.example", "basic", "none", first_name=first_name)]
    users += [user(f"new{n}@juniper.example", "basic", "none") for n in range(3)]
    return {"id": ACCOUNT, "name": "Juniper", "users": users}


def write_config(folder: Path, provider: dict[str, Any], first_name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if provider["type"] == "sandbox":
        # Each config has its own copy of the snapshot (a config reads one only from
        # inside its folder); the database they write is the same.
        snapshot = {"version": 1, "accounts": [CURRENT]}
        (folder / "snapshot.yaml").write_text(yaml.safe_dump(snapshot))
        provider = {**provider, "snapshot": "snapshot.yaml"}
    account = {**desired(first_name), "token_env": token_env(ACCOUNT)}
    config = {"version": 1, "partner": PARTNER, "provider": provider, "accounts": [account]}
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def apply(folder: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(folder), "--auto-approve", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


@pytest.fixture
def sandbox_configs(tmp_path: Path) -> tuple[Path, Path, Path]:
    database = tmp_path / "shared" / "sandbox.db"
    provider = {"type": "sandbox", "path": str(database)}
    one = write_config(tmp_path / "one", provider, "Alpha")
    two = write_config(tmp_path / "two", provider, "Beta")
    return one, two, database


def sam(database: Path) -> str | None:
    with Store(database) as store:
        row = store.get_user_by_email(ACCOUNT, "sam@juniper.example")
        assert row is not None
        return row.user.first_name


def renames(output: str) -> list[str]:
    """The 'name' lines of a rename step in apply's printed plan."""
    return [line.strip() for line in output.splitlines() if "first_name" in line or "→" in line]


def test_an_apply_waits_for_the_one_holding_the_lock_then_goes_on(
    sandbox_configs: tuple[Path, Path, Path],
) -> None:
    one, _, database = sandbox_configs
    config = load_config(one)
    with holding(lock_paths(config, [ACCOUNT]), 0):
        process = apply(one, "--lock-timeout", "60")
        time.sleep(1.5)
        assert process.poll() is None, "it must wait while the lock is held"
    code, _, err = finish(process)
    assert code == 0, err
    assert sam(database) == "Alpha"


def test_an_apply_that_cannot_get_the_lock_in_time_changes_nothing_and_names_the_holder(
    sandbox_configs: tuple[Path, Path, Path],
) -> None:
    one, _, database = sandbox_configs
    load_config(one)
    code, _, err = finish(apply(one, "--account", str(ACCOUNT)))  # seeds the database
    assert code == 0, err
    two = one.parent / "two"
    before = sam(database)
    with holding(lock_paths(load_config(two), [ACCOUNT]), 0):
        code, _, err = finish(apply(two, "--lock-timeout", "0.5"))
    assert code == 1
    assert err.startswith("error: another apply is running (pid ")
    assert f"pid {os.getpid()} " in err and "nothing was changed" in err
    assert err.count("\n") == 1
    assert sam(database) == before


def test_two_sandbox_applies_at_once_lose_no_update(
    sandbox_configs: tuple[Path, Path, Path],
) -> None:
    one, two, database = sandbox_configs
    first, second = apply(one), apply(two)
    results = [finish(first), finish(second)]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    check_serialised(results, sam(database))
    with Store(database) as store:
        emails = [r.user.email for r in store.list_users(ACCOUNT)]
    assert len(emails) == len(set(emails)) == 5  # actor, sam, three new users: none twice


def check_serialised(results: list[tuple[int, str, str]], final: str | None) -> None:
    """One apply renamed Sam to its name; the other, which ran after it, from that name."""
    outputs = [out for _, out, _ in results]
    applied = [o for o in outputs if "first_name" in o or "Sam" in o]
    assert final in ("Alpha", "Beta")
    other = "Beta" if final == "Alpha" else "Alpha"
    last = next(o for o in outputs if f"→ {final}" in o or f"-> {final}" in o)
    # The last one's step started from what the first one wrote, not from "Sam".
    assert f"{other} → {final}" in last or f"'{other}' → '{final}'" in last, last
    assert applied


def test_two_hubspot_applies_at_once_lose_no_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_fleet(Fleet([CURRENT], [desired("Alpha")]), tmp_path / "fleet", monkeypatch)
    monkeypatch.setenv(token_env(ACCOUNT), token_for(ACCOUNT))
    with serving(files) as (server, store):
        provider = {"type": "hubspot", "base_url": server.url, "api_version": "2026-03"}
        one = write_config(tmp_path / "one", provider, "Alpha")
        two = write_config(tmp_path / "two", provider, "Beta")
        first, second = apply(one), apply(two)
        results = [finish(first), finish(second)]
        assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
        row = store.get_user_by_email(ACCOUNT, "sam@juniper.example")
        assert row is not None
        check_serialised(results, row.user.first_name)
        emails = [r.user.email for r in store.list_users(ACCOUNT)]
        created = [e for e in store.journal(ACCOUNT) if e["step_type"] == "create_user"]
    assert len(emails) == len(set(emails)) == 5
    assert len([e for e in created if e["outcome"] == "ok"]) == 3  # each new user once
