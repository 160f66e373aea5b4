"""`reconciler validate PATH [--format text|json]`, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "invalid"
#: The example's OK line: its users, and how many come from the fleet-wide partner blocks.
OK_LINE = "OK: 8 accounts, 45 users in 10 files (6 from partner.users, 8 from partner.leavers)\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_valid_config_prints_one_ok_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run("examples/northwind")
    assert (code, out, err) == (0, OK_LINE, "")


def test_single_file_counts_in_the_singular(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, employee_domains: [northwind.agency], actor: a@northwind.agency}\n"
        "accounts: [{id: 1, users: [{email: a@northwind.agency, access: partner_admin, "
        "seat: partner}]}]\n"
    )
    monkeypatch.chdir(tmp_path)
    assert run("c.yaml") == (0, "OK: 1 account, 1 user in 1 file\n", "")


def test_invalid_config_prints_places_then_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    code, out, err = run("duplicate-account")
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "duplicate-account/b-more.yaml:4:9: /accounts/1/id: account 4410021 is declared "
        "twice; also declared at duplicate-account/a-partner.yaml:3:9",
        "1 problem found",
    ]


def test_diagnostics_are_sorted_by_file_then_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "b.yaml").write_text("accounts:\n  - id: 2\n    colour: red\n  - id: x\n")
    (tmp_path / "a.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\nversion: 3\nprofiles: {x: {seat: seet}}\n"
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = run(".")
    assert code == 1
    assert err.splitlines() == [
        "a.yaml:2:10: /version: must be 1, not 3",
        "a.yaml:3:22: /profiles/x/seat: 'seet' is not one of partner, core, sales, service, "
        "view_only, none",
        "b.yaml:3:5: /accounts/0/colour: unknown key 'colour'",
        "b.yaml:4:9: /accounts/1/id: expected an integer, found the string 'x'",
        "4 problems found",
    ]


def test_json_format_when_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run("examples/northwind", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "valid": True,
        "diagnostics": [],
        "summary": {
            "files": 10,
            "accounts": 8,
            "users": 45,
            "problems": 0,
            "origins": {"accounts": 31, "partner.users": 6, "partner.leavers": 8},
        },
    }


def test_json_format_when_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    code, out, err = run("--format", "json", "unknown-key.yaml")
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "valid": False,
        "diagnostics": [
            {
                "file": "unknown-key.yaml",
                "line": 6,
                "col": 56,
                "pointer": "/accounts/0/users/0/sseat",
                "message": "unknown key 'sseat' (did you mean 'seat'?)",
            }
        ],
        "summary": {
            "files": 1,
            "accounts": 0,
            "users": 0,
            "problems": 1,
            "origins": {"accounts": 0, "partner.users": 0, "partner.leavers": 0},
        },
    }


def test_missing_path_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("does-not-exist")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "does-not-exist:1:1: /: no such file or directory",
        "1 problem found",
    ]


def test_unknown_format_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["validate", "--format", "xml", "x"])
    assert result.exit_code == 64


def test_validate_as_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "examples/northwind"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        OK_LINE,
        "",
    )


def test_warnings_go_to_stderr_and_keep_exit_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, employee_domains: [northwind.agency], actor: a@northwind.agency}\n"
        "accounts:\n  - id: 1\n    users:\n"
        '      - {email: "ana@n\\u043erthwind.agency", access: basic, seat: core}\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run("c.yaml")
    assert (code, out) == (0, "OK: 1 account, 1 user in 1 file\n")
    assert err.splitlines() == [
        "warning: c.yaml:5:17: /accounts/0/users/0/email: its domain looks like partner domain"
        " 'northwind.agency' but is another one: it has U+043E CYRILLIC SMALL LETTER O where"
        " that has U+006F LATIN SMALL LETTER O"
    ]
    code, out, err = run("--format", "json", "c.yaml")
    assert (code, json.loads(out)["valid"]) == (0, True)
    assert err.startswith("warning: c.yaml:5:17: /accounts/0/users/0/email: ")


@pytest.mark.parametrize(
    ("email", "named"),
    [
        ("ceo\\0@acme.example", "U+0000 (a control character)"),
        ("ceo@acme.example\\n", "U+000A (a control character)"),
        ("ceo@acme.example\\u202e", "U+202E (a bidirectional text control)"),
    ],
)
def test_unseen_characters_are_named_never_printed(
    email: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\n"
        f'accounts: [{{id: 1, users: [{{email: "{email}", access: basic, seat: core}}]}}]\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run("c.yaml")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"c.yaml:2:36: /accounts/0/users/0/email: an email address cannot contain {named}",
        "1 problem found",
    ]
    assert "\0" not in err and "\u202e" not in err


def test_an_id_past_the_safe_integers_stops_plan_with_a_placed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2^63 once validated, then crashed every command with OverflowError."""
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\naccounts: [{id: 9223372036854775808}]\n"
    )
    monkeypatch.chdir(tmp_path)
    for command in ("validate", "plan"):
        result = CliRunner().invoke(main, [command, "c.yaml"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr.splitlines() == [
            "c.yaml:2:17: /accounts/0/id: must be at most 9007199254740991, not 9223372036854775808",
            "1 problem found",
        ]
