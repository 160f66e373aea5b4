"""A new user's first hour: syntax hints, one partner, a changed snapshot, the wrong PATH,
seats in numbers, import --init to an empty plan, and walking a plan to its end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.config import check_config
from reconciler.config.hints import TAB_MESSAGE, syntax_hint
from reconciler.config.loader import parse_yaml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "northwind"
DATABASE = "northwind/.reconciler/sandbox.db"


@pytest.fixture
def northwind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """examples/northwind copied to tmp_path (without any database), tmp_path the cwd."""
    target = tmp_path / "northwind"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(tmp_path)
    return target


def counts(snapshot: Path, leave_out: int | None = None) -> tuple[int, int]:
    """Accounts and users in a snapshot (but account ``leave_out``)."""
    import yaml

    accounts = [a for a in yaml.safe_load(snapshot.read_text())["accounts"] if a["id"] != leave_out]
    return len(accounts), sum(len(a.get("users") or ()) for a in accounts)


def run(*args: str) -> Result:
    from reconciler.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def plan_data(path: str) -> dict[str, Any]:
    result = run("plan", path, "--format", "json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# -- 1. YAML syntax errors get a hint in our words ------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "hint"),
    [
        (
            "version: 1\npartner:\n  name X\n  actor: a@b.example\n",
            4,
            "line 3 has no ':' after its key; write it as 'name: X'",
        ),
        (
            "version: 1\npartner:\n  name: X\n  actor\n",
            5,
            "line 4 has no ':' after its key; write it as 'actor:'",
        ),
        (
            "version: 1\npartner:\n  name: X\n   actor: a@b.example\n",
            4,
            "line 4 is indented 3 spaces, line 3 above it 2: keys of one mapping start in the"
            " same column",
        ),
        (
            "accounts:\n  - id: 1\n    users:\n      - email: a@b.example\n     seat: core\n",
            5,
            "line 5 is indented 5 spaces, in line with no key above it (they are at 8, 6, 4, 2"
            " or 0); line it up with the key it belongs under",
        ),
        (
            "version: 1\npartner:\n  name: X\n employees: []\n",
            4,
            "line 4 is indented 1 space, in line with no key above it (they are at 2 or 0);"
            " line it up with the key it belongs under",
        ),
        (
            "accounts:\n  - id: 1\n    users:\n      - email: a@b.example\n"
            "        seat: core\n    - email: c@b.example\n",
            6,
            "line 6 is a list item indented 4 spaces, but the items of the list above it"
            " (line 4) are indented 6; items of one list line up",
        ),
        (
            "version: 1\npartner:\n  name: X\n\tactor: a@b.example\n",
            4,
            "line 4 is indented with a tab; YAML indents with spaces only",
        ),
        ("accounts:\n  - id: 1\n    users: [a, b\n", 4, "the '[' on line 3 is not closed with ']'"),
        ('partner:\n  name: "X\n  actor: a\n', 4, 'the " on line 2 is not closed'),
    ],
)
def test_a_syntax_error_gets_our_hint(text: str, line: int, hint: str) -> None:
    assert syntax_hint(text, line) == hint


def test_no_hint_when_nothing_fits() -> None:
    assert syntax_hint("partner:\n  name: X\n", 2) is None
    assert syntax_hint("", 1) is None


def test_the_hint_follows_the_parsers_words_at_the_same_place() -> None:
    _, problems = parse_yaml(b"version: 1\npartner:\n  name X\n  actor: a@b.example\n", "p.yaml")
    [problem] = problems
    # The parser's own words sit between our prefix and our hint; only ours are asserted.
    assert (problem.file, problem.line, problem.col, problem.pointer) == ("p.yaml", 4, 8, "")
    assert problem.message.startswith("not valid YAML: ")
    assert problem.message.endswith(
        "; hint: line 3 has no ':' after its key; write it as 'name: X'"
    )


def test_a_tab_where_the_parser_stops_is_said_in_our_words_alone() -> None:
    _, problems = parse_yaml(b"partner:\n  name: X\n\tactor: a@b.example\n", "p.yaml")
    assert [str(p) for p in problems] == [f"p.yaml:3:1: /: not valid YAML: {TAB_MESSAGE}"]


# -- 2. partner declared twice ----------------------------------------------------------


def test_partner_declared_twice_is_reported_alone(northwind: Path) -> None:
    (northwind / "aaa.yaml").write_text(
        "version: 1\npartner:\n  name: Other\n  employee_domains: [other.example]\n"
        "  actor: bot@other.example\n"
    )
    result = check_config("northwind")
    assert [str(d) for d in result.diagnostics] == [
        "northwind/partner.yaml:10:1: /partner: 'partner' is declared twice;"
        " also declared at northwind/aaa.yaml:2:1"
    ]


# -- 3. the snapshot after the database was made from it --------------------------------


def test_a_changed_snapshot_is_noticed_and_reset_starts_again(northwind: Path) -> None:
    assert run("plan", "northwind").stderr == ""  # the database is made from the snapshot
    snapshot = northwind / "snapshot.yaml"
    snapshot.write_text(snapshot.read_text().replace("name: Acme Corp", "name: Acme Corporation"))
    result = run("plan", "northwind")
    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: snapshot northwind/snapshot.yaml changed after the sandbox database"
        f" {DATABASE} was made from it; plans read the database; to start again from the"
        " snapshot: reconciler sandbox seed --reset northwind northwind/snapshot.yaml\n"
    )
    assert account_name("northwind", 4410021) == "Acme Corp"  # still the database's state
    reset = run("sandbox", "seed", "--reset", "northwind", "northwind/snapshot.yaml")
    accounts, users = counts(snapshot)
    assert (reset.exit_code, reset.stdout) == (
        0,
        f"made {DATABASE} anew from northwind/snapshot.yaml: {accounts} accounts, {users} users\n",
    )
    assert run("plan", "northwind").stderr == ""
    assert account_name("northwind", 4410021) == "Acme Corporation"


def account_name(path: str, account: int) -> str:
    """The account's name in the sandbox (a plan shows the config's)."""
    import yaml

    exported = yaml.safe_load(run("sandbox", "export", path).stdout)
    return str(next(a["name"] for a in exported["accounts"] if a["id"] == account))


def test_reset_drops_what_the_snapshot_does_not_hold(northwind: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(
        "accounts:\n  - id: 4410021\n    name: Acme Corp\n    seats_owned: {core: 1}\n"
        "    users:\n      - {email: ceo@acme.example, access: super_admin, seat: core}\n"
    )
    assert run("plan", "northwind").exit_code == 0
    seeded = run("sandbox", "seed", "northwind", str(one))
    assert seeded.stdout == f"seeded 1 account, 1 user into {DATABASE}\n"
    assert len(json_accounts(run("sandbox", "export", "northwind").stdout)) == 8
    assert run("sandbox", "seed", "--reset", "northwind", str(one)).exit_code == 0
    assert json_accounts(run("sandbox", "export", "northwind").stdout) == [4410021]


def json_accounts(exported: str) -> list[int]:
    import yaml

    return [account["id"] for account in yaml.safe_load(exported)["accounts"]]


def test_a_missing_snapshot_is_placed_at_its_key_and_makes_no_database(northwind: Path) -> None:
    (northwind / "snapshot.yaml").unlink()
    line = (northwind / "partner.yaml").read_text().split("\n").index("  snapshot: snapshot.yaml")
    result = run("plan", "northwind")
    assert result.exit_code == 1
    assert result.stderr == (
        f"northwind/partner.yaml:{line + 1}:13: /provider/snapshot: provider.snapshot: no such"
        f" file 'northwind/snapshot.yaml'; the sandbox database {DATABASE} is made from it"
        " (restore the file, or seed: reconciler sandbox seed PATH SNAPSHOT)\n1 problem found\n"
    )
    assert not (northwind / ".reconciler").exists()


# -- 4. apply PATH --plan FILE with another PATH ----------------------------------------


def test_apply_refuses_a_plan_made_from_another_config(
    northwind: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    shutil.copytree(northwind, other)
    partner = other / "partner.yaml"
    partner.write_text(partner.read_text().replace("max_removals: 25%", "max_removals: 30%"))
    assert run("plan", "northwind", "--out", "plan.json").exit_code == 0
    refused = run("apply", "other", "--plan", "plan.json", "--auto-approve")
    assert (refused.exit_code, refused.stderr) == (
        1,
        "error: plan.json: the plan was made from the config at 'northwind', not 'other';"
        " nothing was changed; apply it with that config, or make a new plan of this one\n",
    )
    # The same config named from another folder is the same config.
    monkeypatch.chdir(northwind)
    applied = run("apply", ".", "--plan", "../plan.json", "--auto-approve")
    assert applied.exit_code == 0, applied.stderr


# -- 5. seats in numbers ---------------------------------------------------------------


def test_a_seat_shortage_says_create_and_gives_numbers(northwind: Path) -> None:
    acme = northwind / "accounts" / "acme-corp.yaml"
    line = len(acme.read_text().splitlines()) + 2  # the second user added below
    with acme.open("a") as config:
        config.write(
            "      - {email: new1@acme.example, access: basic, seat: sales}\n"
            "      - {email: new2@acme.example, access: basic, seat: sales}\n"
        )
    [account] = plan_data("northwind")["accounts"][:1]
    assert account["error"] == (
        f"northwind/accounts/acme-corp.yaml:{line}:9: no safe order: create new2@acme.example with a"
        " sales seat would break an invariant: account 4410021 owns 1 sales seat, the plan needs 2"
    )


# -- 6. import --init to an empty plan ---------------------------------------------------


def test_import_init_writes_a_config_whose_plan_is_empty(northwind: Path) -> None:
    assert run("sandbox", "seed", "northwind", "northwind/snapshot.yaml").exit_code == 0
    imported = run("import", "northwind", "--init", "adopted")
    assert imported.exit_code == 0
    # Harbor Hotels has not let the partner in: nothing of it can be managed yet.
    accounts, users = counts(northwind / "snapshot.yaml", leave_out=4410028)
    assert imported.stderr == (
        "warning: account 4410028 (Harbor Hotels Group): left out: the partner has no access"
        " to it yet; add it once the client approves an access request\n"
        f"wrote a config of {accounts} accounts to adopted; check it with: reconciler plan"
        " adopted\n"
    )
    assert len(list(Path("adopted/accounts").iterdir())) == accounts
    validated = run("validate", "adopted")
    assert (validated.exit_code, validated.stdout) == (
        0,
        f"OK: {accounts} accounts, {users} users in {accounts + 1} files\n",
    )
    planned = run("plan", "adopted", "--detailed-exitcode")
    assert planned.exit_code == 0, planned.stdout
    assert all(not a["steps"] and not a["error"] for a in plan_data("adopted")["accounts"])


def test_import_init_writes_only_into_a_new_directory(northwind: Path) -> None:
    Path("taken").mkdir()
    Path("taken/keep.yaml").write_text("version: 1\n")
    result = run("import", "northwind", "--init", "taken")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: taken: not empty; import --init writes a new config only\n",
    )
    assert sorted(p.name for p in Path("taken").iterdir()) == ["keep.yaml"]


# -- 7. walking a plan to its end in the sandbox -----------------------------------------


def waiting_ids(path: str) -> list[str]:
    """The steps `sandbox do` lists as ready (waiting on people, not on another step)."""
    listed = run("sandbox", "do", path)
    assert listed.exit_code == 0, listed.stderr
    return [line.split()[0] for line in listed.stdout.splitlines()[:-1] if "(after " not in line]


def test_a_new_user_walks_the_plan_to_an_empty_one(northwind: Path) -> None:
    done: list[str] = []
    for _ in range(6):
        if run("plan", "northwind", "--detailed-exitcode").exit_code == 0:
            break
        applied = run("apply", "northwind", "--auto-approve")
        assert applied.exit_code == 0, applied.stdout
        for step_id in waiting_ids("northwind"):
            acted = run("sandbox", "do", "northwind", step_id)
            assert acted.exit_code == 0, acted.stderr
            done.append(acted.stdout)
    assert run("plan", "northwind", "--detailed-exitcode").exit_code == 0
    # The client approved Harbor Hotels' access request; Super Admins did the manual steps.
    assert (
        "account 4410028: 4410028-request_access-14e35b9254: the client approved access for"
        " automation@northwind.agency: Partner Admin on the partner seat\n"
    ) in done
    assert (
        "account 4410023: 4410023-promote_super_admin-c7925cafd3: it@cedarhealth.example"
        " (Super Admin) did it in HubSpot's settings: make director@cedarhealth.example"
        " Super Admin (now basic)\n"
    ) in done
    assert len(done) >= 5


def test_sandbox_do_refuses_what_is_not_a_person_s_step(northwind: Path) -> None:
    steps = [s for a in plan_data("northwind")["accounts"] for s in a["steps"]]
    api = next(s["id"] for s in steps if s["channel"] == "api")
    result = run("sandbox", "do", "northwind", api)
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: {api} is done by `reconciler apply`, not by a person\n",
    )
    later = next(s for s in steps if s["channel"] == "manual" and s["depends_on"])
    early = run("sandbox", "do", "northwind", later["id"])
    assert (early.exit_code, early.stderr) == (
        1,
        f"error: account {later['account']}: {later['id']} waits for {later['depends_on'][0]};"
        " do that first\n",
    )
    unknown = run("sandbox", "do", "northwind", "nonsense")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: 'nonsense' is not the id of a step")


# -- 8. grammar ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shard", "message"),
    [("5/4", "'5/4': K must be between 1 and 4"), ("1/0", "'1/0': N must be at least 1")],
)
def test_shard_bounds_name_the_numbers(northwind: Path, shard: str, message: str) -> None:
    result = run("plan", "northwind", "--shard", shard)
    assert result.exit_code == 64
    assert result.stderr.startswith("error: ")
    assert result.stderr.rstrip("\n").endswith(message)
