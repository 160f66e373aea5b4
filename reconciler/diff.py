"""Keyed diff of desired vs current: by account, then by lower-cased email, field by field.

Fields the config does not set (None in DesiredUser) are not managed and never
diffed; neither is anything the provider reported as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from reconciler.model import (
    LEAVER_REASON,
    LEAVERS,
    UNKNOWN_SEAT,
    AccountState,
    DesiredAccount,
    DesiredUser,
    Permissions,
    Teams,
    User,
)

CREATE = "create"
REMOVE = "remove"
UPDATE = "update"
UNMANAGED = "unmanaged"

FIELDS: tuple[str, ...] = ("access", "seat", "permissions", "teams", "name")

#: The user fields a config may manage, and what a person calls them.
MANAGED: Mapping[str, str] = {
    "access": "access level",
    "seat": "seat",
    "teams": "teams",
    "permissions": "individual permissions",
    "first_name": "first name",
    "last_name": "last name",
}


@dataclass(frozen=True)
class UserChange:
    """How one user must change. ``target`` is the whole user as it should end up."""

    key: str
    kind: str
    current: User | None
    target: User | None
    fields: tuple[str, ...] = ()
    source: str | None = None
    reason: str = ""


def desired_target(
    desired: DesiredAccount, key: str, current: User | None, unknown: frozenset[str]
) -> User:
    """The user as it should be: current values for every field the config leaves alone."""
    want = desired.users[key]
    if current is None:
        # A new user: what the config leaves alone is a new user's (never the unknown seat).
        changes: dict[str, object] = {
            field: value
            for field in MANAGED
            if (value := getattr(want, field)) is not None and f"{key}.{field}" not in unknown
        }
        changes.setdefault("teams", Teams())
        changes.setdefault("permissions", Permissions())
        return User(email=want.email, **changes)  # type: ignore[arg-type]
    changes = {
        field: value
        for field in MANAGED
        if (value := getattr(want, field)) is not None
        and (f"{key}.{field}" not in unknown or getattr(current, field) == UNKNOWN_SEAT)
    }
    return replace(current, **changes)  # type: ignore[arg-type]


def changed_fields(current: User, target: User) -> tuple[str, ...]:
    fields = []
    if current.access != target.access:
        fields.append("access")
    if current.seat != target.seat:
        fields.append("seat")
    if current.permissions != target.permissions:
        fields.append("permissions")
    if current.teams != target.teams:
        fields.append("teams")
    if (current.first_name, current.last_name) != (target.first_name, target.last_name):
        fields.append("name")
    return tuple(fields)


def assume_unknown(
    desired: DesiredAccount, current: AccountState
) -> tuple[AccountState, list[str]]:
    """Take what the provider cannot read to be as the config says, and say so.

    The plan never changes a field it cannot see (it would change it again on
    every run), and the invariants are checked as if the configured value were
    there; the warning tells a reviewer what to check by hand.

    Seats are the exception: a seat costs money and a person can check it, so an
    unreadable seat is taken as configured only once a person has confirmed it
    (``seat_confirmed``, or a Partner Admin's partner seat, which HubSpot itself
    guarantees). Until then it is :data:`UNKNOWN_SEAT`, and the plan keeps a
    step to set it.
    """
    if not current.unknown:
        return current, []
    changes: dict[str, dict[str, object]] = {}
    assumed: dict[str, list[str]] = {}
    for entry in current.unknown:  # in any order: the notes are sorted below
        # "email.field": an email has dots of its own, a field none.
        key, _, field = entry.rpartition(".")
        if field not in MANAGED:
            continue
        want, have = desired.users.get(key), current.users.get(key)
        if want is None or have is None or want.state != "present":
            continue
        value = getattr(want, field)
        if value is None:
            continue
        if field == "seat":
            confirmed = seat_confirmed(want, have, current.unknown)
            changes.setdefault(key, {})["seat"] = value if confirmed else UNKNOWN_SEAT
            continue
        changes.setdefault(key, {})[field] = value
        if value != getattr(have, field):
            assumed.setdefault(MANAGED[field], []).append(have.email)
    if not changes:
        return current, []
    users = dict(current.users)
    for key, changed in changes.items():
        users[key] = replace(users[key], **changed)  # type: ignore[arg-type]
    notes = [
        f"cannot read the {label} of {', '.join(sorted(emails))}; assumed as configured, check by hand"
        for label, emails in sorted(assumed.items())
    ]
    return replace(current, users=users), notes


def seat_confirmed(want: DesiredUser, have: User, unknown: frozenset[str]) -> bool:
    """Whether an unreadable seat is known all the same to be the configured one."""
    if want.seat_confirmed is not None and want.seat_confirmed == want.seat:
        return True
    # HubSpot gives Partner Admin only to a user holding the partner seat.
    return (
        want.seat == "partner"
        and have.access.kind == "partner_admin"
        and f"{have.key}.access" not in unknown
    )


def matches(want: DesiredUser, have: User) -> bool:
    """True when every field the config manages already has its value (the common case, fast)."""
    return (
        (want.access is None or want.access == have.access)
        and (want.seat is None or want.seat == have.seat)
        and (want.first_name is None or want.first_name == have.first_name)
        and (want.last_name is None or want.last_name == have.last_name)
        and (want.teams is None or want.teams == have.teams)
        and (want.permissions is None or want.permissions == have.permissions)
    )


def diff_account(desired: DesiredAccount, current: AccountState) -> list[UserChange]:
    """Every user that must change, in email order (the planner decides the real order)."""
    changes: list[UserChange] = []
    for key in sorted(desired.users.keys() | current.users.keys()):
        want = desired.users.get(key)
        have = current.users.get(key)
        if want is None:
            assert have is not None
            changes.append(UserChange(key, UNMANAGED, have, None, reason="not in the config"))
        elif want.state == "absent":
            if have is not None:
                why = LEAVER_REASON if want.origin == LEAVERS else "state: absent"
                changes.append(
                    UserChange(key, REMOVE, have, None, source=_source(want), reason=why)
                )
        elif have is None:
            target = desired_target(desired, key, None, current.unknown)
            changes.append(
                UserChange(
                    key, CREATE, None, target, FIELDS, _source(want), "declared in the config"
                )
            )
        elif matches(want, have):
            # Every configured value is already there: desired_target would change nothing.
            continue
        else:
            target = desired_target(desired, key, have, current.unknown)
            fields = changed_fields(have, target)
            if fields:
                changes.append(
                    UserChange(
                        key, UPDATE, have, target, fields, _source(want), "differs from the config"
                    )
                )
    return changes


def _source(want: DesiredUser) -> str | None:
    """Where the config declares the user, for the steps it leads to."""
    return str(want.source) if want.source is not None else None
