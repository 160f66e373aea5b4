"""The sandbox store: HubSpot's rules on every write, the journal, seed/export, schema versions."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler import plan as p
from reconciler.catalog import schemas_dir
from reconciler.errors import SandboxError
from reconciler.model import PARTNER_ADMIN, Access, Partner, Permissions, Teams, User
from reconciler.sandbox.migrations import SCHEMA_VERSION
from reconciler.sandbox.rules import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    INVARIANT,
    LIMIT,
    NO_ACCESS,
    NOT_FOUND,
    STALE,
    RefusedError,
)
from reconciler.sandbox.store import Store
from reconciler.steps import StepType

ACME = 4410021
BETA = 5500001
GAMMA = 6600001
ACTOR = "automation@northwind.agency"  # Partner Admin in Acme, absent from Beta
ADMIN = "admin@northwind.agency"  # Super Admin in Acme

PARTNER = Partner(
    name="Northwind Digital",
    actor=ACTOR,
    employee_domains=frozenset({"northwind.agency"}),
    employees=frozenset({"contractor@freelance.example"}),
)

SNAPSHOT: dict[str, Any] = {
    "accounts": [
        {
            "id": ACME,
            "name": "Acme Corp",
            "seats_owned": {"core": 3, "sales": 1, "service": 0},
            "roles": [
                {
                    "name": "Marketing Manager",
                    "seat": "core",
                    "permissions": ["crm.contacts.view", "marketing.access"],
                },
                {"name": "User Admin", "permissions": ["users.write"]},
            ],
            "teams": ["Marketing", "Sales"],
            "tokens": [
                {"value": "pat-na1-test-4410021", "scopes": ["settings.users.read"]},
            ],
            "users": [
                {"email": "ceo@acme.example", "access": "super_admin", "seat": "core"},
                {"email": ADMIN, "access": "super_admin", "seat": "partner"},
                {"email": ACTOR, "access": "partner_admin", "seat": "partner"},
                {
                    "email": "Ana@Northwind.Agency",
                    "first_name": "Ana",
                    "last_name": "Lima",
                    "access": "partner_admin",
                    "seat": "partner",
                    "permissions": {"remove": ["marketing.social.publish"]},
                },
                {"email": "sam@northwind.agency", "access": "basic", "seat": "core"},
                {
                    "email": "staff@acme.example",
                    "access": {"role": "Marketing Manager"},
                    "seat": "core",
                    "teams": {"primary": "Marketing", "secondary": ["Sales"]},
                },
                {"email": "viewer@acme.example", "access": "basic", "seat": "view_only"},
            ],
        },
        {
            "id": BETA,
            "name": "Beta LLC",
            "seats_owned": {"core": 1},
            "users": [{"email": "ceo@beta.example", "access": "super_admin", "seat": "core"}],
        },
        {
            "id": GAMMA,
            "name": "Gamma GmbH",
            "seats_owned": {"core": 2},
            "roles": [{"name": "User Admin", "permissions": ["users.write"]}],
            "users": [
                {"email": "ceo@gamma.example", "access": "super_admin", "seat": "core"},
                {"email": ACTOR, "access": {"role": "User Admin"}, "seat": "partner"},
                {"email": "ana@northwind.agency", "access": "basic", "seat": "view_only"},
            ],
        },
    ]
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "nested" / "sandbox.db") as store:
        store.seed(copy.deepcopy(SNAPSHOT), PARTNER)
        yield store


def step(
    type_: str,
    user: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    account: int = ACME,
) -> p.Step:
    return p.Step(
        id=p.step_id(account, type_, user, after),
        account=account,
        type=type_,
        user=user,
        before=before,
        after=after,
        reason="test",
    )


def user_data(store: Store, email: str, account: int = ACME) -> dict[str, Any]:
    row = store.get_user_by_email(account, email)
    assert row is not None
    return row.user.to_data()


# -- schema and seed -------------------------------------------------------------------


def test_new_database_is_at_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "sandbox.db"
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.account_ids() == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_reopening_keeps_data_and_version(store: Store) -> None:
    path = store.path
    store.close()
    with Store(path) as again:
        assert again.schema_version == SCHEMA_VERSION
        assert again.account_ids() == [ACME, BETA, GAMMA]


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SandboxError) as caught:
        Store(path)
    assert str(caught.value) == (
        f"sandbox database {path} has schema version {SCHEMA_VERSION + 1}; "
        f"this reconciler reads up to {SCHEMA_VERSION} (upgrade reconciler)"
    )


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    path.write_text("not sqlite at all, but long enough to look like a header....." * 4)
    with pytest.raises(SandboxError, match="file is not a database"):
        Store(path)


def test_export_round_trips_through_seed(store: Store) -> None:
    exported = store.export()
    assert [a["id"] for a in exported["accounts"]] == [ACME, BETA, GAMMA]
    acme = exported["accounts"][0]
    assert list(acme) == [
        "id",
        "name",
        "seats_owned",
        "roles",
        "teams",
        "tokens",
        "users",
    ]
    assert acme["seats_owned"] == {"core": 3, "sales": 1, "service": 0}
    assert [u["email"] for u in acme["users"]] == [
        "admin@northwind.agency",
        "Ana@Northwind.Agency",
        "automation@northwind.agency",
        "ceo@acme.example",
        "sam@northwind.agency",
        "staff@acme.example",
        "viewer@acme.example",
    ]
    store.seed(exported, PARTNER)
    assert store.export() == exported


def test_seed_replaces_only_the_accounts_it_names(store: Store) -> None:
    ceo = {"email": "ceo@beta.example", "access": "super_admin", "seat": "none"}
    beta = {"id": BETA, "name": "Beta 2", "users": [ceo]}
    store.seed({"accounts": [beta]}, PARTNER)
    assert store.account_ids() == [ACME, BETA, GAMMA]
    assert store.read_account(BETA, ACTOR).name == "Beta 2"
    assert store.read_account(BETA, ACTOR).seats_owned == {"core": 0, "sales": 0, "service": 0}
    assert len(store.read_account(ACME, ACTOR).users) == 7


def test_seed_refuses_an_inconsistent_snapshot_and_keeps_what_was_there(store: Store) -> None:
    before = store.export()
    bad = copy.deepcopy(SNAPSHOT)
    bad["accounts"][1]["users"][0]["access"] = "basic"
    with pytest.raises(SandboxError) as caught:
        store.seed(bad, PARTNER)
    assert str(caught.value) == (
        "snapshot is invalid: /accounts/1/users: account 5500001 has no Super Admin; "
        "it needs at least one"
    )
    assert store.export() == before


def test_seed_refuses_malformed_data(store: Store) -> None:
    with pytest.raises(SandboxError) as caught:
        store.seed({"accounts": [{"id": "x"}]}, PARTNER)
    assert (
        str(caught.value)
        == "snapshot is invalid: /accounts/0/id: expected an integer, found the string 'x'"
    )


def test_seed_refuses_a_token_of_another_account(store: Store) -> None:
    other = {
        "id": 7700001,
        "users": [{"email": "a@b.example", "access": "super_admin", "seat": "none"}],
        "tokens": [{"value": "pat-na1-test-4410021"}],
    }
    with pytest.raises(SandboxError) as caught:
        store.seed({"accounts": [other]}, PARTNER)
    assert str(caught.value) == "account 7700001: a token value is already used by account 4410021"
    assert store.account_ids() == [ACME, BETA, GAMMA]


# -- reads -----------------------------------------------------------------------------


def test_read_account_keys_users_by_lower_cased_email(store: Store) -> None:
    state = store.read_account(ACME, ACTOR)
    assert state.name == "Acme Corp"
    assert state.partner_access == "granted"
    ana = state.users["ana@northwind.agency"]
    assert ana.email == "Ana@Northwind.Agency"
    assert ana.access == PARTNER_ADMIN
    assert ana.permissions == Permissions(remove=frozenset({"marketing.social.publish"}))
    staff = state.users["staff@acme.example"]
    assert staff.access == Access("role", "Marketing Manager")
    assert staff.teams == Teams("Marketing", ("Sales",))
    assert state.roles["Marketing Manager"].seat == "core"
    assert state.teams == frozenset({"Marketing", "Sales"})
    assert state.seats_owned == {"core": 3, "sales": 1, "service": 0}


def test_partner_access_is_none_then_pending_then_granted(store: Store) -> None:
    assert store.read_account(BETA, ACTOR).partner_access == "none"
    request = step(
        StepType.REQUEST_ACCESS,
        ACTOR,
        {"partner_access": "none"},
        {"partner_access": "pending"},
        BETA,
    )
    store.execute(request, ACTOR)
    assert store.read_account(BETA, ACTOR).partner_access == "pending"
    assert store.export()["accounts"][1]["access_requests"] == [ACTOR]
    user_id = store.approve(BETA, ACTOR)
    state = store.read_account(BETA, ACTOR)
    assert state.partner_access == "granted"
    assert state.users[ACTOR] == User(ACTOR, PARTNER_ADMIN, "partner")
    row = store.get_user(BETA, user_id)
    assert row is not None and row.user.email == ACTOR
    assert "access_requests" not in store.export()["accounts"][1]
    assert [(r["step_type"], r["outcome"], r["channel"]) for r in store.journal(BETA)][-2:] == [
        (StepType.REQUEST_ACCESS, "ok", "api"),
        ("approve_access", "ok", "approval"),
    ]


def test_approve_without_a_pending_request_is_an_error(store: Store) -> None:
    with pytest.raises(RefusedError) as caught:
        store.approve(BETA, ACTOR)
    assert str(caught.value) == (
        "account 5500001: cannot approve access for automation@northwind.agency: "
        "no pending access request"
    )
    assert caught.value.rule == NOT_FOUND
    assert store.read_account(BETA, ACTOR).partner_access == "none"


def test_unknown_account_is_not_found(store: Store) -> None:
    assert not store.has_account(1)
    with pytest.raises(RefusedError, match=r"^account 1: not in the sandbox$"):
        store.read_account(1, ACTOR)


def test_user_level_reads_serve_ids_roles_teams_and_tokens(store: Store) -> None:
    users = store.list_users(ACME)
    assert len(users) == 7
    assert len({row.id for row in users}) == 7
    row = store.get_user_by_email(ACME, "ANA@northwind.agency")
    assert row is not None and row.user.first_name == "Ana"
    assert store.get_user(ACME, row.id) == row
    assert store.get_user(BETA, row.id) is None
    assert [r.role.name for r in store.roles(ACME)] == ["Marketing Manager", "User Admin"]
    assert [t.name for t in store.teams(ACME)] == ["Marketing", "Sales"]
    token = store.token("pat-na1-test-4410021")
    assert token is not None and token.account == ACME
    assert token.scopes == ("settings.users.read",)
    assert store.tokens() == [token]
    assert store.token("nope") is None


def test_tokens_named_finds_the_tokens_among_any_number_of_values(store: Store) -> None:
    token = store.token("pat-na1-test-4410021")
    assert token is not None
    values = {f"value {n}" for n in range(1200)} | {token.value, "", "nope"}
    assert store.tokens_named(values) == {token.value: token}
    assert store.tokens_named(["nope"]) == {}
    assert store.tokens_named([]) == {}


def with_token(value: str, scopes: list[str]) -> dict[str, Any]:
    snapshot = copy.deepcopy(SNAPSHOT)
    snapshot["accounts"][0]["tokens"] = [{"value": value, "scopes": scopes}]
    return snapshot


def test_tokens_are_read_again_once_the_sandbox_changes(store: Store, tmp_path: Path) -> None:
    """The tokens are kept between requests; a seed here or by another connection (another
    thread, another process) is seen at the next look-up all the same."""
    old = "pat-na1-test-4410021"
    assert set(store.tokens_named([old, "pat-na1-new"])) == {old}
    store.seed(with_token("pat-na1-new", ["settings.users.read"]), PARTNER)
    assert set(store.tokens_named([old, "pat-na1-new"])) == {"pat-na1-new"}
    with Store(tmp_path / "nested" / "sandbox.db") as other:
        other.seed(with_token("pat-na1-other", ["settings.users.write"]), PARTNER)
    found = store.tokens_named([old, "pat-na1-new", "pat-na1-other"])
    assert list(found) == ["pat-na1-other"]
    assert found["pat-na1-other"].scopes == ("settings.users.write",)
    assert store.token("pat-na1-new") is None


# -- steps that succeed ----------------------------------------------------------------

NEW_USER = {
    "email": "new@northwind.agency",
    "first_name": "New",
    "access": "partner_admin",
    "seat": "partner",
    "teams": {"primary": "Sales", "secondary": []},
    "permissions": {"add": [], "remove": ["crm.bulk_delete"]},
}


@pytest.mark.parametrize(
    ("actor", "change", "email", "expected"),
    [
        (
            ACTOR,
            step(StepType.CREATE_USER, "new@northwind.agency", None, NEW_USER),
            "new@northwind.agency",
            User.from_data(NEW_USER).to_data(),
        ),
        (
            ADMIN,
            step(
                StepType.PROMOTE_SUPER_ADMIN,
                "sam@northwind.agency",
                {"access": "basic"},
                {"access": "super_admin"},
            ),
            "sam@northwind.agency",
            {"email": "sam@northwind.agency", "access": "super_admin", "seat": "core"},
        ),
        (
            ACTOR,
            step(
                StepType.SET_ACCESS,
                "viewer@acme.example",
                {"access": "basic"},
                {"access": {"role": "User Admin"}},
            ),
            "viewer@acme.example",
            {"email": "viewer@acme.example", "access": {"role": "User Admin"}, "seat": "view_only"},
        ),
        (
            ADMIN,
            step(StepType.SET_SEAT, "sam@northwind.agency", {"seat": "core"}, {"seat": "partner"}),
            "sam@northwind.agency",
            {"email": "sam@northwind.agency", "access": "basic", "seat": "partner"},
        ),
        (
            ACTOR,
            step(
                StepType.SET_PERMISSIONS,
                "ana@northwind.agency",
                {"permissions": {"add": [], "remove": ["marketing.social.publish"]}},
                {"permissions": {"add": [], "remove": []}},
            ),
            "ana@northwind.agency",
            {
                "email": "Ana@Northwind.Agency",
                "first_name": "Ana",
                "last_name": "Lima",
                "access": "partner_admin",
                "seat": "partner",
            },
        ),
        (
            ACTOR,
            step(
                StepType.SET_TEAMS,
                "staff@acme.example",
                {"teams": {"primary": "Marketing", "secondary": ["Sales"]}},
                {"teams": {"primary": "Sales", "secondary": []}},
            ),
            "staff@acme.example",
            {
                "email": "staff@acme.example",
                "access": {"role": "Marketing Manager"},
                "seat": "core",
                "teams": {"primary": "Sales", "secondary": []},
            },
        ),
        (
            ACTOR,
            step(
                StepType.SET_NAME,
                "ana@northwind.agency",
                {"last_name": "Lima"},
                {"last_name": "Silva"},
            ),
            "ana@northwind.agency",
            {
                "email": "Ana@Northwind.Agency",
                "first_name": "Ana",
                "last_name": "Silva",
                "access": "partner_admin",
                "seat": "partner",
                "permissions": {"add": [], "remove": ["marketing.social.publish"]},
            },
        ),
        (
            ACTOR,
            step(
                StepType.REMOVE_USER,
                "viewer@acme.example",
                {"email": "viewer@acme.example", "access": "basic", "seat": "view_only"},
                None,
            ),
            "viewer@acme.example",
            None,
        ),
    ],
    ids=lambda value: value.type if isinstance(value, p.Step) else None,
)
def test_steps_apply_and_are_journalled(
    store: Store, actor: str, change: p.Step, email: str | None, expected: dict[str, Any] | None
) -> None:
    store.execute(change, actor)
    if email is not None:
        row = store.get_user_by_email(ACME, email)
        assert (row.user.to_data() if row else None) == expected
    last = store.journal(ACME)[-1]
    assert {k: last[k] for k in ("step_id", "step_type", "user", "actor", "outcome")} == {
        "step_id": change.id,
        "step_type": change.type,
        "user": change.user,
        "actor": actor,
        "outcome": "ok",
    }


def test_migrating_a_super_admin_needs_another_one_left(store: Store) -> None:
    store.execute(
        step(
            StepType.MIGRATE_TO_PARTNER_ADMIN,
            ADMIN,
            {"access": "super_admin"},
            {"access": "partner_admin"},
        ),
        "ceo@acme.example",
    )
    assert user_data(store, ADMIN)["access"] == "partner_admin"


# -- every rule, refused with its message and nothing changed ---------------------------

REFUSALS = [
    pytest.param(
        ACTOR,
        step(
            StepType.CREATE_USER,
            "x@beta.example",
            None,
            {"email": "x@beta.example", "access": "basic", "seat": "none"},
            BETA,
        ),
        NO_ACCESS,
        "account 5500001: cannot create x@beta.example: automation@northwind.agency has no "
        "access to the account (request access)",
        id="partner-access",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.CREATE_USER,
            "CEO@acme.example",
            None,
            {"email": "CEO@acme.example", "access": "basic", "seat": "none"},
        ),
        CONFLICT,
        "account 4410021: cannot create CEO@acme.example: a user with this email exists",
        id="email-unique",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.SET_ACCESS,
            "viewer@acme.example",
            {"access": "basic"},
            {"access": {"role": "Ghost"}},
        ),
        INVALID,
        "account 4410021: cannot change access of viewer@acme.example: permission set 'Ghost' "
        "does not exist",
        id="role-exists",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.SET_TEAMS,
            "viewer@acme.example",
            {"teams": {"primary": None, "secondary": []}},
            {"teams": {"primary": "Marketing", "secondary": ["Ghosts"]}},
        ),
        INVALID,
        "account 4410021: cannot change teams of viewer@acme.example: team 'Ghosts' does not exist",
        id="teams-exist",
    ),
    pytest.param(
        ACTOR,
        step(StepType.SET_SEAT, "viewer@acme.example", {"seat": "view_only"}, {"seat": "gold"}),
        INVALID,
        "account 4410021: cannot change seat of viewer@acme.example: unknown seat 'gold'",
        id="seat-known",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.SET_PERMISSIONS,
            "viewer@acme.example",
            {"permissions": {"add": [], "remove": []}},
            {"permissions": {"add": ["crm.everything"], "remove": []}},
        ),
        INVALID,
        "account 4410021: cannot change permissions of viewer@acme.example: unknown permission "
        "'crm.everything'",
        id="permission-known",
    ),
    pytest.param(
        ADMIN,
        step(
            StepType.GRANT_PARTNER_ADMIN,
            "sam@northwind.agency",
            {"access": "basic"},
            {"access": "partner_admin"},
        ),
        INVARIANT,
        "account 4410021: cannot grant Partner Admin to sam@northwind.agency: Partner Admin "
        "requires the partner seat",
        id="partner-admin-needs-partner-seat",
    ),
    pytest.param(
        ADMIN,
        step(StepType.SET_SEAT, "ana@northwind.agency", {"seat": "partner"}, {"seat": "view_only"}),
        INVARIANT,
        "account 4410021: cannot change seat of Ana@Northwind.Agency: cannot move a Partner "
        "Admin off the partner seat",
        id="partner-admin-keeps-partner-seat",
    ),
    pytest.param(
        ACTOR,
        step(StepType.SET_SEAT, "viewer@acme.example", {"seat": "view_only"}, {"seat": "partner"}),
        INVARIANT,
        "account 4410021: cannot change seat of viewer@acme.example: partner seat and Partner "
        "Admin are only for employees of Northwind Digital",
        id="partner-seat-for-employees",
    ),
    pytest.param(
        ADMIN,
        step(
            StepType.CREATE_USER,
            "x@acme.example",
            None,
            {"email": "x@acme.example", "access": "partner_admin", "seat": "partner"},
        ),
        INVARIANT,
        "account 4410021: cannot create x@acme.example: partner seat and Partner Admin are only "
        "for employees of Northwind Digital",
        id="partner-admin-for-employees",
    ),
    pytest.param(
        ADMIN,
        step(StepType.SET_SEAT, "viewer@acme.example", {"seat": "view_only"}, {"seat": "core"}),
        LIMIT,
        "account 4410021: cannot change seat of viewer@acme.example: no core seat left "
        "(3 owned, 3 in use)",
        id="paid-seats-owned",
    ),
    pytest.param(
        ADMIN,
        step(
            StepType.CREATE_USER,
            "x@acme.example",
            None,
            {"email": "x@acme.example", "access": "basic", "seat": "service"},
        ),
        LIMIT,
        "account 4410021: cannot create x@acme.example: no service seat left (0 owned, 0 in use)",
        id="paid-seats-none-owned",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.SET_PERMISSIONS,
            "ana@northwind.agency",
            {"permissions": {"add": [], "remove": ["marketing.social.publish"]}},
            {"permissions": {"add": ["billing.write"], "remove": []}},
        ),
        INVARIANT,
        "account 4410021: cannot change permissions of Ana@Northwind.Agency: a Partner Admin "
        "cannot hold 'billing.write'",
        id="partner-admin-forbidden-permission",
    ),
    pytest.param(
        "ana@northwind.agency",
        step(
            StepType.SET_NAME, "ceo@gamma.example", {"first_name": None}, {"first_name": "C"}, GAMMA
        ),
        FORBIDDEN,
        "account 6600001: cannot rename ceo@gamma.example: ana@northwind.agency lacks "
        "'users.write' (Add and edit users)",
        id="actor-needs-users-write",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.PROMOTE_SUPER_ADMIN,
            "sam@northwind.agency",
            {"access": "basic"},
            {"access": "super_admin"},
        ),
        FORBIDDEN,
        "account 4410021: cannot promote sam@northwind.agency: only a Super Admin can make a "
        "Super Admin (automation@northwind.agency is not)",
        id="making-super-admin-needs-super-admin",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.MIGRATE_TO_PARTNER_ADMIN,
            ADMIN,
            {"access": "super_admin"},
            {"access": "partner_admin"},
        ),
        FORBIDDEN,
        "account 4410021: cannot migrate admin@northwind.agency: only a Super Admin can demote "
        "a Super Admin (automation@northwind.agency is not)",
        id="demoting-super-admin-needs-super-admin",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.REMOVE_USER,
            "ceo@acme.example",
            {"email": "ceo@acme.example", "access": "super_admin", "seat": "core"},
            None,
        ),
        FORBIDDEN,
        "account 4410021: cannot remove ceo@acme.example: only a Super Admin can remove a Super "
        "Admin (automation@northwind.agency is not)",
        id="removing-super-admin-needs-super-admin",
    ),
    pytest.param(
        ACTOR,
        step(StepType.SET_SEAT, "staff@acme.example", {"seat": "core"}, {"seat": "view_only"}),
        FORBIDDEN,
        "account 4410021: cannot change seat of staff@acme.example: automation@northwind.agency "
        "cannot assign paid seats (needs Super Admin or 'users.write' and 'billing.write')",
        id="paid-seat-needs-billing",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.CREATE_USER,
            "x@gamma.example",
            None,
            {"email": "x@gamma.example", "access": "basic", "seat": "core"},
            GAMMA,
        ),
        FORBIDDEN,
        "account 6600001: cannot create x@gamma.example: automation@northwind.agency cannot "
        "assign paid seats (needs Super Admin or 'users.write' and 'billing.write')",
        id="paid-seat-at-creation-needs-billing",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.REMOVE_USER,
            ACTOR,
            {"email": ACTOR, "access": "partner_admin", "seat": "partner"},
            None,
        ),
        INVARIANT,
        "account 4410021: cannot remove automation@northwind.agency: the actor cannot remove itself",
        id="actor-keeps-itself",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.SET_PERMISSIONS,
            ACTOR,
            {"permissions": {"add": [], "remove": []}},
            {"permissions": {"add": [], "remove": ["users.write"]}},
        ),
        INVARIANT,
        "account 4410021: cannot change permissions of automation@northwind.agency: the actor "
        "cannot reduce its own access",
        id="actor-keeps-its-permissions",
    ),
    pytest.param(
        ADMIN,
        step(
            StepType.MIGRATE_TO_PARTNER_ADMIN,
            ADMIN,
            {"access": "super_admin"},
            {"access": "partner_admin"},
        ),
        INVARIANT,
        "account 4410021: cannot migrate admin@northwind.agency: the actor cannot reduce its own "
        "access",
        id="actor-keeps-super-admin",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.SET_ACCESS,
            ACTOR,
            {"access": "partner_admin"},
            {"access": {"role": "User Admin"}},
            GAMMA,
        ),
        STALE,
        "account 6600001: cannot change access of automation@northwind.agency: stale step: "
        "access is role 'User Admin', the plan expected Partner Admin",
        id="stale-access",
    ),
    pytest.param(
        ACTOR,
        step(StepType.SET_SEAT, ACTOR, {"seat": "partner"}, {"seat": "view_only"}, GAMMA),
        INVARIANT,
        "account 6600001: cannot change seat of automation@northwind.agency: the actor cannot "
        "reduce its own access",
        id="actor-keeps-its-seat",
    ),
    pytest.param(
        ADMIN,
        step(StepType.SET_SEAT, "staff@acme.example", {"seat": "sales"}, {"seat": "view_only"}),
        STALE,
        "account 4410021: cannot change seat of staff@acme.example: stale step: seat is 'core', "
        "the plan expected 'sales'",
        id="stale-seat",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.REMOVE_USER,
            "viewer@acme.example",
            {"email": "viewer@acme.example", "access": "basic", "seat": "none"},
            None,
        ),
        STALE,
        "account 4410021: cannot remove viewer@acme.example: stale step: seat is 'view_only', "
        "the plan expected 'none'",
        id="stale-remove",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.REMOVE_USER,
            "gone@acme.example",
            {"email": "gone@acme.example", "access": "basic", "seat": "none"},
            None,
        ),
        NOT_FOUND,
        "account 4410021: cannot remove gone@acme.example: no such user (stale step)",
        id="stale-missing-user",
    ),
    pytest.param(
        ACTOR,
        step(StepType.CREATE_USER, "new@acme.example", None, {"email": "other@acme.example"}),
        INVALID,
        f"account 4410021: cannot create new@acme.example: step "
        f"{step(StepType.CREATE_USER, 'new@acme.example', None, {'email': 'other@acme.example'}).id} "
        "is malformed: after is for other@acme.example",
        id="malformed",
    ),
    pytest.param(
        ADMIN,
        step(
            StepType.GRANT_PARTNER_ADMIN,
            "sam@northwind.agency",
            {"access": "basic"},
            {"access": "super_admin"},
        ),
        INVALID,
        f"account 4410021: cannot grant Partner Admin to sam@northwind.agency: step "
        f"{p.step_id(ACME, StepType.GRANT_PARTNER_ADMIN, 'sam@northwind.agency', {'access': 'super_admin'})}"
        " is malformed: grant_partner_admin must end with access 'partner_admin'",
        id="access-route",
    ),
    pytest.param(
        "contractor@other.example",
        step(
            StepType.REQUEST_ACCESS,
            "contractor@other.example",
            {"partner_access": "none"},
            {"partner_access": "pending"},
            BETA,
        ),
        INVARIANT,
        "account 5500001: cannot request access for contractor@other.example: not an employee "
        "of Northwind Digital",
        id="request-by-non-employee",
    ),
    pytest.param(
        ACTOR,
        step(
            StepType.REQUEST_ACCESS,
            ACTOR,
            {"partner_access": "none"},
            {"partner_access": "pending"},
        ),
        STALE,
        "account 4410021: cannot request access for automation@northwind.agency: stale step: "
        "access is granted, not none",
        id="request-when-granted",
    ),
]


@pytest.mark.parametrize(("actor", "change", "rule", "message"), REFUSALS)
def test_every_rule_is_refused_and_changes_nothing(
    store: Store, actor: str, change: p.Step, rule: str, message: str
) -> None:
    before = store.export()
    with pytest.raises(RefusedError) as caught:
        store.execute(change, actor)
    assert str(caught.value) == message
    assert caught.value.rule == rule
    assert store.export() == before
    last = store.journal()[-1]
    assert (last["step_id"], last["outcome"], last["message"]) == (change.id, "failed", message)


@pytest.mark.parametrize(
    ("type_", "before", "after", "message"),
    [
        (
            StepType.REQUEST_ACCESS,
            ["none"],
            {"partner_access": "pending"},
            "expected an object, not list",
        ),
        (
            StepType.CREATE_USER,
            {"email": "x@acme.example"},
            {"email": "x@acme.example"},
            "no before",
        ),
        (StepType.REMOVE_USER, None, None, "the whole user before"),
        (
            StepType.GRANT_PARTNER_ADMIN,
            None,
            {"access": "partner_admin"},
            "both a before and an after",
        ),
        (
            StepType.SET_SEAT,
            {"seat": "core"},
            {"seat": "core", "access": "basic"},
            "does not set access",
        ),
        (StepType.SET_SEAT, {}, {"seat": "core"}, "says what seat was before it"),
        (StepType.SET_NAME, {}, {}, "sets first_name or last_name"),
        (StepType.SET_TEAMS, {"teams": {}}, {"teams": {"secondary": "Sales"}}, "expected a list"),
        ("grant_super_powers", None, None, "'grant_super_powers' is not a valid StepType"),
    ],
)
def test_a_step_its_type_does_not_allow_cannot_be_built(
    type_: str, before: Any, after: Any, message: str
) -> None:
    # So no malformed step ever reaches the store: plan files are read into steps too.
    with pytest.raises(ValueError, match=message):
        step(type_, ACTOR, before, after)


# -- user-level writes (the HTTP server's): rules kept, actor capability optional -------


def test_writes_without_an_actor_still_keep_the_last_super_admin(store: Store) -> None:
    ceo = store.get_user_by_email(BETA, "ceo@beta.example")
    assert ceo is not None
    with pytest.raises(RefusedError) as caught:
        store.delete_user(BETA, ceo.id, None)
    assert str(caught.value) == "account 5500001: cannot remove ceo@beta.example: last Super Admin"
    demoted = User("ceo@beta.example", Access("basic"), "core")
    with pytest.raises(RefusedError) as caught:
        store.update_user(BETA, ceo.id, demoted, None)
    assert str(caught.value) == "account 5500001: cannot update ceo@beta.example: last Super Admin"
    assert store.get_user(BETA, ceo.id) == ceo
    assert [(r["step_type"], r["user"], r["actor"], r["outcome"]) for r in store.journal(BETA)][
        -2:
    ] == [
        (StepType.REMOVE_USER, "ceo@beta.example", None, "failed"),
        ("update_user", "ceo@beta.example", None, "failed"),
    ]


def test_create_update_delete_by_id(store: Store) -> None:
    user = User("New@Beta.example", Access("super_admin"), "none", first_name="N")
    user_id = store.create_user(BETA, user, None)
    row = store.get_user(BETA, user_id)
    assert row is not None and row.user == user and row.created_at == row.updated_at
    renamed = store.update_user(BETA, user_id, User("new@beta.example", user.access, "none"), None)
    assert renamed.user.first_name is None and renamed.id == user_id
    ceo = store.get_user_by_email(BETA, "ceo@beta.example")
    assert ceo is not None
    store.delete_user(BETA, ceo.id, None)
    assert [r.user.email for r in store.list_users(BETA)] == ["new@beta.example"]


def test_user_level_writes_check_the_actor_when_given(store: Store) -> None:
    ceo = store.get_user_by_email(ACME, "ceo@acme.example")
    assert ceo is not None
    with pytest.raises(RefusedError) as caught:
        store.delete_user(ACME, ceo.id, ACTOR)
    assert caught.value.rule == FORBIDDEN
    with pytest.raises(RefusedError) as caught:
        store.create_user(ACME, User("ceo@acme.EXAMPLE"), None)
    assert caught.value.rule == CONFLICT


def test_user_level_refusals_for_unknown_ids_and_email_changes(store: Store) -> None:
    with pytest.raises(RefusedError) as caught:
        store.delete_user(ACME, 999_999, None)
    assert (str(caught.value), caught.value.rule) == (
        "account 4410021: cannot remove user 999999: no such user",
        NOT_FOUND,
    )
    viewer = store.get_user_by_email(ACME, "viewer@acme.example")
    assert viewer is not None
    with pytest.raises(RefusedError) as caught:
        store.update_user(ACME, viewer.id, User("other@acme.example"), None)
    assert str(caught.value) == (
        "account 4410021: cannot update viewer@acme.example: emails cannot change"
    )


def test_journal_keeps_every_attempt_in_order(store: Store) -> None:
    store.execute(
        step(StepType.SET_NAME, "viewer@acme.example", {"first_name": None}, {"first_name": "Vi"}),
        ACTOR,
    )
    with pytest.raises(RefusedError):
        store.execute(
            step(
                StepType.SET_NAME, "viewer@acme.example", {"first_name": None}, {"first_name": "V"}
            ),
            ACTOR,
        )
    rows = store.journal(ACME)
    assert [r["step_type"] for r in rows] == ["seed", StepType.SET_NAME, StepType.SET_NAME]
    assert [r["outcome"] for r in rows] == ["ok", "ok", "failed"]
    assert rows[1]["message"] == "viewer@acme.example: first_name None -> 'Vi'"
    assert rows[2]["message"].endswith("stale step: first_name is 'Vi', the plan expected None")
    assert rows[1]["seq"] < rows[2]["seq"]
    assert rows[1]["time"].endswith("Z")
    assert len(store.journal()) == len(rows) + 2  # the other accounts' seed rows


def test_every_snapshot_schema_property_has_a_description() -> None:
    schema = json.loads((schemas_dir() / "snapshot.schema.json").read_text())
    assert schema["$id"] == "https://reconciler.dev/schemas/snapshot.schema.json"
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, child in (node.get("properties") or {}).items():
                if "description" not in child:
                    missing.append(f"{where}/properties/{name}")
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{where}/{index}")

    walk(schema, "")
    assert missing == []


def test_applying_a_permission_set_resets_individual_permissions(store: Store) -> None:
    # Permission overrides applied before a permission set (the wrong order) are lost,
    # as in HubSpot, so the next plan makes them again.
    staff = "staff@acme.example"
    added = {"permissions": {"add": ["reports.view"], "remove": []}}
    store.execute(
        step(StepType.SET_PERMISSIONS, staff, {"permissions": {"add": [], "remove": []}}, added),
        ADMIN,
    )
    assert user_data(store, staff)["permissions"] == added["permissions"]
    store.execute(
        step(
            StepType.SET_ACCESS,
            staff,
            {"access": {"role": "Marketing Manager"}},
            {"access": {"role": "User Admin"}},
        ),
        ADMIN,
    )
    assert user_data(store, staff)["access"] == {"role": "User Admin"}
    assert "permissions" not in user_data(store, staff)
    # Setting access to what it already is applies nothing and keeps the overrides;
    # so does leaving a permission set for no set (basic).
    store.execute(step(StepType.SET_PERMISSIONS, staff, {"permissions": {}}, added), ADMIN)
    store.execute(
        step(StepType.SET_ACCESS, staff, {"access": {"role": "User Admin"}}, {"access": "basic"}),
        ADMIN,
    )
    assert user_data(store, staff)["permissions"] == added["permissions"]
