"""The planner: invariants at every step, reaching the desired state, idempotence, determinism."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings

from reconciler.diff import UNMANAGED, diff_account
from reconciler.drafts import simulate
from reconciler.invariants import Context, measure, new_violations
from reconciler.model import (
    ACCESS_KINDS,
    SEATS,
    Access,
    AccountState,
    DesiredAccount,
    DesiredUser,
    Permissions,
    ReadFailure,
    RemovalLimit,
    User,
)
from reconciler.plan import AccountPlan
from reconciler.planner import account_digest, build_plan, plan_account
from reconciler.providers.base import Capabilities
from reconciler.steps import STEP_TYPES, StepType
from tests.strategies import (
    ACTOR,
    CATALOGUE,
    PARTNER,
    ROLES,
    TEAMS,
    end_state,
    scenarios,
)

EVERYTHING = Capabilities(frozenset(STEP_TYPES), frozenset(SEATS), frozenset(ACCESS_KINDS))
# Example counts come from the Hypothesis profile (tests/conftest.py): `ci` by default,
# `pytest --hypothesis-profile=long` for a long run.
PROPERTY = settings()


def run(plan: AccountPlan, state: AccountState) -> list[AccountState]:
    states = [state]
    for step in plan.steps:
        state = simulate(state, step.type, step.user, step.after)
        states.append(state)
    return states


@PROPERTY
@given(scenarios())
def test_every_step_keeps_every_invariant_and_reaches_the_desired_state(
    scenario: tuple[AccountState, DesiredAccount],
) -> None:
    current, desired = scenario
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.error is None, result.error
    ctx = Context(PARTNER, ACTOR, CATALOGUE, desired.min_super_admins)
    actor = CATALOGUE.effective(current.users[ACTOR], dict(current.roles))
    baseline = measure(current, ctx, actor)
    states = run(result, current)
    for step, state in zip(result.steps, states[1:], strict=True):
        assert new_violations(baseline, measure(state, ctx, actor), ctx) == [], step
    final = states[-1]
    assert dict(final.users) == dict(end_state(desired, current).users)
    assert [c for c in diff_account(desired, final) if c.kind != UNMANAGED] == []
    again = plan_account(desired, final, PARTNER, CATALOGUE, EVERYTHING)
    assert again.steps == ()


@PROPERTY
@given(scenarios())
def test_same_inputs_give_byte_identical_json(
    scenario: tuple[AccountState, DesiredAccount],
) -> None:
    current, desired = scenario
    reordered_current = replace(current, users=dict(reversed(list(current.users.items()))))
    reordered_desired = replace(desired, users=dict(reversed(list(desired.users.items()))))
    one = build_plan([(desired, current)], PARTNER, CATALOGUE, EVERYTHING)
    two = build_plan([(reordered_desired, reordered_current)], PARTNER, CATALOGUE, EVERYTHING)
    assert one.to_json() == two.to_json()


@PROPERTY
@given(scenarios())
def test_depends_on_only_names_earlier_steps(scenario: tuple[AccountState, DesiredAccount]) -> None:
    current, desired = scenario
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    seen: set[str] = set()
    for step in result.steps:
        assert set(step.depends_on) <= seen
        seen.add(step.id)
    assert len(seen) == len(result.steps)


def account(
    users: list[User], seats: dict[str, int] | None = None, partner_access: str = "granted"
) -> AccountState:
    state = AccountState(
        4410021,
        "Acme Corp",
        seats or {"core": 2, "sales": 1, "service": 0},
        ROLES,
        TEAMS,
        {u.key: u for u in users},
        partner_access,
    )
    return state


def desire(*users: DesiredUser, **kwargs: object) -> DesiredAccount:
    return DesiredAccount(4410021, "Acme Corp", {u.key: u for u in users}, actor=ACTOR, **kwargs)  # type: ignore[arg-type]


SA = Access("super_admin")
PA = Access("partner_admin")
ACTOR_USER = User(ACTOR, PA, "partner")


def test_removing_the_last_super_admin_is_an_error_for_that_account_only() -> None:
    ceo = User("ceo@acme.example", SA, "core")
    current = account([ceo, ACTOR_USER])
    broken = desire(DesiredUser("ceo@acme.example", state="absent"))
    fine_state = replace(account([ceo, ACTOR_USER]), id=4410022)
    fine = replace(
        desire(DesiredUser("ops@acme.example", access=Access("basic"), seat="view_only")),
        id=4410022,
    )
    plan = build_plan([(broken, current), (fine, fine_state)], PARTNER, CATALOGUE, EVERYTHING)
    assert plan.accounts[0].error is not None
    assert "the account would have 0 Super Admins (min_super_admins is 1)" in plan.accounts[0].error
    assert plan.accounts[0].steps == ()
    assert plan.accounts[1].error is None
    assert [s.type for s in plan.accounts[1].steps] == [StepType.CREATE_USER]


def test_new_super_admin_is_promoted_before_the_old_one_migrates() -> None:
    ceo = User("ceo@acme.example", SA, "core")
    ana = User("ana@northwind.agency", SA, "core")
    current = account([ceo, ana, User(ACTOR, SA, "core")], {"core": 3, "sales": 0, "service": 0})
    current = current.without_user("ceo@acme.example").with_user(
        User("ceo@acme.example", Access("basic"), "view_only")
    )
    desired = desire(
        DesiredUser("ceo@acme.example", access=SA, seat="core"),
        DesiredUser("ana@northwind.agency", access=PA, seat="partner"),
    )
    current = current.without_user(ACTOR).with_user(User(ACTOR, PA, "partner"))
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.error is None
    types = [(s.type, s.user) for s in result.steps]
    assert types.index((StepType.PROMOTE_SUPER_ADMIN, "ceo@acme.example")) < types.index(
        (StepType.MIGRATE_TO_PARTNER_ADMIN, "ana@northwind.agency")
    )
    # Only a Super Admin makes Super Admins: the Partner Admin actor leaves that to a person.
    promote = next(s for s in result.steps if s.type == StepType.PROMOTE_SUPER_ADMIN)
    assert promote.channel == "manual"
    assert "only a Super Admin can add or remove Super Admins" in (promote.manual_reason or "")
    assert promote.instructions
    # The migration frees a paid seat.
    assert result.seats.freed == {"core": 1}


def test_partner_seat_is_assigned_before_partner_admin_is_granted() -> None:
    ana = User("ana@northwind.agency", Access("basic"), "core")
    current = account(
        [User("ceo@acme.example", SA, "core"), ana, User(ACTOR, SA, "core")],
        {"core": 3, "sales": 0, "service": 0},
    )
    result = plan_account(
        desire(DesiredUser("ana@northwind.agency", access=PA, seat="partner")),
        current,
        PARTNER,
        CATALOGUE,
        EVERYTHING,
    )
    assert [s.type for s in result.steps] == [StepType.SET_SEAT, StepType.GRANT_PARTNER_ADMIN]
    assert result.steps[1].depends_on == (result.steps[0].id,)


def test_paid_seats_are_freed_before_they_are_taken() -> None:
    ceo = User("ceo@acme.example", SA, "core")
    ops = User("ops@acme.example", Access("basic"), "core")
    current = account([ceo, ops, User(ACTOR, PA, "partner")], {"core": 2, "sales": 0, "service": 0})
    current = current.without_user(ACTOR).with_user(User(ACTOR, SA, "partner"))
    desired = desire(
        DesiredUser("ops@acme.example", state="absent"),
        DesiredUser("kim@acme.example", access=Access("basic"), seat="core"),
    )
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert [(s.type, s.user) for s in result.steps] == [
        (StepType.REMOVE_USER, "ops@acme.example"),
        (StepType.CREATE_USER, "kim@acme.example"),
    ]
    assert result.steps[1].depends_on == (result.steps[0].id,)


def test_seats_are_swapped_through_no_seat_when_capacity_is_full() -> None:
    a = User("ops@acme.example", Access("basic"), "core")
    b = User("kim@acme.example", Access("basic"), "sales")
    current = account(
        [User("ceo@acme.example", SA, "none"), a, b, User(ACTOR, SA, "partner")],
        {"core": 1, "sales": 1, "service": 0},
    )
    desired = desire(
        DesiredUser("ops@acme.example", access=Access("basic"), seat="sales"),
        DesiredUser("kim@acme.example", access=Access("basic"), seat="core"),
    )
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.error is None
    assert [(s.user, s.after) for s in result.steps] == [
        ("kim@acme.example", {"seat": "none"}),
        ("ops@acme.example", {"seat": "sales"}),
        ("kim@acme.example", {"seat": "core"}),
    ]


def test_account_without_partner_access_plans_only_the_access_request() -> None:
    current = account([User("ceo@acme.example", SA, "core")], partner_access="none")
    desired = desire(DesiredUser("ana@northwind.agency", access=PA, seat="partner"))
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert [(s.type, s.channel, s.user) for s in result.steps] == [
        (StepType.REQUEST_ACCESS, "approval", ACTOR)
    ]
    pending = plan_account(
        desired, replace(current, partner_access="pending"), PARTNER, CATALOGUE, EVERYTHING
    )
    assert pending.steps[0].after == {"partner_access": "granted"}


def test_the_actor_is_never_removed() -> None:
    current = account([User("ceo@acme.example", SA, "core"), ACTOR_USER])
    result = plan_account(
        desire(DesiredUser(ACTOR, state="absent")), current, PARTNER, CATALOGUE, EVERYTHING
    )
    assert result.error is not None and "refusing to remove the tool's own actor" in result.error
    unmanaged = plan_account(
        desire(unmanaged_users="remove"), current, PARTNER, CATALOGUE, EVERYTHING
    )
    assert all(s.user != ACTOR for s in unmanaged.steps)


def test_the_actor_is_never_demoted() -> None:
    current = account([User("ceo@acme.example", SA, "core"), User(ACTOR, SA, "core")])
    result = plan_account(
        desire(DesiredUser(ACTOR, access=Access("basic"), seat="core")),
        current,
        PARTNER,
        CATALOGUE,
        EVERYTHING,
    )
    assert result.error is not None
    assert f"the actor {ACTOR} would lose" in result.error


def test_unknown_role_and_team_are_errors_naming_the_config_line() -> None:
    from reconciler.model import Location, Teams

    current = account([User("ceo@acme.example", SA, "core"), ACTOR_USER])
    user = DesiredUser(
        "kim@acme.example",
        access=Access("role", "Nope"),
        seat="core",
        teams=Teams("Ghosts"),
        source=Location("access/acme.yaml", 12, 9, "/accounts/0/users/1"),
    )
    result = plan_account(desire(user), current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.error == (
        "access/acme.yaml:12:9: kim@acme.example: role 'Nope' does not exist in account 4410021"
        " (roles there: Marketing Manager, Sales Rep); access/acme.yaml:12:9: kim@acme.example:"
        " team 'Ghosts' does not exist in account 4410021 (teams there: Marketing, Sales, Support)"
    )


def test_max_removals_is_reported_and_counted() -> None:
    users = [User("ceo@acme.example", SA, "core"), ACTOR_USER] + [
        User(f"u{i}@acme.example", Access("basic"), "none") for i in range(4)
    ]
    current = account(users)
    ceo = DesiredUser("ceo@acme.example", access=SA, seat="core")
    desired = desire(ceo, unmanaged_users="remove", max_removals=RemovalLimit(percent=25))
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.removals == 4 and result.removal_limit == 2  # 25% of 6, rounded up
    assert result.over_removal_limit
    assert any("exceed max_removals 25%" in w for w in result.warnings)


#: What HubSpot's public API does: no individual permissions, Super Admin, Partner
#: Admin or partner seat.
HUBSPOT_LIKE = Capabilities(
    frozenset(STEP_TYPES) - {StepType.SET_PERMISSIONS},
    frozenset({"core", "sales", "service", "view_only", "none"}),
    frozenset({"role", "basic"}),
)


def test_partner_admin_api_limits_make_manual_steps() -> None:
    current = account(
        [
            User("ceo@acme.example", SA, "core"),
            User(ACTOR, SA, "core"),
            User("ana@northwind.agency", Access("basic"), "core"),
        ]
    )
    result = plan_account(
        desire(DesiredUser("ana@northwind.agency", access=PA, seat="partner")),
        current,
        PARTNER,
        CATALOGUE,
        HUBSPOT_LIKE,
        "hubspot",
    )
    assert [(s.type, s.channel) for s in result.steps] == [
        (StepType.SET_SEAT, "manual"),
        (StepType.GRANT_PARTNER_ADMIN, "manual"),
    ]
    assert (
        "the hubspot API cannot move ana@northwind.agency from the core seat to the partner seat"
        in (result.steps[0].manual_reason or "")
    )


@pytest.mark.parametrize("policy,expected", [("ignore", 0), ("report", 0), ("remove", 1)])
def test_unmanaged_users_policy(policy: str, expected: int) -> None:
    current = account(
        [
            User("ceo@acme.example", SA, "core"),
            ACTOR_USER,
            User("ops@acme.example", Access("basic"), "core"),
        ]
    )
    desired = desire(
        DesiredUser("ceo@acme.example", access=SA, seat="core"), unmanaged_users=policy
    )
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.removals == expected
    assert any("unmanaged user ops@acme.example" in w for w in result.warnings) == (
        policy == "report"
    )


def test_what_the_provider_cannot_read_is_assumed_as_configured_and_said() -> None:
    hubspot_like = Capabilities(
        frozenset(STEP_TYPES) - {StepType.SET_PERMISSIONS},
        frozenset({"core", "sales", "service", "view_only", "none"}),
        frozenset({"role", "basic"}),
    )
    ben = User("ben@northwind.agency", SA, "none")
    current = replace(
        account([User("ceo@acme.example", SA, "core"), User(ACTOR, SA, "core"), ben]),
        unknown=frozenset({"ben@northwind.agency.seat", "ben@northwind.agency.permissions"}),
    )
    perms = Permissions(remove=frozenset({"marketing.social.publish"}))
    desired = desire(
        DesiredUser("ben@northwind.agency", access=PA, seat="partner", permissions=perms)
    )
    result = plan_account(desired, current, PARTNER, CATALOGUE, hubspot_like, "hubspot")
    assert result.error is None
    # A seat it cannot read is never assumed: it stays a step for a person...
    assert [(s.type, s.channel, s.before, s.after) for s in result.steps] == [
        (StepType.SET_SEAT, "manual", {"seat": "unknown"}, {"seat": "partner"}),
        (
            StepType.MIGRATE_TO_PARTNER_ADMIN,
            "manual",
            {"access": "super_admin"},
            {"access": "partner_admin"},
        ),
        (
            StepType.SET_PERMISSIONS,
            "manual",
            {"permissions": {"add": [], "remove": []}},
            {"permissions": {"add": [], "remove": ["marketing.social.publish"]}},
        ),
    ]
    # ...while individual permissions it cannot read are taken as configured, and said.
    assert result.warnings == (
        "cannot read the individual permissions of ben@northwind.agency; assumed as configured,"
        " check by hand",
    )
    # Planning the same state again plans the same: nothing thrashes.
    assert plan_account(desired, current, PARTNER, CATALOGUE, hubspot_like, "hubspot") == result
    # Once a person confirms the seat, it is taken as configured.
    confirmed = desire(
        DesiredUser(
            "ben@northwind.agency",
            access=PA,
            seat="partner",
            seat_confirmed="partner",
            permissions=perms,
        )
    )
    result = plan_account(confirmed, current, PARTNER, CATALOGUE, hubspot_like, "hubspot")
    assert [s.type for s in result.steps] == [
        StepType.MIGRATE_TO_PARTNER_ADMIN,
        StepType.SET_PERMISSIONS,
    ]
    # A Partner Admin holds the partner seat: HubSpot guarantees it, no confirmation needed.
    done = current.with_user(replace(ben, access=PA))
    assert plan_account(desired, done, PARTNER, CATALOGUE, hubspot_like, "hubspot").steps == ()


def test_a_promotion_comes_before_its_seat_so_the_old_super_admin_can_go() -> None:
    # Found by the long Hypothesis run: kim needs ops's only core seat, and ops (the last
    # other Super Admin) can only go once kim is Super Admin.
    current = account(
        [
            User(ACTOR, PA, "partner"),
            User("ops@acme.example", SA, "core"),
            User("kim@acme.example", Access("basic"), "view_only"),
        ],
        {"core": 1, "sales": 0, "service": 0},
    )
    desired = desire(
        DesiredUser("kim@acme.example", access=SA, seat="core"), unmanaged_users="remove"
    )
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.error is None, result.error
    assert [(s.type, s.user) for s in result.steps] == [
        (StepType.PROMOTE_SUPER_ADMIN, "kim@acme.example"),
        (StepType.REMOVE_USER, "ops@acme.example"),
        (StepType.SET_SEAT, "kim@acme.example"),
    ]


def test_a_new_super_admin_is_created_without_a_seat_until_the_old_one_frees_it() -> None:
    current = account(
        [User(ACTOR, PA, "partner"), User("ops@acme.example", SA, "core")],
        {"core": 1, "sales": 0, "service": 0},
    )
    desired = desire(
        DesiredUser("ceo@acme.example", access=SA, seat="core"),
        DesiredUser("ops@acme.example", state="absent"),
    )
    result = plan_account(desired, current, PARTNER, CATALOGUE, EVERYTHING)
    assert result.error is None, result.error
    assert [(s.type, s.user, (s.after or {}).get("seat")) for s in result.steps] == [
        (StepType.CREATE_USER, "ceo@acme.example", "none"),
        (StepType.REMOVE_USER, "ops@acme.example", None),
        (StepType.SET_SEAT, "ceo@acme.example", "core"),
    ]


def test_permission_overrides_are_planned_after_the_permission_set_that_resets_them() -> None:
    # HubSpot: applying a permission set replaces a user's individual permissions, so
    # the overrides come after it, on every channel, and are made again after it.
    ana = User("ana@northwind.agency", Access("basic"), "core", permissions=Permissions())
    sam = User(
        "sam@northwind.agency",
        Access("basic"),
        "core",
        permissions=Permissions(add=frozenset({"reports.view"})),
    )
    current = account(
        [User("ceo@acme.example", SA, "core"), ana, sam, User(ACTOR, SA, "partner")],
        {"core": 3, "sales": 0, "service": 0},
    )
    removed = Permissions(remove=frozenset({"marketing.social.publish"}))
    desired = desire(
        DesiredUser("ana@northwind.agency", access=PA, seat="partner", permissions=removed),
        # The config leaves Sam's individual permissions alone: the role's reset must
        # not lose them.
        DesiredUser("sam@northwind.agency", access=Access("role", "Marketing Manager")),
    )
    for capabilities in (EVERYTHING, HUBSPOT_LIKE):
        result = plan_account(desired, current, PARTNER, CATALOGUE, capabilities)
        assert result.error is None, result.error
        order = [(s.type, s.user) for s in result.steps]
        assert order.index((StepType.GRANT_PARTNER_ADMIN, "ana@northwind.agency")) < order.index(
            (StepType.SET_PERMISSIONS, "ana@northwind.agency")
        )
        assert order.index((StepType.SET_ACCESS, "sam@northwind.agency")) < order.index(
            (StepType.SET_PERMISSIONS, "sam@northwind.agency")
        )
        again = next(
            s for s in result.steps if s.type == StepType.SET_PERMISSIONS and "sam" in str(s.user)
        )
        assert again.before == {"permissions": {"add": [], "remove": []}}
        assert again.after == {"permissions": {"add": ["reports.view"], "remove": []}}
        grant = next(s for s in result.steps if s.type == StepType.GRANT_PARTNER_ADMIN)
        ana_permissions = next(
            s for s in result.steps if s.type == StepType.SET_PERMISSIONS and "ana" in str(s.user)
        )
        assert grant.id in ana_permissions.depends_on
        final = run(result, current)[-1]
        assert final.users["sam@northwind.agency"].permissions == sam.permissions
        assert final.users["ana@northwind.agency"].permissions == removed


def test_an_account_that_could_not_be_read_plans_as_its_error() -> None:
    fine = replace(desire(), id=4410022)
    state = replace(account([User("ceo@acme.example", SA, "core"), ACTOR_USER]), id=4410022)
    failed = ReadFailure("cannot read current state: 503")
    plan = build_plan([(desire(), failed), (fine, state)], PARTNER, CATALOGUE, EVERYTHING)
    assert plan.accounts[0].error == "cannot read current state: 503"
    assert plan.accounts[1].error is None
    assert account_digest(failed) != account_digest(ReadFailure("cannot read current state: 500"))
