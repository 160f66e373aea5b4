"""Business rules, secrets, merging across files, and the typed desired state."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_config_loader import LOADER_FIXTURES
from test_config_schema import SCHEMA_FIXTURES

from reconciler.catalog import load_catalogue
from reconciler.config import check_config, load_config
from reconciler.config.loader import parse_yaml
from reconciler.errors import ConfigError
from reconciler.model import Access, Location, Permissions, RemovalLimit, Teams

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "northwind"
FIXTURES = Path(__file__).parent / "fixtures" / "invalid"

TOKEN_ADVICE = "put tokens in the environment and name the variable with token_env"

#: Fixtures that pass the schema but break a rule -> the exact lines reported.
RULE_FIXTURES: dict[str, list[str]] = {
    "absent-with-access.yaml": [
        "absent-with-access.yaml:7:57: /accounts/0/users/1/seat: 'leaver@northwind.agency' is"
        " absent (to be removed), so 'seat' means nothing here",
    ],
    "hubspot-without-token-env.yaml": [
        "hubspot-without-token-env.yaml:9:9: /accounts/1/id: account 4410022: the hubspot provider"
        " needs 'token_env', the name of the environment variable that holds this account's token",
    ],
    # One typo in a profile is one problem, not one more for every user of every profile.
    "profile-typo": [
        "profile-typo/profiles.yaml:2:80: /profiles/delivery-lead/permissions/remove/0: unknown"
        " permission 'marketing.social.publsh' (did you mean 'marketing.social.publish'?)",
    ],
    "partner-admin-not-employee.yaml": [
        "partner-admin-not-employee.yaml:7:50: /accounts/0/users/1/access: "
        "'consultant@acme.example' is not a partner employee, so cannot be Partner Admin",
        "partner-admin-not-employee.yaml:7:71: /accounts/0/users/1/seat: "
        "'consultant@acme.example' is not a partner employee, so cannot have the partner seat",
    ],
    "partner-seat-not-employee.yaml": [
        "partner-seat-not-employee.yaml:7:82: /accounts/0/users/1/seat: "
        "'marketing@acme.example' is not a partner employee, so cannot have the partner seat",
    ],
    "partner-admin-wrong-seat.yaml": [
        "partner-admin-wrong-seat.yaml:7:68: /accounts/0/users/1/seat: "
        "Partner Admin requires seat 'partner', not 'core'",
    ],
    "partner-admin-forbidden-permission.yaml": [
        "partner-admin-forbidden-permission.yaml:11:31: /accounts/0/users/1/permissions/add/1: "
        "Partner Admin cannot hold 'billing.write'",
    ],
    "added-and-removed.yaml": [
        "added-and-removed.yaml:11:32: /accounts/0/users/0/permissions/remove/1: "
        "'crm.export' is both added and removed",
    ],
    "duplicate-user.yaml": [
        "duplicate-user.yaml:7:17: /accounts/0/users/1/email: user 'CEO@Acme.example' is "
        "declared twice in this account; also declared at duplicate-user.yaml:6:17",
    ],
    "unknown-profile.yaml": [
        "unknown-profile.yaml:9:48: /accounts/0/users/1/profile: unknown profile "
        "'delivery-led' (did you mean 'delivery-lead'?)",
    ],
    "missing-access.yaml": [
        "missing-access.yaml:7:9: /accounts/0/users/1: user 'intern@acme.example' needs an "
        "access level: set 'access' or a profile that sets it",
    ],
    "missing-seat-after-profile.yaml": [
        "missing-seat-after-profile.yaml:9:9: /accounts/0/users/1: user 'board@acme.example' "
        "needs a seat: set 'seat' or a profile that sets it",
    ],
    "profile-grants-partner-admin-to-client.yaml": [
        "profile-grants-partner-admin-to-client.yaml:9:50: /accounts/0/users/1/profile: "
        "'marketing@acme.example' is not a partner employee, so cannot be Partner Admin "
        "(from profile 'delivery-lead')",
        "profile-grants-partner-admin-to-client.yaml:9:50: /accounts/0/users/1/profile: "
        "'marketing@acme.example' is not a partner employee, so cannot have the partner seat "
        "(from profile 'delivery-lead')",
    ],
    "profile-partner-admin-wrong-seat.yaml": [
        "profile-partner-admin-wrong-seat.yaml:5:11: /profiles/delivery-lead/seat: "
        "Partner Admin requires seat 'partner', not 'sales'",
    ],
    "literal-token.yaml": [
        f"literal-token.yaml:4:16: /accounts/0/token_env: this looks like a literal token; "
        f"{TOKEN_ADVICE}",
    ],
    "hex-secret-in-token-env.yaml": [
        f"hex-secret-in-token-env.yaml:4:16: /accounts/0/token_env: this looks like a literal "
        f"token; {TOKEN_ADVICE}",
    ],
    "token-key.yaml": [
        f"token-key.yaml:4:5: /accounts/0/token: a literal secret does not belong in the "
        f"config; {TOKEN_ADVICE}",
    ],
    "token-in-name.yaml": [
        f"token-in-name.yaml:6:47: /accounts/0/users/0/first_name: this looks like a literal "
        f"token; {TOKEN_ADVICE}",
    ],
    "actor-absent.yaml": [
        "actor-absent.yaml:7:53: /accounts/0/users/1/state: the actor cannot be declared "
        "absent: the tool never removes its own actor",
    ],
    "no-partner.yaml": [
        "no-partner.yaml:1:1: /: no 'partner' block: declare the partner (name, actor) in one file",
    ],
    "no-accounts.yaml": [
        "no-accounts.yaml:1:1: /: no accounts: declare at least one under 'accounts'",
    ],
    "percentage-over-100.yaml": [
        "percentage-over-100.yaml:7:19: /accounts/0/max_removals: '150%' is more than 100%",
    ],
    "duplicate-account": [
        "duplicate-account/b-more.yaml:4:9: /accounts/1/id: account 4410021 is declared twice; "
        "also declared at duplicate-account/a-partner.yaml:3:9",
    ],
    "duplicate-partner": [
        "duplicate-partner/b.yaml:2:1: /partner: 'partner' is declared twice; "
        "also declared at duplicate-partner/a.yaml:1:1",
    ],
    "duplicate-profile": [
        "duplicate-profile/b.yaml:2:3: /profiles/viewer: profile 'viewer' is declared twice; "
        "also declared at duplicate-profile/a.yaml:3:3",
    ],
}

SECRETS = {
    "literal-token.yaml": "pat-na1-5f3c2a9e-1b7d-4c8e-9f0a-6d2b3e4f5a6b",
    "hex-secret-in-token-env.yaml": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    "token-key.yaml": "CiQ5ZjE2ZDk4Ny0xMjM0",
    "token-in-name.yaml": "pat-eu1-0a1b2c3d-4e5f-6789-abcd-ef0123456789",
}


@pytest.mark.parametrize("fixture", sorted(RULE_FIXTURES))
def test_rule_fixture_reports_exact_places(fixture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    assert [str(d) for d in check_config(fixture).diagnostics] == RULE_FIXTURES[fixture]


def test_every_fixture_has_its_expected_lines() -> None:
    tables = [LOADER_FIXTURES, SCHEMA_FIXTURES, RULE_FIXTURES]
    listed = [name for table in tables for name in table]
    assert sorted(listed) == sorted(p.name for p in FIXTURES.iterdir())
    assert len(listed) == len(set(listed)) >= 35


@pytest.mark.parametrize("fixture", sorted(SECRETS))
def test_secrets_are_never_echoed(fixture: str, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.cli import main

    secret = SECRETS[fixture]
    assert secret in (FIXTURES / fixture).read_text()
    with pytest.raises(SystemExit) as exited:
        main(["validate", str(FIXTURES / fixture)])
    assert exited.value.code == 1
    with pytest.raises(SystemExit):
        main(["validate", "--format", "json", str(FIXTURES / fixture)])
    out, err = capsys.readouterr()
    assert "put tokens in the environment" in err
    for fragment in (secret, secret[:8], secret[-8:]):
        assert fragment not in out + err


def test_a_token_pasted_where_an_enum_goes_is_not_echoed(tmp_path: Path) -> None:
    token = "pat-na1-0f0e0d0c-0b0a-0908-0706-050403020100"
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\n"
        "accounts:\n"
        f"  - id: 1\n    users: [{{email: x@y.example, access: basic, seat: {token}}}]\n"
    )
    messages = [str(d) for d in check_config(tmp_path / "c.yaml").diagnostics]
    assert len(messages) == 1 and "/accounts/0/users/0/seat" in messages[0]
    assert not any(token[:12] in m for m in messages)


def test_a_secret_hiding_a_schema_error_still_stops_the_rules(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\n"
        "profiles: {token: null}\n"
        "defaults: pat-na1-0f0e0d0c-0b0a-0908\n"
        "accounts: [{id: 1}]\n"
    )
    lines = [str(d).split(": ", 1)[1] for d in check_config(tmp_path / "c.yaml").diagnostics]
    assert lines == [
        f"/profiles/token: a literal secret does not belong in the config; {TOKEN_ADVICE}",
        f"/defaults: this looks like a literal token; {TOKEN_ADVICE}",
    ]


def test_load_config_raises_with_every_problem_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    with pytest.raises(ConfigError) as caught:
        load_config("partner-admin-not-employee.yaml")
    diagnostics = caught.value.diagnostics
    assert len(diagnostics) == 2
    assert diagnostics == sorted(diagnostics)


def test_a_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("partner: {name: N, actor: a@northwind.agency}\n")
    (tmp_path / "b.yaml").write_text(
        "accounts:\n  - {id: 1, users: [{email: x@y.example, seat: core}]}\n"
    )
    (tmp_path / "c.yaml").write_text("accounts: [\n")
    (tmp_path / "d.yaml").write_text("accounts:\n  - {id: 2, colour: blue}\n")
    lines = [str(d).replace(str(tmp_path) + "/", "") for d in check_config(tmp_path).diagnostics]
    # After "not valid YAML:" the words are the YAML library's, and change with it.
    assert lines[1].startswith("c.yaml:2:1: /: not valid YAML: ")
    assert lines[:1] + lines[2:] == [
        "b.yaml:2:21: /accounts/0/users/0: user 'x@y.example' needs an access level: "
        "set 'access' or a profile that sets it",
        "d.yaml:2:13: /accounts/0/colour: unknown key 'colour'",
    ]
    assert len(lines) == 3


# --- the desired state ---------------------------------------------------------------


def test_example_uses_every_access_level_and_seat() -> None:
    config = load_config(EXAMPLE)
    users = [u for a in config.accounts for u in a.users.values()]
    assert len(config.accounts) >= 7
    assert {u.access.kind for u in users if u.access} == {
        "super_admin",
        "partner_admin",
        "basic",
        "role",
    }
    assert {u.seat for u in users if u.seat} == {
        "partner",
        "core",
        "sales",
        "service",
        "view_only",
        "none",
    }
    assert any(u.state == "absent" for u in users)
    assert any(u.teams and u.teams.secondary for u in users)
    assert any(u.permissions and u.permissions.add and u.permissions.remove for u in users)
    policies = {a.unmanaged_users for a in config.accounts}
    assert {"ignore", "report", "remove"} <= policies
    assert any(a.max_removals.count is not None for a in config.accounts)
    assert any(a.token_env for a in config.accounts)


def test_partner_emails_and_domains_are_lower_cased(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner:\n  name: N\n  employee_domains: [NorthWind.Agency]\n"
        "  employees: [Mara@Freelance.Example]\n  actor: Bot@NorthWind.Agency\n"
        "accounts:\n  - id: 7\n    users:\n"
        "      - {email: Mara@freelance.example, access: partner_admin, seat: partner}\n"
    )
    config = load_config(tmp_path / "c.yaml")
    assert config.partner.employee_domains == frozenset({"northwind.agency"})
    assert config.partner.employees == frozenset({"mara@freelance.example"})
    assert config.partner.actor == "bot@northwind.agency"
    account = config.accounts[0]
    assert account.actor == "bot@northwind.agency"
    assert list(account.users) == ["mara@freelance.example"]
    assert account.users["mara@freelance.example"].email == "Mara@freelance.example"


def test_account_takes_defaults_and_its_own_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    config = load_config("examples/northwind")
    acme = config.account(4410021)
    cedar = config.account(4410023)
    granite = config.account(4410027)
    assert acme is not None and cedar is not None and granite is not None
    assert (acme.unmanaged_users, acme.min_super_admins, acme.max_removals) == (
        "ignore",
        1,
        RemovalLimit(percent=25.0),
    )
    assert acme.token_env == "HUBSPOT_TOKEN_4410021"
    assert (cedar.min_super_admins, cedar.max_removals) == (2, RemovalLimit(count=2))
    assert acme.actor == "automation@northwind.agency"
    assert granite.actor == "mara.quinn@freelance.example"
    assert acme.source == Location(
        "examples/northwind/accounts/acme-corp.yaml", 5, 5, "/accounts/0"
    )


def test_built_in_defaults_apply_without_a_defaults_block(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\naccounts:\n  - id: 9\n"
    )
    account = load_config(tmp_path / "c.yaml").accounts[0]
    assert (account.unmanaged_users, account.min_super_admins) == ("ignore", 1)
    assert account.max_removals == RemovalLimit(percent=25.0)
    assert account.users == {}


def test_profiles_merge_field_by_field() -> None:
    evergreen = load_config(EXAMPLE).account(4410025)
    assert evergreen is not None
    ana = evergreen.users["ana.silva@northwind.agency"]
    # Access and seat from the profile; her own permissions replace the profile's.
    assert ana.access == Access("partner_admin") and ana.seat == "partner"
    assert ana.permissions == Permissions(add=frozenset({"reports.edit"}))
    assert ana.teams is None and ana.first_name is None


def test_user_fields_not_given_stay_unmanaged_and_source_is_the_user_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    config = load_config("examples/northwind")
    acme = config.account(4410021)
    assert acme is not None
    sam = acme.users["sam.okafor@northwind.agency"]
    assert sam.access == Access("role", "Marketing Manager")
    assert sam.teams == Teams("Marketing", ("Sales",))
    assert sam.permissions is None
    assert sam.source == Location(
        "examples/northwind/accounts/acme-corp.yaml", 22, 9, "/accounts/0/users/2"
    )
    leaver = acme.users["leaver@northwind.agency"]
    assert (leaver.state, leaver.access, leaver.seat) == ("absent", None, None)


def test_provider_block_and_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    config = load_config("examples/northwind")
    assert config.provider.type == "sandbox"
    assert dict(config.provider.options) == {
        "path": ".reconciler/sandbox.db",
        "snapshot": "snapshot.yaml",
    }
    assert config.provider.base_dir == "examples/northwind"
    assert "examples/northwind/partner.yaml" in config.files
    assert len(config.files) == 10


def test_without_a_provider_block_paths_resolve_against_the_path_given(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\naccounts: [{id: 1}]\n"
    )
    assert load_config(tmp_path / "c.yaml").provider.base_dir == str(tmp_path)
    assert load_config(tmp_path).provider.base_dir == str(tmp_path)


def test_the_snapshot_the_provider_names_is_not_read_as_config(tmp_path: Path) -> None:
    (tmp_path / "partner.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\n"
        "provider: {type: sandbox, path: s.db, snapshot: state/snapshot.yaml}\n"
        "accounts: [{id: 1}]\n"
    )
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "snapshot.yaml").write_text(
        "accounts:\n  - {id: 1, seats_owned: {core: 1}}\n"
    )
    config = load_config(tmp_path)
    assert [Path(f).name for f in config.files] == ["partner.yaml"]
    (tmp_path / "state" / "other.yaml").write_text("accounts:\n  - {id: 2, seats_owned: {}}\n")
    lines = [str(d) for d in check_config(tmp_path).diagnostics]
    assert len(lines) == 1 and lines[0].endswith(
        "/accounts/0/seats_owned: unknown key 'seats_owned'"
    )


def test_a_nul_in_a_provider_path_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, actor: a@northwind.agency}\n"
        'provider: {type: sandbox, path: "s\\0.db", snapshot: "s\\0.yaml"}\n'
        "accounts: [{id: 1}]\n"
    )
    message = "a file path cannot contain a NUL character"
    assert [str(d) for d in check_config(tmp_path).diagnostics] == [
        f"{tmp_path}/c.yaml:2:33: /provider/path: {message}",
        f"{tmp_path}/c.yaml:2:53: /provider/snapshot: {message}",
    ]


# --- no traceback, whatever the input ---------------------------------------------------

_WORDS = st.sampled_from(
    [
        "super_admin",
        "partner_admin",
        "basic",
        "partner",
        "core",
        "view_only",
        "absent",
        "present",
        "delivery-lead",
        "ana@northwind.agency",
        "ANA@northwind.agency",
        "x@client.example",
        "billing.write",
        "crm.export",
        "25%",
        "150%",
        "HUBSPOT_T",
        "pat-na1-00000000-aaaa",
        "",
        "~",
        "yes",
        "0x1F",
        "4410021",
    ]
)
_VALUES = st.recursive(
    st.one_of(_WORDS, st.integers(-3, 5), st.none(), st.booleans()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "email",
                    "access",
                    "seat",
                    "role",
                    "profile",
                    "state",
                    "permissions",
                    "add",
                    "remove",
                    "teams",
                    "primary",
                    "secondary",
                    "id",
                    "users",
                    "token",
                    "max_removals",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
_USERS = st.lists(
    st.fixed_dictionaries(
        {
            "email": st.sampled_from(
                ["ana@northwind.agency", "Ana@Northwind.agency", "x@client.example"]
            )
        },
        optional={
            "access": st.one_of(_WORDS, st.fixed_dictionaries({"role": _WORDS})),
            "seat": _WORDS,
            "profile": _WORDS,
            "state": _WORDS,
            "permissions": st.fixed_dictionaries(
                {},
                optional={
                    "add": st.lists(_WORDS, max_size=2),
                    "remove": st.lists(_WORDS, max_size=2),
                },
            ),
            "teams": _VALUES,
        },
    ),
    max_size=4,
)
_CHAOS = st.fixed_dictionaries(
    {
        "partner": st.fixed_dictionaries(
            {
                "name": st.just("N"),
                "actor": st.sampled_from(["ana@northwind.agency", "x@client.example"]),
            },
            optional={"employee_domains": st.just(["northwind.agency"])},
        ),
    },
    optional={
        "profiles": st.dictionaries(
            _WORDS, st.one_of(_VALUES, _USERS.map(lambda u: u[0] if u else {}))
        ),
        "defaults": _VALUES,
        "accounts": st.lists(
            st.fixed_dictionaries(
                {"id": st.sampled_from([1, 2, 2.0, "3", -1])},
                optional={"users": _USERS, "max_removals": _VALUES, "token_env": _WORDS},
            ),
            max_size=3,
        ),
        "extra": _VALUES,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=_CHAOS)
def test_any_config_gives_a_config_or_diagnostics(config: dict[str, object]) -> None:
    text = yaml.safe_dump(config, sort_keys=False)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.yaml"
        path.write_text(text)
        result = check_config(path)
    assert result.valid != bool(result.diagnostics)
    for diagnostic in result.diagnostics:
        assert diagnostic.line >= 1 and diagnostic.col >= 1
        assert "pat-na1-00000000" not in diagnostic.message


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_bytes_give_a_document_or_diagnostics(raw: bytes) -> None:
    document, problems = parse_yaml(raw, "f.yaml")
    assert (document is None) == bool(problems)


_EMAILS = st.sampled_from(
    ["ana@northwind.agency", "Ana@Northwind.Agency", "mara@freelance.example", "ceo@acme.example"]
)
_ACCESS = st.one_of(
    st.sampled_from(["super_admin", "partner_admin", "basic"]),
    st.fixed_dictionaries({"role": st.sampled_from(["Sales Rep", "Ops"])}),
)
_SEAT = st.sampled_from(["partner", "core", "sales", "service", "view_only", "none"])
_PERMISSION_LIST = st.lists(
    st.sampled_from(["billing.write", "crm.export", "reports.view", "scim.provisioning"]),
    unique=True,
    max_size=2,
)
_GRANTS = {
    "access": _ACCESS,
    "seat": _SEAT,
    "permissions": st.fixed_dictionaries(
        {}, optional={"add": _PERMISSION_LIST, "remove": _PERMISSION_LIST}
    ),
    "teams": st.fixed_dictionaries(
        {},
        optional={
            "primary": st.sampled_from(["A", "B"]),
            "secondary": st.lists(st.sampled_from("ABC"), unique=True),
        },
    ),
}
_WELL_SHAPED = st.fixed_dictionaries(
    {
        "partner": st.fixed_dictionaries(
            {
                "name": st.just("Northwind"),
                "actor": _EMAILS,
                "employee_domains": st.just(["northwind.agency"]),
                "employees": st.just(["mara@freelance.example"]),
            }
        ),
        "accounts": st.lists(
            st.fixed_dictionaries(
                {"id": st.sampled_from([1, 2, 3])},
                optional={
                    "users": st.lists(
                        st.fixed_dictionaries(
                            {"email": _EMAILS},
                            optional={
                                **_GRANTS,
                                "profile": st.sampled_from(["lead", "viewer"]),
                                "state": st.sampled_from(["present", "absent"]),
                            },
                        ),
                        max_size=4,
                    ),
                    "max_removals": st.one_of(st.integers(0, 5), st.sampled_from(["10%", "100%"])),
                    "actor": _EMAILS,
                },
            ),
            min_size=1,
            max_size=3,
        ),
    },
    optional={
        "profiles": st.dictionaries(
            st.sampled_from(["lead", "viewer"]), st.fixed_dictionaries({}, optional=_GRANTS)
        ),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=_WELL_SHAPED)
def test_a_config_that_passes_keeps_every_rule(config: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        result = check_config(path)
    if result.config is None:
        assert result.diagnostics
        return
    forbidden = load_catalogue().partner_admin_forbidden
    partner = result.config.partner
    ids = [account.id for account in result.config.accounts]
    assert len(ids) == len(set(ids))
    for account in result.config.accounts:
        for key, user in account.users.items():
            assert key == user.email.lower()
            if user.state == "absent":
                assert key != account.actor
                continue
            assert user.access is not None and user.seat is not None
            if user.access.kind == "partner_admin":
                assert partner.is_employee(user.email) and user.seat == "partner"
                assert not (user.permissions and user.permissions.add & forbidden)
            if user.seat == "partner":
                assert partner.is_employee(user.email)
            if user.permissions:
                assert not user.permissions.add & user.permissions.remove


# --- look-alike addresses: warnings, not errors ------------------------------------------

LOOKALIKE_PARTNER = (
    "partner: {name: N, employee_domains: [northwind.agency],"
    " employees: [mara@freelance.example], actor: bot@northwind.agency}\n"
)


def lookalike_warnings(tmp_path: Path, *emails: str) -> list[str]:
    users = "".join(
        f'      - {{email: "{email}", access: basic, seat: core}}\n' for email in emails
    )
    (tmp_path / "c.yaml").write_text(
        LOOKALIKE_PARTNER + f"accounts:\n  - id: 1\n    users:\n{users}"
    )
    result = check_config(tmp_path / "c.yaml")
    assert result.valid, result.diagnostics  # a warning never makes a config invalid
    assert load_config(tmp_path / "c.yaml").accounts[0].users  # nor stops it loading
    return [str(w).replace(f"{tmp_path}/", "") for w in result.warnings]


def test_two_users_of_an_account_that_only_look_alike_are_warned_about(tmp_path: Path) -> None:
    # U+0430 is the Cyrillic "а"; the first user is Latin.
    assert lookalike_warnings(tmp_path, "ana@acme.example", "\\u0430na@acme.example") == [
        "c.yaml:6:17: /accounts/0/users/1/email: looks like the address at c.yaml:5:17 but is"
        " another one: it has U+0430 CYRILLIC SMALL LETTER A where that has"
        " U+0061 LATIN SMALL LETTER A",
    ]


def test_a_lookalike_of_a_partner_employee_is_warned_about(tmp_path: Path) -> None:
    assert lookalike_warnings(tmp_path, "m\\u0430ra@freelance.example") == [
        "c.yaml:5:17: /accounts/0/users/0/email: looks like partner employee"
        " 'mara@freelance.example' but is another address: it has U+0430 CYRILLIC SMALL"
        " LETTER A where that has U+0061 LATIN SMALL LETTER A",
    ]


def test_an_address_at_a_lookalike_of_a_partner_domain_is_warned_about(tmp_path: Path) -> None:
    assert lookalike_warnings(tmp_path, "ana@n\\u043erthwind.agency") == [
        "c.yaml:5:17: /accounts/0/users/0/email: its domain looks like partner domain"
        " 'northwind.agency' but is another one: it has U+043E CYRILLIC SMALL LETTER O"
        " where that has U+006F LATIN SMALL LETTER O",
    ]


def test_ascii_lookalikes_count_too(tmp_path: Path) -> None:
    """UTS #39 confuses "rn" with "m", whatever the script."""
    assert lookalike_warnings(tmp_path, "arnie@acme.example", "amie@acme.example") == [
        "c.yaml:6:17: /accounts/0/users/1/email: looks like the address at c.yaml:5:17 but is"
        " another one: it has U+006D LATIN SMALL LETTER M where that has"
        " U+0072 LATIN SMALL LETTER R, U+006E LATIN SMALL LETTER N",
    ]


def test_distinct_and_exact_addresses_are_not_warned_about(tmp_path: Path) -> None:
    assert (
        lookalike_warnings(
            tmp_path,
            "ana@acme.example",
            "anna@acme.example",
            "mara@freelance.example",
            "Bot@NorthWind.agency",
            "x@northwind.agency",
            "zoë@acme.example",
        )
        == []
    )


def test_load_config_skips_the_lookalike_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.config as config_package

    def fail(found: object) -> list[object]:
        raise AssertionError("load_config has no one to show warnings to")

    monkeypatch.setattr(config_package, "check_lookalikes", fail)
    (tmp_path / "c.yaml").write_text(LOOKALIKE_PARTNER + "accounts: [{id: 1}]\n")
    assert load_config(tmp_path / "c.yaml").accounts[0].id == 1
