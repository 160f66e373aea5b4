"""Hypothesis strategies: random but valid current states and reachable desired states."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume
from hypothesis import strategies as st

from reconciler.catalog import load_catalogue
from reconciler.diff import desired_target
from reconciler.invariants import Context, violations
from reconciler.model import (
    PAID_SEATS,
    SEATS,
    SUPER_ADMIN,
    Access,
    AccountState,
    DesiredAccount,
    DesiredUser,
    Partner,
    Permissions,
    RemovalLimit,
    Role,
    Teams,
    User,
)

ACTOR = "automation@northwind.agency"
PARTNER = Partner(
    "Northwind Digital",
    ACTOR,
    frozenset({"northwind.agency"}),
    frozenset({"contractor@freelance.example"}),
)
EMPLOYEES = ["ana@northwind.agency", "ben@northwind.agency", "contractor@freelance.example"]
CLIENTS = ["ceo@acme.example", "ops@acme.example", "kim@acme.example"]
ROLES = {
    "Marketing Manager": Role(
        "Marketing Manager", None, frozenset({"marketing.access", "users.write"})
    ),
    "Sales Rep": Role("Sales Rep", "sales", frozenset({"sales.access"})),
}
TEAMS = frozenset({"Marketing", "Sales", "Support"})
PERMS = ["reports.edit", "marketing.social.publish", "billing.write", "crm.contacts.delete"]
CATALOGUE = load_catalogue()

accesses = st.sampled_from(
    [
        Access("super_admin"),
        Access("partner_admin"),
        Access("basic"),
        Access("role", "Marketing Manager"),
        Access("role", "Sales Rep"),
    ]
)
teams = st.builds(
    Teams,
    st.one_of(st.none(), st.sampled_from(sorted(TEAMS))),
    st.lists(st.sampled_from(sorted(TEAMS)), max_size=2).map(tuple),
)
permissions = st.builds(
    lambda add, remove: Permissions(frozenset(add), frozenset(remove) - frozenset(add)),
    st.lists(st.sampled_from(PERMS), max_size=2),
    st.lists(st.sampled_from(PERMS), max_size=2),
)


def fix_user(user: User, partner: Partner) -> User:
    """Make one user legal on its own: eligibility, Partner Admin's seat, role seats."""
    eligible = partner.is_employee(user.email)
    if not eligible and user.access.kind == "partner_admin":
        user = replace(user, access=Access("basic"))
    if not eligible and user.seat == "partner":
        user = replace(user, seat="view_only")
    if user.access.kind == "partner_admin":
        forbidden = CATALOGUE.partner_admin_forbidden
        user = replace(
            user,
            seat="partner",
            permissions=Permissions(user.permissions.add - forbidden, user.permissions.remove),
        )
    if user.access.kind == "role" and ROLES[user.access.role or ""].seat:
        user = replace(user, seat=ROLES[user.access.role or ""].seat or user.seat)
    return user


@st.composite
def users(draw: st.DrawFn, email: str) -> User:
    user = User(
        email=email,
        access=draw(accesses),
        seat=draw(st.sampled_from(SEATS)),
        first_name=draw(st.sampled_from([None, "Ana", "Kim"])),
        last_name=draw(st.sampled_from([None, "Lee"])),
        teams=draw(teams),
        permissions=draw(permissions),
    )
    return fix_user(user, PARTNER)


@st.composite
def current_states(draw: st.DrawFn, actor_access: Access = SUPER_ADMIN) -> AccountState:
    pool = EMPLOYEES + CLIENTS
    present = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
    members = {
        ACTOR: User(
            ACTOR, actor_access, "partner" if actor_access.kind != "super_admin" else "core"
        )
    }
    for email in present:
        members[email] = draw(users(email))
    state = AccountState(
        4410021, "Acme Corp", {}, ROLES, TEAMS, {k.lower(): u for k, u in members.items()}
    )
    used = state.seats_used()
    spare = {seat: draw(st.integers(0, 2)) for seat in PAID_SEATS}
    return replace(state, seats_owned={seat: used[seat] + spare[seat] for seat in PAID_SEATS})


@st.composite
def desired_accounts(draw: st.DrawFn, current: AccountState) -> DesiredAccount:
    """A desired account whose end state is legal (the planner must then find an order)."""
    wanted: dict[str, DesiredUser] = {}
    for email in EMPLOYEES + CLIENTS:
        choice = draw(st.sampled_from(["unmanaged", "absent", "present", "present"]))
        if choice == "absent":
            wanted[email] = DesiredUser(email, state="absent")
        elif choice == "present":
            user = draw(users(email))
            manage = draw(
                st.fixed_dictionaries(
                    {"teams": st.booleans(), "perms": st.booleans(), "name": st.booleans()}
                )
            )
            wanted[email] = DesiredUser(
                email.upper() if draw(st.booleans()) else email,
                access=user.access,
                seat=user.seat,
                first_name=user.first_name if manage["name"] else None,
                last_name=user.last_name if manage["name"] else None,
                teams=user.teams if manage["teams"] else None,
                permissions=user.permissions if manage["perms"] else None,
            )
    policy = draw(st.sampled_from(["ignore", "report", "remove"]))
    desired = DesiredAccount(
        current.id,
        current.name,
        {k.lower(): v for k, v in wanted.items()},
        actor=ACTOR,
        unmanaged_users=policy,
        min_super_admins=1,
        max_removals=RemovalLimit(count=100),
    )
    return desired


def end_state(desired: DesiredAccount, current: AccountState) -> AccountState:
    """What the account must look like once the plan is applied."""
    users_after: dict[str, User] = {}
    for key, user in current.users.items():
        want = desired.users.get(key)
        if want is None:
            if desired.unmanaged_users == "remove" and key != ACTOR:
                continue
            users_after[key] = user
        elif want.state == "present":
            users_after[key] = desired_target(desired, key, user, current.unknown)
    for key, want in desired.users.items():
        if want.state == "present" and key not in current.users:
            users_after[key] = desired_target(desired, key, None, current.unknown)
    return replace(current, users=users_after)


def reachable(desired: DesiredAccount, current: AccountState) -> bool:
    ctx = Context(PARTNER, ACTOR, CATALOGUE, desired.min_super_admins)
    end = end_state(desired, current)
    if violations(end, ctx):
        return False
    fixed = {k: fix_user(u, PARTNER) for k, u in end.users.items()}
    return fixed == dict(end.users) and end.users.get(ACTOR) == current.users.get(ACTOR)


@st.composite
def scenarios(
    draw: st.DrawFn, actors: tuple[Access, ...] = (SUPER_ADMIN, Access("partner_admin"))
) -> tuple[AccountState, DesiredAccount]:
    """A valid current state and a desired state reachable from it, acted on by one of ``actors``."""
    current = draw(current_states(draw(st.sampled_from(actors))))
    desired = replace(
        draw(desired_accounts(current)), min_super_admins=draw(st.sampled_from([1, 1, 2]))
    )
    assume(reachable(desired, current))
    return current, desired
