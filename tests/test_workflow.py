"""plan / show / apply / import against the real sandbox, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler import plan as p
from reconciler.catalog import schemas_dir
from reconciler.cli import main
from reconciler.config import load_config
from reconciler.engine import apply_plan, make_plan
from reconciler.plan import FORMAT_VERSION
from reconciler.providers.sandbox import SandboxProvider
from reconciler.steps import STEP_TYPES, StepType

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "northwind"
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the example, with its own sandbox, as the working directory."""
    target = tmp_path / "northwind"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(target)
    yield target


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def export() -> str:
    result = run("sandbox", "export", ".")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("fmt,suffix", [("text", "txt"), ("markdown", "md"), ("json", "json")])
def test_example_plan_matches_golden_file(example: Path, fmt: str, suffix: str) -> None:
    result = run("plan", ".", "--format", fmt)
    assert result.exit_code == 0, result.output
    golden = GOLDEN / f"example-plan.{suffix}"
    if os.environ.get("RECONCILER_UPDATE_GOLDEN"):
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8")


def test_example_plan_uses_every_step_type_and_channel(example: Path) -> None:
    data = json.loads(run("plan", ".", "--format", "json").stdout)
    steps = [s for a in data["accounts"] for s in a["steps"]]
    assert {s["type"] for s in steps} == set(STEP_TYPES)
    assert {s["channel"] for s in steps} == {"api", "manual", "approval"}
    migration = next(s for s in steps if s["type"] == StepType.MIGRATE_TO_PARTNER_ADMIN)
    acme = next(a for a in data["accounts"] if a["account"] == migration["account"])
    assert acme["seats"]["freed"]


def test_plan_json_validates_against_the_plan_schema(example: Path) -> None:
    data = json.loads(run("plan", ".", "--format", "json").stdout)
    schema = json.loads((schemas_dir() / "plan.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


def test_same_input_gives_byte_identical_plans(example: Path) -> None:
    assert (
        run("plan", ".", "--format", "json").stdout == run("plan", ".", "--format", "json").stdout
    )


def test_saved_plan_is_shown_and_applied(example: Path) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    shown = run("show", "plan.json", "--format", "json")
    assert shown.stdout == Path("plan.json").read_text(encoding="utf-8")
    applied = run("apply", "--plan", "plan.json", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Left to do by hand (5):" in applied.stdout
    again = json.loads(run("plan", ".", "--format", "json").stdout)
    # Only what needs a person (and the pending access request) is left, and the
    # individual permissions of a user whose permission set a person still has to
    # apply: applying it resets them, so they are set again after it.
    steps = [s for a in again["accounts"] for s in a["steps"]]
    assert {s["channel"] for s in steps} == {"manual", "approval", "api"}
    for step in steps:
        if step["channel"] == "api":
            assert step["type"] == "set_permissions"
            earlier = {d: s for s in steps if (d := s["id"]) in step["depends_on"]}
            assert any(
                s["channel"] == "manual" and s["user"] == step["user"] and "access" in s["after"]
                for s in earlier.values()
            )


def test_stale_saved_plan_is_refused_and_nothing_changes(example: Path) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    assert run("apply", ".", "--account", "4410025", "--auto-approve").exit_code == 0
    before = export()
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    assert result.exit_code == 1
    # What changed is said for each user the plan touches.
    assert result.stderr == (
        "error: stale plan: the current state of Evergreen Legal LLP (4410025) changed since this"
        " plan was made; nothing was changed; run plan again\n"
        "  4410025 ana.silva@northwind.agency: now exists\n"
        "  4410025 leaver@northwind.agency: no longer exists\n"
        "  4410025 paralegal@evergreen.example: permissions.remove.0 now has 'crm.bulk_delete';"
        " permissions.remove.1 now has 'crm.export'\n"
    )
    assert export() == before


def test_saved_plan_from_another_config_is_refused(example: Path) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    path = Path("accounts/harbor-hotels.yaml")
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    assert result.exit_code == 1
    assert "stale plan: the config changed since this plan was made" in result.stderr


@pytest.mark.parametrize(
    "content,message",
    [
        # After "not JSON:" the words are the JSON library's.
        ("{not json", "plan.json:1:2: not a plan file (not JSON: "),
        ("[]", "plan.json: not a plan file (no format_version; make one with plan --out)"),
        (
            '{"format_version": 9}',
            f"plan.json: plan file has format_version 9; this reconciler reads {FORMAT_VERSION}",
        ),
        ("[" * 100_000 + "]" * 100_000, "plan.json: not a plan file (JSON nested too deeply)"),
    ],
)
def test_bad_plan_files_are_refused(example: Path, content: str, message: str) -> None:
    Path("plan.json").write_text(content, encoding="utf-8")
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    assert result.exit_code == 1
    if message.endswith(": "):
        assert result.stderr.startswith(f"error: {message}")
        assert result.stderr.count("\n") == 1
    else:
        assert result.stderr == f"error: {message}\n"


def copy_partner_without_fleet(folder: Path) -> None:
    """partner.yaml without leavers and fleet-wide people: import declares every user as they
    are, so a leaver still present would be declared present, and partner.users adds people."""
    data = yaml.safe_load(Path("partner.yaml").read_text(encoding="utf-8"))
    del data["partner"]["leavers"], data["partner"]["users"]
    (folder / "partner.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def test_import_then_plan_shows_no_changes(example: Path) -> None:
    result = run("import", ".", "--out", "imported")
    assert result.exit_code == 0, result.output
    fresh = Path("fresh")
    fresh.mkdir()
    copy_partner_without_fleet(fresh)
    shutil.copy("snapshot.yaml", fresh / "snapshot.yaml")
    shutil.copytree(".reconciler", fresh / ".reconciler")
    shutil.copytree("imported", fresh / "accounts")
    planned = run("plan", "fresh", "--detailed-exitcode")
    # The account without partner access still plans its access request; nothing else.
    data = json.loads(run("plan", "fresh", "--format", "json").stdout)
    assert [(s["account"], s["type"]) for a in data["accounts"] for s in a["steps"]] == [
        (4410028, StepType.REQUEST_ACCESS)
    ]
    assert planned.exit_code == 2


def test_impossible_account_is_an_error_while_others_plan(example: Path) -> None:
    path = Path("accounts/granite-logistics.yaml")
    text = path.read_text(encoding="utf-8").replace(
        "{email: ops@granite.example, first_name: Karl, last_name: Berg, profile: client-admin}",
        "{email: ops@granite.example, state: absent}",
    )
    path.write_text(text, encoding="utf-8")
    result = run("plan", ".", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    errors = {a["account"]: a["error"] for a in data["accounts"]}
    assert errors[4410027] == (
        "accounts/granite-logistics.yaml:15:9: no safe order: remove ops@granite.example would break an"
        " invariant: the account would have 0 Super Admins (min_super_admins is 1)"
    )
    assert all(error is None for account, error in errors.items() if account != 4410027)
    assert sum(len(a["steps"]) for a in data["accounts"]) > 0
    assert result.stderr == "error: 1 account cannot be planned: 4410027\n"


def test_detailed_exitcode_and_account_and_shard_selection(example: Path) -> None:
    assert run("plan", ".", "--detailed-exitcode").exit_code == 2
    assert run("plan", ".", "--account", "4410027", "--detailed-exitcode").exit_code == 0
    shard = json.loads(run("plan", ".", "--shard", "2/3", "--format", "json").stdout)
    assert [a["account"] for a in shard["accounts"]] == [
        a for a in range(4410021, 4410029) if a % 3 == 1
    ]
    assert run("plan", ".", "--shard", "4/3").exit_code == 64
    missing = run("plan", ".", "--account", "999")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: --account 999: not in the config (")


def test_apply_without_terminal_needs_auto_approve(example: Path) -> None:
    before = export()
    result = run("apply", ".")
    assert result.exit_code == 1
    assert "refusing to apply without confirmation" in result.stderr
    assert export() == before


def test_apply_asks_and_can_be_declined(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    before = export()
    result = run("apply", ".", input="n\n")
    assert result.exit_code == 1
    assert export() == before


def test_failures_are_isolated_per_account(example: Path) -> None:
    config = load_config(".")
    with SandboxProvider(config) as provider:
        plan = make_plan(config, provider, workers=1)
        # Tamper with one Foxglove step so the sandbox refuses it (a migration to Partner
        # Admin that does not start from Super Admin).
        broken = []
        for account in plan.accounts:
            if account.account == 4410026:
                steps = list(account.steps)
                assert steps[2].type == StepType.MIGRATE_TO_PARTNER_ADMIN
                edited = {**steps[2].to_data(), "before": {"access": "basic"}}
                steps[2] = p.Step.from_data(edited)
                account = type(account)(**{**account.__dict__, "steps": tuple(steps)})
            broken.append(account)
        plan = type(plan)(**{**plan.__dict__, "accounts": tuple(broken)})
        report = apply_plan(plan, config, provider, workers=1)
    statuses = {a.account: a.status for a in report.accounts}
    assert statuses[4410026] == "failed"
    assert statuses[4410025] == "done"
    foxglove = next(a for a in report.accounts if a.account == 4410026)
    assert [o.status for o in foxglove.outcomes] == [
        "applied",
        "applied",
        "failed",
        *["not attempted"] * 4,
    ]
    journal = yaml.safe_load(export())
    assert journal is not None


def test_max_removals_refuses_without_force(example: Path) -> None:
    Path("accounts/driftwood-outdoor.yaml").write_text(
        "accounts:\n"
        "  - id: 4410024\n"
        "    name: Driftwood Outdoor Co\n"
        "    unmanaged_users: remove\n"
        "    users:\n"
        "      - {email: automation@northwind.agency, access: partner_admin, seat: partner}\n"
        "      - {email: founder@driftwood.example, access: super_admin, seat: core}\n",
        encoding="utf-8",
    )
    planned = run("plan", ".", "--account", "4410024")
    assert "exceed max_removals 25%" in planned.stdout
    refused = run("apply", ".", "--account", "4410024", "--auto-approve")
    assert refused.exit_code == 1
    assert (
        "refused: 3 removals exceed max_removals (2); re-run with --force to allow"
        in refused.stdout
    )
    forced = run("apply", ".", "--account", "4410024", "--auto-approve", "--force")
    assert forced.exit_code == 0, forced.output


def test_sandbox_export_leaves_tokens_out_unless_asked(example: Path) -> None:
    assert "pat-na1-" not in export()
    with_tokens = run("sandbox", "export", ".", "--with-tokens")
    assert "pat-na1-11111111-2222-3333-4444-555555555555" in with_tokens.stdout


@pytest.mark.parametrize(
    "tty,no_color,expected", [(True, None, True), (True, "1", False), (False, None, False)]
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, no_color: str | None, expected: bool
) -> None:
    from reconciler.cli import options as cli

    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: tty, raising=False)
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert cli.use_color() is expected


def test_hand_edited_plan_is_refused_before_anything_changes(example: Path) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    data = json.loads(Path("plan.json").read_text(encoding="utf-8"))
    data["accounts"][0]["steps"][0]["type"] = "explode"
    Path("plan.json").write_text(json.dumps(data), encoding="utf-8")
    before = export()
    for command in (["show", "plan.json"], ["apply", "--plan", "plan.json", "--auto-approve"]):
        result = run(*command)
        assert result.exit_code == 1
        assert result.stderr.startswith(
            "error: plan.json: not a valid plan file: /accounts/0/steps/0/type: 'explode' is not one of"
        )
    assert export() == before


def test_saved_plan_applies_from_a_copy_of_the_config_elsewhere(example: Path) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    shutil.copytree(".", "../elsewhere", ignore=shutil.ignore_patterns(".reconciler", "plan.json"))
    shutil.copytree(".reconciler", "../elsewhere/.reconciler")
    result = run("apply", "../elsewhere", "--plan", "plan.json", "--auto-approve")
    assert result.exit_code == 0, result.output


def test_import_to_standard_output_is_one_valid_config_document(example: Path) -> None:
    result = run("import", ".")
    assert result.exit_code == 0, result.output
    fresh = Path("fresh")
    fresh.mkdir()
    copy_partner_without_fleet(fresh)
    (fresh / "accounts.yaml").write_text(result.stdout, encoding="utf-8")
    assert run("validate", "fresh").exit_code == 0
    assert "secondary: []" not in result.stdout and "remove: []" not in result.stdout


def test_a_snapshot_beside_the_config_is_never_read_as_config(example: Path) -> None:
    partner = Path("partner.yaml")
    partner.write_text(
        partner.read_text(encoding="utf-8").replace("  snapshot: snapshot.yaml\n", ""),
        encoding="utf-8",
    )
    result = run("validate", ".")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "OK: 8 accounts, 45 users in 10 files (6 from partner.users, 8 from partner.leavers)\n"
    )


def test_an_empty_sandbox_file_is_seeded_from_the_snapshot(example: Path) -> None:
    Path(".reconciler").mkdir()
    Path(".reconciler/sandbox.db").write_bytes(b"")
    result = run("plan", ".", "--format", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["accounts"]) == 8


def sealed(data: dict[str, Any]) -> dict[str, Any]:
    """A plan file's data with its digest made again, as a careful forger would."""
    body = {k: v for k, v in data.items() if k != "digest"}
    return {"digest": p.digest(body), **body}


def test_a_saved_plan_used_elsewhere_says_where_its_config_was(example: Path) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    data = json.loads(Path("plan.json").read_text(encoding="utf-8"))
    data["config_path"] = "access"
    Path("plan.json").write_text(json.dumps(sealed(data)), encoding="utf-8")
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: plan.json: the plan was made from the config at 'access' (relative to where plan"
        " ran), which is not here; run apply from there or give the config PATH\n"
    )


def test_a_snapshot_outside_the_configuration_directory_is_never_read(example: Path) -> None:
    secret = example.parent / "runner-secret.snapshot.yaml"
    secret.write_text("accounts: [{id: 1, name: 'TOP SECRET LINE'}]\n", encoding="utf-8")
    partner = Path("partner.yaml")
    text = partner.read_text(encoding="utf-8").replace(
        "snapshot: snapshot.yaml", "snapshot: ../runner-secret.snapshot.yaml"
    )
    partner.write_text(text, encoding="utf-8")
    result = run("plan", ".")
    assert result.exit_code == 1
    assert "is outside the configuration directory" in result.stderr
    assert "TOP SECRET" not in result.output + result.stderr
    assert not Path(".reconciler/sandbox.db").exists()


def test_detailed_exitcode_tells_changes_from_people_waiting(example: Path) -> None:
    # 0: nothing to do; 2: the tool would change something; 3: only people must act.
    assert run("plan", ".", "--detailed-exitcode").exit_code == 2
    assert run("apply", ".", "--auto-approve").exit_code == 0
    waiting = json.loads(run("plan", ".", "--format", "json").stdout)
    steps = [s for a in waiting["accounts"] for s in a["steps"]]
    assert steps
    expected = 2 if any(s["channel"] == "api" for s in steps) else 3
    assert run("plan", ".", "--detailed-exitcode").exit_code == expected
    # Accounts whose only steps are manual or approval exit 3 on their own.
    people = sorted(
        {
            a["account"]
            for a in waiting["accounts"]
            if a["steps"] and all(s["channel"] != "api" for s in a["steps"])
        }
    )
    assert people
    selected = [arg for account in people for arg in ("--account", str(account))]
    assert run("plan", ".", *selected, "--detailed-exitcode").exit_code == 3
    done = [a["account"] for a in waiting["accounts"] if not a["steps"] and not a["error"]]
    assert run("plan", ".", "--account", str(done[0]), "--detailed-exitcode").exit_code == 0
