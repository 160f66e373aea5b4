"""The config schema: valid itself, described for editors, enforcing, and explained well."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.config import check_config
from reconciler.config.loader import read_documents
from reconciler.config.schema import failing_pointers, load_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
EXAMPLE = ROOT / "examples" / "northwind"
FIXTURES = Path(__file__).parent / "fixtures" / "invalid"

#: Fixtures that load but break the schema -> the exact lines reported.
SCHEMA_FIXTURES: dict[str, list[str]] = {
    "unknown-key.yaml": [
        "unknown-key.yaml:6:56: /accounts/0/users/0/sseat: unknown key 'sseat' "
        "(did you mean 'seat'?)",
    ],
    "unknown-top-level-key.yaml": [
        "unknown-top-level-key.yaml:2:1: /acounts: unknown key 'acounts' (did you mean 'accounts'?)",
    ],
    "unknown-key-no-match.yaml": [
        "unknown-key-no-match.yaml:7:5: /accounts/0/billing_contact: unknown key 'billing_contact'",
    ],
    "wrong-type-id.yaml": [
        "wrong-type-id.yaml:3:9: /accounts/0/id: expected an integer, found the string 'acme'",
    ],
    "wrong-type-users.yaml": [
        "wrong-type-users.yaml:5:7: /accounts/0/users: expected a list, found a mapping",
    ],
    "bad-seat.yaml": [
        "bad-seat.yaml:6:62: /accounts/0/users/0/seat: 'partnr' is not one of partner, core, "
        "sales, service, view_only, none (did you mean 'partner'?)",
    ],
    "bad-access.yaml": [
        "bad-access.yaml:6:43: /accounts/0/users/0/access: 'superadmin' is not one of "
        "super_admin, partner_admin, basic, or {role: NAME} for a custom permission set "
        "(did you mean 'super_admin'?)",
    ],
    "bad-role.yaml": [
        "bad-role.yaml:6:50: /accounts/0/users/0/access/role: expected a string, "
        "found the integer 42",
    ],
    "unknown-permission.yaml": [
        "unknown-permission.yaml:9:32: /accounts/0/users/0/permissions/remove/0: "
        "unknown permission 'crm.contact.delete' (did you mean 'crm.contacts.delete'?)",
    ],
    "repeated-permission.yaml": [
        "repeated-permission.yaml:9:59: /accounts/0/users/0/permissions/add/2: 'reports.view' "
        "is listed twice (also at /accounts/0/users/0/permissions/add/0)",
    ],
    "bad-email.yaml": [
        "bad-email.yaml:6:17: /accounts/0/users/0/email: 'ceo.acme.example' is not a valid "
        "email address",
    ],
    "bad-token-env.yaml": [
        "bad-token-env.yaml:4:16: /accounts/0/token_env: 'hubspot-token' must name an "
        "environment variable (A-Z, 0-9 and _, like HUBSPOT_TOKEN_4410021), not hold a value",
    ],
    "bad-max-removals.yaml": [
        "bad-max-removals.yaml:3:17: /defaults/max_removals: '25 percent' must be a count "
        "like 3 or a percentage like '25%'",
    ],
    "max-removals-float.yaml": [
        "max-removals-float.yaml:7:19: /accounts/0/max_removals: expected an integer or a "
        "string, found the number 2.5",
    ],
    "bad-version.yaml": ["bad-version.yaml:1:10: /version: must be 1, not 2"],
    "missing-email.yaml": [
        "missing-email.yaml:6:9: /accounts/0/users/0: missing required key 'email'",
    ],
    "missing-partner-actor.yaml": [
        "missing-partner-actor.yaml:1:10: /partner: missing required key 'actor'",
    ],
    "bad-unmanaged-users.yaml": [
        "bad-unmanaged-users.yaml:4:22: /accounts/0/unmanaged_users: 'delete' is not one of "
        "ignore, report, remove",
    ],
    "zero-super-admins.yaml": [
        "zero-super-admins.yaml:2:30: /defaults/min_super_admins: must be at least 1, not 0",
    ],
    "bad-state.yaml": [
        "bad-state.yaml:7:42: /accounts/0/users/1/state: 'gone' is not one of present, absent",
    ],
    "bad-provider-type.yaml": [
        "bad-provider-type.yaml:2:18: /provider/type: 'hubspt' is not one of sandbox, hubspot "
        "(did you mean 'hubspot'?)",
    ],
    "bad-domain.yaml": [
        "bad-domain.yaml:1:39: /partner/employee_domains/0: '@northwind.agency' is not a valid "
        "email domain (like `northwind.agency`, without `@`)",
    ],
    "negative-id.yaml": [
        "negative-id.yaml:3:9: /accounts/0/id: must be at least 1, not -4410021",
    ],
    "bad-profile-name.yaml": [
        "bad-profile-name.yaml:3:3: /profiles/bad name: 'bad name' is not a valid profile name "
        "(use letters, digits, '.', '_' and '-')",
    ],
    # Ids past 2^53-1 do not survive JSON readers; 2^63 crashed every command once.
    "id-over-64-bits.yaml": [
        "id-over-64-bits.yaml:3:9: /accounts/0/id: must be at most 9007199254740991, "
        "not 9223372036854775808",
    ],
    "id-past-safe-integer.yaml": [
        "id-past-safe-integer.yaml:3:9: /accounts/0/id: must be at most 9007199254740991, "
        "not 9007199254740992",
    ],
    # Characters nobody sees are named, never printed.
    **{
        f"email-{name}.yaml": [
            f"email-{name}.yaml:5:17: /accounts/0/users/0/email: an email address cannot "
            f"contain {character}",
        ]
        for name, character in {
            "nul": "U+0000 (a control character)",
            "trailing-newline": "U+000A (a control character)",
            "del": "U+007F (a control character)",
            "c1-control": "U+0085 (a control character)",
            "zero-width-space": "U+200B (an invisible formatting character)",
            "bidi-override": "U+202E (a bidirectional text control)",
            "bom": "U+FEFF (an invisible formatting character)",
        }.items()
    },
    "name-too-long.yaml": [
        "name-too-long.yaml:4:11: /accounts/0/name: must be at most 1000 characters long, not 2000",
    ],
}


def fixture_paths() -> list[Path]:
    return sorted(FIXTURES.iterdir())


@pytest.mark.parametrize("fixture", sorted(SCHEMA_FIXTURES))
def test_schema_fixture_reports_exact_places(fixture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    assert [str(d) for d in check_config(fixture).diagnostics] == SCHEMA_FIXTURES[fixture]


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.name)
def test_every_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _properties(schema: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            yield f"{where}/properties/{name}", sub
        for key, value in schema.items():
            yield from _properties(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _properties(item, f"{where}/{index}")


def test_every_property_is_described_for_editors() -> None:
    schema = load_schema("config")
    undescribed = []
    for where, sub in _properties(schema):
        target = sub
        ref = sub.get("$ref", "")
        if ref.startswith("#/$defs/"):
            target = schema["$defs"][ref.removeprefix("#/$defs/")]
        if "description" not in sub and "description" not in target:
            undescribed.append(where)
    assert undescribed == []
    assert schema["$id"] == "https://reconciler.dev/schemas/config.schema.json"


def test_permission_names_come_from_the_catalogue_by_its_id() -> None:
    schema = load_schema("config")
    refs = schema["$defs"]["permissions"]["properties"]
    catalogue = load_schema("permissions.json")
    for key in ("add", "remove"):
        ref = refs[key]["items"]["$ref"]
        # A relative reference resolves, against this schema's $id, to the catalogue's $id,
        # so editors reading the file and validators using the registry both find it.
        base = schema["$id"].rpartition("/")[0]
        assert (
            f"{base}/{ref}" == catalogue["$id"] == "https://reconciler.dev/schemas/permissions.json"
        )


def test_examples_are_valid_for_the_project() -> None:
    result = check_config(EXAMPLE)
    assert result.diagnostics == []
    assert result.valid


def _check_jsonschema(files: list[Path]) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "check_jsonschema",
        "--schemafile",
        str(SCHEMAS / "config.schema.json"),
        "--base-uri",
        (SCHEMAS / "config.schema.json").as_uri(),
        *map(str, files),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_examples_are_valid_for_an_independent_validator() -> None:
    files = sorted(p for p in EXAMPLE.rglob("*.yaml") if p.name != "snapshot.yaml")
    assert len(files) >= 9
    done = _check_jsonschema(files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_independent_validator_rejects_an_unknown_permission() -> None:
    """Shows the independent check resolves the catalogue rather than passing vacuously."""
    done = _check_jsonschema([FIXTURES / "unknown-permission.yaml"])
    assert done.returncode == 1
    assert "crm.contact.delete" in done.stdout


def _loaded_documents() -> Iterator[tuple[str, Any]]:
    for path in [*fixture_paths(), EXAMPLE]:
        documents, _ = read_documents(path)
        for document in documents:
            yield str(Path(document.file).relative_to(ROOT)), document.data


@pytest.mark.parametrize(
    "data", [pytest.param(data, id=file) for file, data in _loaded_documents()]
)
def test_fast_and_reference_validators_agree(data: Any) -> None:
    fast = failing_pointers(data, "config", fast=True)
    reference = failing_pointers(data, "config", fast=False)
    assert fast == reference


def test_agreement_covers_valid_and_invalid_documents() -> None:
    verdicts = {
        bool(failing_pointers(data, "config", fast=True)) for _, data in _loaded_documents()
    }
    assert verdicts == {True, False}


def test_messages_are_one_line_and_never_empty() -> None:
    for path in fixture_paths():
        for diagnostic in check_config(path).diagnostics:
            assert diagnostic.message.strip()
            assert "\n" not in diagnostic.message


SAFE_ID = 2**53 - 1


@pytest.mark.parametrize("schema", ["config", "snapshot"])
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    ("account_id", "valid"),
    [(1, True), (SAFE_ID, True), (float(SAFE_ID), True), (2**53, False), (2**63, False)],
)
def test_account_ids_stay_within_the_json_safe_integers(
    schema: str, fast: bool, account_id: float, valid: bool
) -> None:
    data = {"accounts": [{"id": account_id}]}
    assert failing_pointers(data, schema, fast=fast) == (set() if valid else {"/accounts/0/id"})


def test_the_largest_safe_id_builds_a_config(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\n"
        f"accounts: [{{id: {SAFE_ID}}}, {{id: {2**63}}}]\n"
    )
    assert [str(d).split(": ", 1)[1] for d in check_config(tmp_path / "c.yaml").diagnostics] == [
        f"/accounts/1/id: must be at most {SAFE_ID}, not {2**63}"
    ]
    (tmp_path / "c.yaml").write_text(
        f"partner: {{name: N, actor: a@northwind.agency}}\naccounts: [{{id: {SAFE_ID}}}]\n"
    )
    config = check_config(tmp_path / "c.yaml").config
    assert config is not None and config.accounts[0].id == SAFE_ID


@pytest.mark.parametrize("schema", ["config", "snapshot"])
@pytest.mark.parametrize(
    "email",
    [
        "ceo@acme.example\n",
        "ceo@acme.example\r\n",
        "\nceo@acme.example",
        "ceo\x00@acme.example",
        "ceo\x1c@acme.example",
        "ceo@acme.example\x85",
        "ceo\xa0@acme.example",
        "ceo @acme.example",
        "ceo\u3000@acme.example",
        "ceo\u200d@acme.example",
        "ceo\u2066@acme.example",
        "ceo@acme.example\u2029",
    ],
    ids=repr,
)
def test_both_validators_refuse_unseen_characters_in_emails(schema: str, email: str) -> None:
    """Python's `$` matches before a final newline and its `\\s` is not ECMA's: not here."""
    data = {"accounts": [{"id": 1, "users": [{"email": email, "access": "basic", "seat": "core"}]}]}
    expected = {"/accounts/0/users/0/email"}
    assert failing_pointers(data, schema, fast=True) == expected
    assert failing_pointers(data, schema, fast=False) == expected


@pytest.mark.parametrize("schema", ["config", "snapshot"])
def test_the_email_pattern_refuses_what_the_messages_name(schema: str) -> None:
    from reconciler.config.characters import UNSEEN_CLASS

    pattern = load_schema(schema)["$defs"]["email"]["pattern"]
    assert pattern.count(f"[^@{UNSEEN_CLASS}]+") == pattern.count("[") >= 2
    assert load_schema(schema)["$defs"]["email"]["maxLength"] == 254


def test_a_huge_string_is_measured_not_matched(tmp_path: Path) -> None:
    """A megabyte of dots would make Python's regex backtrack for hours; maxLength answers."""
    email = "a@" + "." * 1_000_000 + "@"
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\n"
        f"accounts: [{{id: 1, users: [{{email: '{email}', access: basic, seat: core}}]}}]\n"
    )
    assert [str(d).split(": ", 1)[1] for d in check_config(tmp_path / "c.yaml").diagnostics] == [
        f"/accounts/0/users/0/email: must be at most 254 characters long, not {len(email)}"
    ]


def test_every_string_in_the_config_schema_has_a_length_bound() -> None:
    def strings(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            types = node.get("type")
            # Strings that an enum bounds (directly or through if/then) need no maxLength.
            free = not {"enum", "const", "if"} & node.keys() and not where.endswith("/if")
            if free and "string" in (types or ()) and "maxLength" not in node:
                yield where
            for key, value in node.items():
                yield from strings(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from strings(item, f"{where}/{index}")

    assert list(strings(load_schema("config"), "#")) == []
