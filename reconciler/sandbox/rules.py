"""HubSpot's rules: whether the sandbox may make a write, and why not, as pure functions.

The store reads what a write needs into an :class:`Account`, asks these
functions, and writes only if none refuses. A refusal is a
:class:`RefusedError` whose ``rule`` lets the HTTP server answer with HubSpot's
status code. Plan steps are read here too: a step must parse, and must have
been planned against the user as it is now.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from reconciler.catalog import Catalogue
from reconciler.errors import SandboxError
from reconciler.fields import USER_FIELDS
from reconciler.model import (
    ACCESS_KINDS,
    PAID_SEATS,
    SEATS,
    Access,
    Partner,
    Permissions,
    Role,
    Teams,
    User,
    user_key,
)
from reconciler.plan import Step
from reconciler.steps import Effect, StepKind

# Why a write was refused, so the HTTP server can answer with HubSpot's status codes.
NOT_FOUND = "not_found"  # no such account, user or access request
CONFLICT = "conflict"  # the user already exists
STALE = "stale"  # the step was planned against another state
INVALID = "invalid"  # unknown seat, role, team or permission; malformed step
NO_ACCESS = "no_access"  # the actor is not a user of the account
FORBIDDEN = "forbidden"  # the actor lacks the capability
LIMIT = "limit"  # no paid seat of that type left
INVARIANT = "invariant"  # last Super Admin, Partner Admin rules, the actor's own access


class RefusedError(SandboxError):
    """The sandbox refused a write; ``rule`` is one of the kinds above.

    ``detail`` is the message without its ``account N:`` prefix, for errors that add their own.
    """

    def __init__(self, detail: str, *, rule: str, account: int, user: str | None) -> None:
        super().__init__(f"account {account}: {detail}")
        self.detail = detail
        self.rule = rule
        self.account = account
        self.user = user


def refused(account: int, verb: str, email: str | None, rule: str, reason: str) -> RefusedError:
    """``cannot {verb} {email}: {reason}``, the shape of every refusal of a user write."""
    return RefusedError(
        f"cannot {verb} {email or '?'}: {reason}", rule=rule, account=account, user=email
    )


@dataclass(frozen=True)
class Account:
    """An account as the rules see one write in it.

    Its settings and counts, but of its users only those the write names (its
    subject and its actor), so that a write costs the same in an account of any
    size: a key missing from ``users`` is a user the account lacks only if the
    write named it.
    """

    id: int
    seats_owned: Mapping[str, int]
    seats_used: Mapping[str, int]  # paid seats held now, per seat
    super_admins: int  # Super Admins now
    roles: dict[str, Role]
    teams: frozenset[str]
    partner: Partner  # whose employees alone may hold the partner seat or Partner Admin
    users: Mapping[str, User]  # by key: those of the named users the account has


Refuse = Callable[[str, str], RefusedError]


def check_write(
    account: Account,
    catalogue: Catalogue,
    current: User | None,
    after: User | None,
    *,
    actor: str | None,
    verb: str,
) -> None:
    """Refuse turning user ``current`` into ``after`` (None: absent) if any rule forbids it.

    ``actor`` None: nobody's capability is checked (the client approving a request).
    """
    subject = after or current
    assert subject is not None

    def refuse(rule: str, reason: str) -> RefusedError:
        return refused(account.id, verb, subject.email, rule, reason)

    if current is None:
        if "@" not in subject.email.strip("@"):
            raise refuse(INVALID, "not an email address")
        if subject.key in account.users:
            raise refuse(CONFLICT, "a user with this email exists")
    elif after is not None and after.key != current.key:
        raise refused(account.id, verb, current.email, INVALID, "emails cannot change")
    actor_user: User | None = None
    if actor is not None:
        actor_user = account.users.get(user_key(actor))
        if actor_user is None:
            raise refuse(NO_ACCESS, f"{actor} has no access to the account (request access)")
    if after is not None:
        _check_valid(account, catalogue, after, refuse)
    if actor_user is not None:
        _check_actor(account, catalogue, actor_user, current, after, refuse)
    _check_invariants(account, catalogue, current, after, refuse)


def _check_valid(account: Account, catalogue: Catalogue, user: User, refuse: Refuse) -> None:
    if user.seat not in SEATS:
        raise refuse(INVALID, f"unknown seat {user.seat!r}")
    if user.access.kind not in ACCESS_KINDS:
        raise refuse(INVALID, f"unknown access {user.access.kind!r}")
    if user.access.kind == "role" and user.access.role not in account.roles:
        raise refuse(INVALID, f"permission set {user.access.role!r} does not exist")
    for team in user.teams.names():
        if team not in account.teams:
            raise refuse(INVALID, f"team {team!r} does not exist")
    for permission in sorted(user.permissions.add | user.permissions.remove):
        if permission not in catalogue.ids:
            raise refuse(INVALID, f"unknown permission {permission!r}")


def _check_actor(
    account: Account,
    catalogue: Catalogue,
    actor: User,
    current: User | None,
    after: User | None,
    refuse: Refuse,
) -> None:
    """What the actor's own access allows (HubSpot checks the caller, not just the result)."""
    is_super_admin = actor.access.kind == "super_admin"
    granted = catalogue.effective(actor, account.roles)
    if not (is_super_admin or "users.write" in granted):
        raise refuse(FORBIDDEN, f"{actor.email} lacks 'users.write' (Add and edit users)")
    was_super = current is not None and current.access.kind == "super_admin"
    is_super = after is not None and after.access.kind == "super_admin"
    if was_super != is_super and not is_super_admin:
        what = "make" if is_super else ("demote" if after is not None else "remove")
        raise refuse(
            FORBIDDEN, f"only a Super Admin can {what} a Super Admin ({actor.email} is not)"
        )
    seat_before = current.seat if current is not None else None
    seat_after = after.seat if after is not None else None
    if (
        after is not None
        and seat_before != seat_after
        and (seat_before in PAID_SEATS or seat_after in PAID_SEATS)
        and not (is_super_admin or {"users.write", "billing.write"} <= granted)
    ):
        raise refuse(
            FORBIDDEN,
            f"{actor.email} cannot assign paid seats (needs Super Admin or "
            "'users.write' and 'billing.write')",
        )
    if current is not None and current.key == actor.key:
        if after is None:
            raise refuse(INVARIANT, "the actor cannot remove itself")
        kept = catalogue.effective(after, account.roles)
        if (
            (was_super and not is_super)
            or not granted <= kept
            or (after.seat == "view_only" and current.seat != "view_only")
        ):
            raise refuse(INVARIANT, "the actor cannot reduce its own access")


def _check_invariants(
    account: Account,
    catalogue: Catalogue,
    current: User | None,
    after: User | None,
    refuse: Refuse,
) -> None:
    """HubSpot's own rules on the resulting account, checked only where this change touches."""
    if after is not None:
        is_partner_admin = after.access.kind == "partner_admin"
        was_partner_admin = current is not None and current.access.kind == "partner_admin"
        if is_partner_admin and after.seat != "partner":
            if was_partner_admin and current is not None and current.seat == "partner":
                raise refuse(INVARIANT, "cannot move a Partner Admin off the partner seat")
            raise refuse(INVARIANT, "Partner Admin requires the partner seat")
        gains_partner = (is_partner_admin and not was_partner_admin) or (
            after.seat == "partner" and (current is None or current.seat != "partner")
        )
        if gains_partner and not account.partner.is_employee(after.email):
            raise refuse(
                INVARIANT,
                f"partner seat and Partner Admin are only for employees of {account.partner.name}",
            )
        forbidden = sorted(after.permissions.add & catalogue.partner_admin_forbidden)
        if is_partner_admin and forbidden:
            raise refuse(INVARIANT, f"a Partner Admin cannot hold {forbidden[0]!r}")
        if after.seat in PAID_SEATS and (current is None or current.seat != after.seat):
            owned = account.seats_owned.get(after.seat, 0)
            used = account.seats_used.get(after.seat, 0)  # never ``current``: it sits elsewhere
            if used + 1 > owned:
                raise refuse(LIMIT, f"no {after.seat} seat left ({owned} owned, {used} in use)")
    was_super = current is not None and current.access.kind == "super_admin"
    demoted = was_super and (after is None or after.access.kind != "super_admin")
    if demoted and account.super_admins <= 1:  # ``current`` is the last one
        raise refuse(INVARIANT, "last Super Admin")


def check_request(account: Account, step: Step, actor: str, access: str) -> None:
    """Refuse an access request unless the actor, a partner employee, asks for itself as planned.

    ``access`` is the actor's partner access now: none, pending or granted.
    """
    email = step.user or ""

    def refuse(rule: str, reason: str) -> RefusedError:
        return refused(account.id, step.kind.verb, email, rule, reason)

    if user_key(email) != user_key(actor):
        raise refuse(INVALID, f"only {actor} can request for itself")
    planned = step.before.partner_access if step.before is not None else None
    if access != planned:
        raise refuse(STALE, f"stale step: access is {access}, not {planned}")
    if step.after is None or step.after.partner_access != "pending":
        raise refuse(INVALID, "a request makes access pending")
    if not account.partner.is_employee(actor):
        raise refuse(INVARIANT, f"not an employee of {account.partner.name}")


# -- plan steps -----------------------------------------------------------------------


def parse_step(account: Account, step: Step) -> tuple[str, User | None, User | None]:
    """A step's verb, and its user as it is and as it will be (None: absent).

    Refuses a step its type does not allow (an access step off its route, a create
    for another email), and one planned against another state of the fields it
    touches. Not for access requests.
    """
    email = step.user or ""
    kind = step.kind
    if kind.effect is Effect.REQUEST:
        raise refused(account.id, "apply", email, INVALID, f"{step.type} changes no user")
    malformed = _malformed(account.id, kind.verb, email, step.id)
    if kind.effect is Effect.CREATE:
        with malformed:
            return kind.verb, None, _created(step)
    current = account.users.get(user_key(email))
    if current is None:
        raise refused(account.id, kind.verb, email, NOT_FOUND, "no such user (stale step)")
    assert step.before is not None
    if kind.effect is Effect.REMOVE:
        before = step.before.to_user()
        _expect(account.id, kind.verb, current, {f: getattr(before, f) for f in USER_FIELDS})
        return kind.verb, current, None
    assert step.after is not None
    with malformed:
        _check_route(kind, step)
    expected = {f: step.before.value(f) for f in kind.touched(step.after)}
    _expect(account.id, kind.verb, current, expected)
    return kind.verb, current, kind.apply_to(current, step.after)


@contextmanager
def _malformed(account: int, verb: str, email: str, step_id: str) -> Iterator[None]:
    """A step its type does not allow is refused as malformed, never a traceback."""
    try:
        yield
    except ValueError as exc:
        reason = f"step {step_id} is malformed: {exc}"
        raise refused(account, verb, email, INVALID, reason) from exc


def _created(step: Step) -> User:
    assert step.after is not None
    user = step.after.to_user()
    if user.key != user_key(step.user or ""):
        raise ValueError(f"after is for {user.email}")
    return user


def _check_route(kind: StepKind, step: Step) -> None:
    """An access step goes only by its own route (a grant ends with Partner Admin)."""
    route_before, route_after = kind.route
    before = step.before.access if step.before is not None else None
    after = step.after.access if step.after is not None else None
    if route_after is not None and (after is None or after.kind != route_after):
        raise ValueError(f"{step.type} must end with access {route_after!r}")
    if route_before is not None and (before is None or before.kind != route_before):
        raise ValueError(f"{step.type} must start from access {route_before!r}")


def _expect(account: int, verb: str, current: User, expected: Mapping[str, object]) -> None:
    """Refuse a step planned against another state of the fields it touches."""
    for name, was in expected.items():
        is_ = getattr(current, name)
        if is_ != was:
            reason = f"stale step: {name} is {_show(is_)}, the plan expected {_show(was)}"
            raise refused(account, verb, current.email, STALE, reason)


# -- journal messages -----------------------------------------------------------------


def describe(user: User) -> str:
    return f"{user.email} ({user.access}, {user.seat} seat)"


def describe_write(current: User | None, after: User | None) -> str:
    """What turning ``current`` into ``after`` did, for the journal."""
    if current is None:
        assert after is not None
        return f"created {describe(after)}"
    if after is None:
        return f"removed {current.email}"
    changes = [
        f"{name} {_show(getattr(current, name))} -> {_show(getattr(after, name))}"
        for name in USER_FIELDS
        if getattr(current, name) != getattr(after, name)
    ]
    return f"{current.email}: {', '.join(changes) or 'no change'}"


def _show(value: object) -> str:
    if isinstance(value, Access):
        return str(value)
    if isinstance(value, Teams | Permissions):
        return json.dumps(value.to_data(), sort_keys=True)
    return repr(value)
