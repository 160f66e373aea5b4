"""The six invariants of the product contract as pure functions over an AccountState.

Each invariant yields a *measure* of how badly it is broken (a count or a set
of offenders). The planner accepts a step only if no measure grows beyond what
the account started with: a plan never introduces a violation, and one that
the current state already has is reported, never made worse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.catalog import Catalogue
from reconciler.model import PAID_SEATS, AccountState, Partner, User, unknown_capacity, user_key
from reconciler.render import plural

#: The capacity taken for a paid seat type whose count cannot be read: never exceeded.
_UNJUDGED = 10**9


@dataclass(frozen=True)
class Context:
    """What the invariants need besides the state itself."""

    partner: Partner
    actor: str
    catalogue: Catalogue
    min_super_admins: int = 1


@dataclass(frozen=True)
class Measures:
    super_admin_deficit: int
    partner_admin_without_partner_seat: frozenset[str]
    ineligible_partner_users: frozenset[str]
    seat_overflow: Mapping[str, int]
    forbidden_partner_admin_permissions: frozenset[tuple[str, str]]
    actor_missing: frozenset[str]


def super_admin_deficit(state: AccountState, ctx: Context) -> int:
    """1. At least ``min_super_admins`` Super Admins."""
    count = sum(1 for u in state.users.values() if u.access.kind == "super_admin")
    return max(0, ctx.min_super_admins - count)


def partner_admins_without_partner_seat(state: AccountState) -> frozenset[str]:
    """2. Every Partner Admin holds a partner seat."""
    return frozenset(
        k
        for k, u in state.users.items()
        if u.access.kind == "partner_admin" and u.seat != "partner"
    )


def ineligible_partner_users(state: AccountState, ctx: Context) -> frozenset[str]:
    """3. Partner seats and Partner Admin only for eligible partner employees."""
    return frozenset(
        k
        for k, u in state.users.items()
        if (u.seat == "partner" or u.access.kind == "partner_admin")
        and not ctx.partner.is_employee(u.email)
    )


def seat_overflow(state: AccountState) -> dict[str, int]:
    """4. Paid seats in use never exceed those the account owns, per seat type."""
    used = state.seats_used()
    return {s: max(0, used[s] - owned) for s, owned in _capacity(state).items()}


def _capacity(state: AccountState) -> dict[str, int]:
    """Paid seats owned per type; a type whose count cannot be read is not judged."""
    return {
        s: int(state.seats_owned.get(s, 0))
        if unknown_capacity(s) not in state.unknown
        else _UNJUDGED
        for s in PAID_SEATS
    }


def forbidden_partner_admin_permissions(
    state: AccountState, ctx: Context
) -> frozenset[tuple[str, str]]:
    """5. No Partner Admin holds a permission that Partner Admin cannot have."""
    forbidden = ctx.catalogue.partner_admin_forbidden
    return frozenset(
        (k, p)
        for k, u in state.users.items()
        if u.access.kind == "partner_admin"
        for p in u.permissions.add & forbidden
    )


def actor_permissions(state: AccountState, ctx: Context) -> frozenset[str] | None:
    """The actor's effective permissions, or None when the actor is not a user there."""
    actor = state.users.get(user_key(ctx.actor))
    if actor is None:
        return None
    return ctx.catalogue.effective(actor, dict(state.roles))


def measure(state: AccountState, ctx: Context, actor_baseline: frozenset[str]) -> Measures:
    """6. The actor keeps its own access: every permission it started with."""
    actor = actor_permissions(state, ctx)
    missing = actor_baseline - (actor if actor is not None else frozenset())
    if actor is None and actor_baseline:
        missing = missing | {"(the actor user itself)"}
    return Measures(
        super_admin_deficit(state, ctx),
        partner_admins_without_partner_seat(state),
        ineligible_partner_users(state, ctx),
        seat_overflow(state),
        forbidden_partner_admin_permissions(state, ctx),
        frozenset(missing),
    )


def new_violations(
    baseline: Measures, after: Measures, ctx: Context, would: str = "would "
) -> list[str]:
    """What ``after`` breaks that ``baseline`` did not: one human sentence each."""
    problems: list[str] = []
    has, is_, holds = ("would have", "would be", "would hold") if would else ("has", "is", "holds")
    if after.super_admin_deficit > baseline.super_admin_deficit:
        have = ctx.min_super_admins - after.super_admin_deficit
        problems.append(
            f"the account {has} {plural(have, 'Super Admin')}"
            f" (min_super_admins is {ctx.min_super_admins})"
        )
    for email in sorted(
        after.partner_admin_without_partner_seat - baseline.partner_admin_without_partner_seat
    ):
        problems.append(f"{email} {is_} Partner Admin without the partner seat")
    for email in sorted(after.ineligible_partner_users - baseline.ineligible_partner_users):
        problems.append(
            f"{email} is not an eligible partner employee and cannot hold the partner seat"
            " or Partner Admin"
        )
    for seat in PAID_SEATS:
        if after.seat_overflow.get(seat, 0) > baseline.seat_overflow.get(seat, 0):
            problems.append(f"{seat} seats in use {would}exceed the {seat} seats the account owns")
    for email, permission in sorted(
        after.forbidden_partner_admin_permissions - baseline.forbidden_partner_admin_permissions
    ):
        problems.append(
            f"Partner Admin {email} {holds} {permission}, which Partner Admin cannot have"
        )
    for permission in sorted(after.actor_missing - baseline.actor_missing):
        problems.append(f"the actor {ctx.actor} {would}lose {permission}")
    return problems


#: Nothing broken: what :func:`violations` measures a state from.
_CLEAN = Measures(0, frozenset(), frozenset(), {}, frozenset(), frozenset())


def violations(state: AccountState, ctx: Context) -> list[str]:
    """Every invariant the state breaks, measured from a clean slate (the actor keeps nothing)."""
    return new_violations(_CLEAN, measure(state, ctx, frozenset()), ctx, would="")


@dataclass(frozen=True)
class Tally:
    """The invariants' inputs, updatable one user at a time.

    The scheduler asks "what if this step ran?" for many candidate steps; a
    tally answers in time proportional to the one user a step touches rather
    than to the whole account. ``measure`` stays the reference definition.
    ``account`` is the account the tally started from (all but its users, which
    are ``users``); ``owned``, its paid seats as invariant 4 judges them.
    """

    account: AccountState
    users: Mapping[str, User]
    super_admins: int
    pa_without_seat: frozenset[str]
    ineligible: frozenset[str]
    used: Mapping[str, int]
    forbidden: frozenset[tuple[str, str]]
    actor: frozenset[str] | None
    owned: Mapping[str, int]

    @classmethod
    def of(cls, state: AccountState, ctx: Context) -> Tally:
        """The tally of ``state``: each invariant's offenders, counted in one pass."""
        super_admins = 0
        used = dict.fromkeys(PAID_SEATS, 0)
        pa_without_seat: set[str] = set()
        ineligible: set[str] = set()
        forbidden: set[tuple[str, str]] = set()
        excluded = ctx.catalogue.partner_admin_forbidden
        for key, user in state.users.items():
            kind, seat = user.access.kind, user.seat
            if kind == "super_admin":
                super_admins += 1
            if seat in used:
                used[seat] += 1
            if kind == "partner_admin":
                if seat != "partner":
                    pa_without_seat.add(key)
                forbidden.update((key, p) for p in user.permissions.add & excluded)
            if (seat == "partner" or kind == "partner_admin") and not ctx.partner.is_employee(
                user.email
            ):
                ineligible.add(key)
        return cls(
            state,
            state.users,
            super_admins,
            frozenset(pa_without_seat),
            frozenset(ineligible),
            used,
            frozenset(forbidden),
            actor_permissions(state, ctx),
            _capacity(state),
        )

    def change(self, key: str, after: User | None, ctx: Context) -> Tally:
        """The tally once user ``key`` becomes ``after`` (None: removed)."""
        before = self.users.get(key)
        users = dict(self.users)
        if after is None:
            users.pop(key, None)
        else:
            users[key] = after
        used = dict(self.used)
        super_admins = self.super_admins
        for user, sign in ((before, -1), (after, 1)):
            if user is None:
                continue
            if user.seat in used:
                used[user.seat] += sign
            if user.access.kind == "super_admin":
                super_admins += sign

        def flag(offenders: frozenset[str], offends: bool) -> frozenset[str]:
            if offends:
                return offenders | {key}
            return offenders - {key} if key in offenders else offenders

        is_pa = after is not None and after.access.kind == "partner_admin"
        forbidden = frozenset(pair for pair in self.forbidden if pair[0] != key)
        if is_pa and after is not None:
            forbidden |= {
                (key, p) for p in after.permissions.add & ctx.catalogue.partner_admin_forbidden
            }
        actor = self.actor
        if key == user_key(ctx.actor):
            actor = (
                None if after is None else ctx.catalogue.effective(after, dict(self.account.roles))
            )
        return Tally(
            self.account,
            users,
            super_admins,
            flag(self.pa_without_seat, is_pa and after is not None and after.seat != "partner"),
            flag(
                self.ineligible,
                after is not None
                and (after.seat == "partner" or is_pa)
                and not ctx.partner.is_employee(after.email),
            ),
            used,
            forbidden,
            actor,
            self.owned,
        )

    def violations(self, ctx: Context) -> list[str]:
        """:func:`violations` of the tally's state, from the counts the tally keeps."""
        return new_violations(_CLEAN, self.measures(ctx, frozenset()), ctx, would="")

    def measures(self, ctx: Context, actor_baseline: frozenset[str]) -> Measures:
        missing = actor_baseline - (self.actor if self.actor is not None else frozenset())
        if self.actor is None and actor_baseline:
            missing = missing | {"(the actor user itself)"}
        owned = self.owned
        return Measures(
            max(0, ctx.min_super_admins - self.super_admins),
            self.pa_without_seat,
            self.ineligible,
            {s: max(0, self.used[s] - owned[s]) for s in PAID_SEATS},
            self.forbidden,
            frozenset(missing),
        )
