"""The fast paths change nothing a user sees.

- Config files parsed in several processes give byte-identical diagnostics and
  plans to the serial parse, on every fixture, the example and a generated corpus.
- Apply with 1 and with 32 accounts at once ends in the same state with the same report.
- The progress display appears only on a terminal, never in CI; ``--verbose``
  logs each request without a secret.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler import engine
from reconciler.cli import main
from reconciler.config.cache import SWITCH as CACHE_SWITCH
from reconciler.config.pool import SWITCH, beside, start_method
from reconciler.config.positions import PackedPositions, pack_positions
from reconciler.engine import Read, apply_plan, make_plan, open_provider
from reconciler.model import DesiredAccount
from reconciler.plan import AccountPlan
from reconciler.providers.base import Provider
from reconciler.render.json import render_json
from reconciler.render.report import report_lines
from tests.served import FleetFiles, bulk_fleet, rich_fleet, serving, write_fleet

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "invalid").iterdir())


def invoke(args: list[str], parallel: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Exit code, and stdout then stderr, of the command with the pool forced on or off.

    The parse cache is off, so that every file is parsed by the path under test.
    """
    monkeypatch.setenv(SWITCH, parallel)
    monkeypatch.setenv(CACHE_SWITCH, "0")
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout + "\n--- stderr ---\n" + result.stderr


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_validate_says_the_same_with_and_without_the_pool(
    fixture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for fmt in ("text", "json"):
        args = ["validate", str(fixture.relative_to(ROOT)), "--format", fmt]
        monkeypatch.chdir(ROOT)
        serial = invoke(args, "0", monkeypatch)
        pooled = invoke(args, "1", monkeypatch)
        assert serial[0] == 1
        assert pooled == serial


def test_a_broken_file_among_many_is_placed_the_same(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "partner"
    shutil.copytree(corpus, broken)
    accounts = sorted((broken / "accounts").iterdir())
    accounts[3].write_text(accounts[3].read_text().replace("seat:", "seat: [", 1))
    accounts[40].write_text(accounts[40].read_text().replace("email:", "emial:", 1))
    args = ["validate", str(broken)]
    serial = invoke(args, "0", monkeypatch)
    assert serial[0] == 1 and accounts[3].name in serial[1] and accounts[40].name in serial[1]
    assert invoke(args, "1", monkeypatch) == serial
    monkeypatch.delenv(SWITCH)
    monkeypatch.delenv(CACHE_SWITCH)
    assert CliRunner().invoke(main, args).stderr == serial[1].split("--- stderr ---\n")[1]


@pytest.mark.parametrize("name", ["example", "corpus"])
@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_plans_are_the_same_with_and_without_the_pool(
    name: str, fmt: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = ROOT / "examples" / "northwind" if name == "example" else corpus
    config = tmp_path / name
    shutil.copytree(source, config, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(tmp_path)
    for args in (["validate", name], ["plan", name, "--format", fmt]):
        serial = invoke(args, "0", monkeypatch)
        assert serial[0] == 0, serial[1]
        assert invoke(args, "1", monkeypatch) == serial


@pytest.mark.parametrize("fmt", ["text", "csv", "json", "html"])
def test_reports_are_the_same_read_here_or_in_processes(
    fmt: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 70 accounts are reviewed in forked processes with the switch on, here with it off."""
    shutil.copytree(corpus, tmp_path / "corpus", ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(tmp_path)
    args = ["report", "corpus", "--format", fmt]
    serial = invoke(args, "0", monkeypatch)
    assert serial[0] == 0, serial[1]
    assert invoke(args, "1", monkeypatch) == serial


def test_packed_positions_equal_the_positions_they_pack() -> None:
    positions = {"": (1, 1, 1, 1), "/a": (2, 3, 2, 1), "/a/0": (3, 5, 3, 5), "/b~1c": (4, 4, 4, 1)}
    packed = pack_positions(positions)
    assert isinstance(packed, PackedPositions)
    assert packed == positions and dict(packed) == positions
    assert packed.get("/a/0") == (3, 5, 3, 5) and packed.get("/a/1") is None
    assert packed.get("/a\0/a/0") is None
    with pytest.raises(KeyError):
        packed["/missing"]
    # Lookups in any order (each starts where the last was found) find the same places.
    many = {f"/a/{n}": (n + 1, n % 7 + 1, n + 1, 1) for n in range(300)}
    packed_many = pack_positions(many)
    for order in (list(many), list(reversed(many)), sorted(many), [*many][::7] * 3):
        assert [packed_many.get(k) for k in order] == [many[k] for k in order]
        assert packed_many.get("/a/300") is None and packed_many.get("/a") is None
    # A key holding the separator cannot be packed: the dict stays as it is.
    odd = {"": (1, 1, 1, 1), "/a\0b": (2, 1, 2, 1)}
    assert pack_positions(odd) is odd


def _in_child(parent: int) -> bool:
    return os.getpid() != parent


def test_work_beside_gives_its_result_or_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child's answer, else the work again here: the same result, or the same exception."""
    assert start_method() == "fork", "a thread left running by an earlier test stops forks"
    monkeypatch.setenv(SWITCH, "1")
    parent = os.getpid()
    assert beside(lambda: (_in_child(parent), [3, "x"]), 2)() == (True, [3, "x"])

    def dies() -> str:
        if _in_child(parent):
            os._exit(3)
        return "here"

    def unpicklable() -> object:
        return (lambda: None) if _in_child(parent) else "here"

    assert beside(dies, 2)() == "here"
    assert beside(unpicklable, 2)() == "here"
    with pytest.raises(ZeroDivisionError):
        beside(lambda: 1 // 0, 2)()
    monkeypatch.setenv(SWITCH, "0")  # not worth a process: runs here, when asked
    assert beside(lambda: _in_child(parent), 2)() is False


def _apply(files: FleetFiles, parallelism: int) -> tuple[list[str], object]:
    with serving(files) as (server, store):
        config = files.hubspot_config(server.url)
        with open_provider(config, parallelism) as provider:
            assert provider.parallelism == parallelism
            plan = make_plan(config, provider)
            assert plan.steps
            report = apply_plan(plan, config, provider)
        return report_lines(report), store.export()


@pytest.mark.parametrize("fleet", ["rich", "bulk"])
def test_apply_with_1_or_32_accounts_at_once_ends_the_same(
    fleet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make = rich_fleet if fleet == "rich" else lambda: bulk_fleet(40, 3)
    one = _apply(write_fleet(make(), tmp_path / "one", monkeypatch), 1)
    many = _apply(write_fleet(make(), tmp_path / "many", monkeypatch), 32)
    assert many == one


def test_plans_made_beside_the_reads_are_the_serial_plans_and_hold_few_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With threads, one thread plans what the others read: the same plan, byte for byte,
    as one thread reading and planning in turn; an account that cannot be read plans as
    its error; progress counts every account; at most twice the threads' accounts held."""
    files = write_fleet(bulk_fleet(40, 3), tmp_path / "fleet", monkeypatch)
    held, most, lock = 0, 0, threading.Lock()
    read_state, plan_read_account = engine.read_state, engine.plan_read_account

    def reading(provider: Provider, account: DesiredAccount) -> Read:
        nonlocal held, most
        with lock:
            held += 1
            most = max(most, held)
        return read_state(provider, account)

    def planning(*args: Any) -> AccountPlan:
        nonlocal held
        time.sleep(0.02)  # planning far slower than reading: accounts wait for the planner
        planned = plan_read_account(*args)
        with lock:
            held -= 1
        return planned

    with serving(files) as (server, _):
        config = files.hubspot_config(server.url)
        broken = config.accounts[7]
        monkeypatch.delenv(broken.token_env or "")
        with open_provider(config, 4) as provider:
            serial = make_plan(config, provider, workers=1)
            monkeypatch.setattr(engine, "read_state", reading)
            monkeypatch.setattr(engine, "plan_read_account", planning)
            counted: list[int] = []
            beside = make_plan(config, provider, progress=counted.append)
    assert render_json(beside) == render_json(serial)
    assert [a.account for a in beside.accounts if a.error] == [broken.id]
    assert sum(counted) == len(config.accounts) == 40
    assert 4 < most <= 8


def test_verbose_logs_each_request_and_no_secret(
    files: FleetFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(files) as (server, _):
        files.hubspot_config(server.url)
        config = str(files.hubspot)
        text = CliRunner().invoke(main, ["plan", config, "--verbose"])
        lines = CliRunner().invoke(main, ["plan", config, "--verbose", "--log-format", "json"])
        quiet = CliRunner().invoke(main, ["plan", config])
    logged = [line for line in text.stderr.splitlines() if " ms account " in line]
    for account in files.fleet.current:
        assert any(
            "GET /account-info/2026-03/details 200 " in line
            and line.endswith(f"account {account['id']}")
            for line in logged
        )
    records = [json.loads(line) for line in lines.stderr.splitlines() if line.startswith("{")]
    assert len(records) == len(logged)
    assert {"account", "method", "path", "status", "ms", "time"} <= set(records[0])
    assert " GET " not in quiet.stderr
    for output in (text.stderr, lines.stderr):
        for token in files.environment().values():
            assert token not in output
        assert "Bearer" not in output and "authorization" not in output.lower()


def _plan_at_terminal(config: Path, env: dict[str, str], *args: str) -> str:
    """What ``plan`` writes to its stderr when that is a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(config), *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
        check=False,
        timeout=120,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_shows_at_a_terminal_only(corpus: Path, tmp_path: Path) -> None:
    config = tmp_path / "partner"
    shutil.copytree(corpus, config, ignore=shutil.ignore_patterns(".reconciler"))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    CliRunner().invoke(main, ["plan", str(config)])  # seeds the sandbox first
    assert "reading accounts" in _plan_at_terminal(config, env, "--parallelism", "1")
    assert "reading accounts" not in _plan_at_terminal(config, {**env, "CI": "true"})
    assert "reading accounts" not in _plan_at_terminal(config, env, "--quiet")
    piped = CliRunner().invoke(main, ["plan", str(config)])
    assert piped.exit_code == 0 and "reading accounts" not in piped.stderr


def test_a_fleet_that_cannot_be_planned_is_summed_up_on_one_short_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = bulk_fleet(12, 1).write(tmp_path / "fleet")
    for name in files.environment():  # no account's token: none can be read
        monkeypatch.delenv(name, raising=False)
    files.hubspot_config("http://127.0.0.1:9")
    result = CliRunner().invoke(main, ["plan", str(files.hubspot)])
    ids = [account["id"] for account in files.fleet.desired]
    assert result.exit_code == 1
    for account in ids:  # each with its reason, in the plan
        assert f"({account}): error: cannot read current state: account {account}:" in result.stdout
    named = ", ".join(str(account) for account in ids[:10])
    assert result.stderr == f"error: 12 accounts cannot be planned: {named} and 2 more\n"
