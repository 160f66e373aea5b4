"""``reconciler sandbox seed|export|approve``, run as the real command against a real database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.errors import ConfigError
from reconciler.sandbox.snapshot import load_snapshot

CONFIG = """\
version: 1
partner:
  name: Northwind Digital
  employee_domains: [northwind.agency]
  actor: automation@northwind.agency
provider:
  type: sandbox
  path: state/sandbox.db
accounts:
  - id: 4410021
    name: Acme Corp
    users:
      - {email: automation@northwind.agency, access: partner_admin, seat: partner}
      - {email: ana@northwind.agency, access: partner_admin, seat: partner}
  - id: 5500001
    name: Beta LLC
    users:
      - {email: automation@northwind.agency, access: partner_admin, seat: partner}
"""

SNAPSHOT = """\
accounts:
  - id: 4410021
    name: Acme Corp
    seats_owned: {core: 1}
    roles:
      - {name: Marketing Manager, seat: core, permissions: [marketing.access]}
    teams: [Marketing]
    tokens:
      - {value: pat-na1-test-4410021, scopes: [settings.users.read]}
    users:
      - {email: ceo@acme.example, first_name: Carla, access: super_admin, seat: core}
      - {email: automation@northwind.agency, access: partner_admin, seat: partner}
      - email: staff@acme.example
        access: {role: Marketing Manager}
        seat: view_only
        teams: {primary: Marketing}
  - id: 5500001
    name: Beta LLC
    access_requests: [automation@northwind.agency]
    users:
      - {email: ceo@beta.example, access: super_admin, seat: none}
"""

BAD_SNAPSHOT = """\
accounts:
  - id: 4410021
    name: Acme Corp
    seats_owned: {core: 1}
    teams: [Marketing]
    users:
      - {email: ceo@acme.example, access: super_admin, seat: core}
      - {email: sam@acme.example, access: {role: Ghost}, seat: core, teams: {primary: Sales}}
      - {email: CEO@acme.example, access: basic, seat: none}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "snapshot.yaml").write_text(SNAPSHOT)
    (tmp_path / "bad.yaml").write_text(BAD_SNAPSHOT)
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_seed_then_export_prints_the_snapshot(workdir: Path) -> None:
    seeded = run("sandbox", "seed", "config.yaml", "snapshot.yaml")
    assert (seeded.exit_code, seeded.stdout) == (
        0,
        "seeded 2 accounts, 4 users into state/sandbox.db\n",
    )
    exported = run("sandbox", "export", "config.yaml")
    assert exported.exit_code == 0
    assert exported.stdout.startswith(
        "# The sandbox's current state (reconciler sandbox export).\n"
        "# API tokens are left out: seeding this file drops them; export --with-tokens keeps them.\n"
        "version: 1\n"
        "accounts:\n"
        "- id: 4410021\n"
        "  name: Acme Corp\n"
        "  seats_owned:\n"
        "    core: 1\n"
        "    sales: 0\n"
        "    service: 0\n"
        "  roles:\n"
        "  - name: Marketing Manager\n"
        "    seat: core\n"
        "    permissions:\n"
        "    - marketing.access\n"
    )
    data = yaml.safe_load(exported.stdout)
    assert data["accounts"][1]["access_requests"] == ["automation@northwind.agency"]
    assert [u["email"] for u in data["accounts"][0]["users"]] == [
        "automation@northwind.agency",
        "ceo@acme.example",
        "staff@acme.example",
    ]


def test_exported_snapshot_seeds_back_to_the_same_export(workdir: Path) -> None:
    run("sandbox", "seed", "config.yaml", "snapshot.yaml")
    first = run("sandbox", "export", "config.yaml").stdout
    (workdir / "exported.yaml").write_text(first)
    exported = yaml.safe_load(first)
    assert exported.pop("version") == 1
    assert load_snapshot("exported.yaml") == exported
    assert run("sandbox", "seed", "config.yaml", "exported.yaml").exit_code == 0
    assert run("sandbox", "export", "config.yaml").stdout == first


def test_a_bad_snapshot_reports_every_problem_at_its_place(workdir: Path) -> None:
    result = run("sandbox", "seed", "config.yaml", "bad.yaml")
    assert result.exit_code == 1
    assert result.stderr == (
        "bad.yaml:4:25: /accounts/0/seats_owned/core: 2 users hold a core seat but the account "
        "owns 1\n"
        "bad.yaml:8:50: /accounts/0/users/1/access/role: permission set 'Ghost' does not exist "
        "in account 4410021\n"
        "bad.yaml:8:87: /accounts/0/users/1/teams/primary: team 'Sales' does not exist in "
        "account 4410021\n"
        "bad.yaml:9:17: /accounts/0/users/2/email: CEO@acme.example is listed twice (emails "
        "compare case-insensitively)\n"
        "4 problems found\n"
    )
    assert not (workdir / "state" / "sandbox.db").exists()


def test_a_snapshot_that_breaks_the_schema_is_placed_too(workdir: Path) -> None:
    (workdir / "typo.yaml").write_text(
        "accounts:\n  - id: 1\n    users:\n      - {email: a@b.example, access: super_admin, seat: partnr}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_snapshot("typo.yaml")
    assert [str(d) for d in caught.value.diagnostics] == [
        "typo.yaml:4:57: /accounts/0/users/0/seat: 'partnr' is not one of partner, core, sales, "
        "service, view_only, none (did you mean 'partner'?)"
    ]


def test_approve_creates_the_partner_admin(workdir: Path) -> None:
    run("sandbox", "seed", "config.yaml", "snapshot.yaml")
    result = run("sandbox", "approve", "config.yaml", "5500001")
    assert (result.exit_code, result.stdout) == (
        0,
        "account 5500001: approved access for automation@northwind.agency: Partner Admin on the "
        "partner seat\n",
    )
    beta = yaml.safe_load(run("sandbox", "export", "config.yaml").stdout)["accounts"][1]
    assert "access_requests" not in beta
    assert {
        "email": "automation@northwind.agency",
        "access": "partner_admin",
        "seat": "partner",
    } in (beta["users"])
    again = run("sandbox", "approve", "config.yaml", "5500001")
    assert (again.exit_code, again.stderr) == (
        1,
        "error: account 5500001: cannot approve access for automation@northwind.agency: no "
        "pending access request\n",
    )


def test_commands_without_a_database_say_how_to_make_one(workdir: Path) -> None:
    for args in (("export", "config.yaml"), ("approve", "config.yaml", "5500001")):
        result = run("sandbox", *args)
        assert (result.exit_code, result.stderr) == (
            1,
            "error: no sandbox database at state/sandbox.db; create it with "
            "`reconciler sandbox seed PATH SNAPSHOT`\n",
        )
    assert not (workdir / "state").exists()


def test_approve_of_an_unknown_account_is_one_line(workdir: Path) -> None:
    run("sandbox", "seed", "config.yaml", "snapshot.yaml")
    result = run("sandbox", "approve", "config.yaml", "42")
    assert (result.exit_code, result.stderr) == (1, "error: account 42: not in the sandbox\n")


def test_plan_request_approve_apply_end_to_end(workdir: Path) -> None:
    """The README's loop: the plan requests access, the client approves, the next apply grants."""
    run("sandbox", "seed", "config.yaml", "snapshot.yaml")
    first = run("apply", "config.yaml", "--auto-approve")
    assert first.exit_code == 0, first.output
    beta = yaml.safe_load(run("sandbox", "export", "config.yaml").stdout)["accounts"][1]
    assert beta["access_requests"] == ["automation@northwind.agency"]
    assert run("sandbox", "approve", "config.yaml", "5500001").exit_code == 0
    second = run("apply", "config.yaml", "--auto-approve")
    assert second.exit_code == 0, second.output
    acme = yaml.safe_load(run("sandbox", "export", "config.yaml").stdout)["accounts"][0]
    assert {"email": "ana@northwind.agency", "access": "partner_admin", "seat": "partner"} in (
        acme["users"]
    )


def test_a_snapshot_directory_merges_and_places_problems_in_their_own_file(
    workdir: Path,
) -> None:
    (workdir / "snap").mkdir()
    (workdir / "snap" / "a.yaml").write_text(SNAPSHOT)
    (workdir / "snap" / "b.yaml").write_text(
        "accounts:\n"
        "  - id: 7700001\n"
        "    users: [{email: ceo@gamma.example, access: super_admin, seat: none}]\n"
        "  - id: 5500001\n"
        "    users: [{email: ceo@beta.example, access: super_admin, seat: none}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_snapshot("snap")
    assert [str(d) for d in caught.value.diagnostics] == [
        "snap/b.yaml:4:9: /accounts/1/id: account 5500001 is listed twice"
    ]
    (workdir / "snap" / "b.yaml").write_text(
        "accounts:\n"
        "  - id: 7700001\n"
        "    users: [{email: ceo@gamma.example, access: super_admin, seat: none}]\n"
    )
    assert [a["id"] for a in load_snapshot("snap")["accounts"]] == [4410021, 5500001, 7700001]
    # In a snapshot directory, files named as snapshots are read too.
    (workdir / "snap" / "b.yaml").rename(workdir / "snap" / "b.snapshot.yaml")
    assert [a["id"] for a in load_snapshot("snap")["accounts"]] == [4410021, 5500001, 7700001]
