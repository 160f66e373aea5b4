"""A user as HubSpot's user provisioning API shows it and takes it, version by version.

Each version shows and takes exactly the fields its documents list
(:mod:`reconciler.providers.hubspot.versions`): ``seatNames`` only in
``2026-09-beta``. A request field the version does not document, a ``null``
(no field is documented as nullable) or a value of the wrong type is refused
with a 400, the stricter of the ways HubSpot could answer. What the public API
cannot do (making or unmaking Super Admins, applying Partner Admin, assigning
the partner seat) is refused as the body is read, and so is an email holding a
control or format character (:func:`check_email`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.model import PAID_SEATS, Access, Teams, User
from reconciler.providers.hubspot.versions import (
    BILLING_WRITE_SCOPE,
    CRM_READ_SCOPE,
    CRM_WRITE_SCOPE,
    READ_SCOPE,
    TEAMS_READ_SCOPE,
    WRITE_SCOPE,
    ApiVersion,
)
from reconciler.sandbox.http.errors import invalid, missing_scope
from reconciler.sandbox.rows import UserRow

DEFAULT_PARTNER_ADMIN_ROLE = "Partner Admin"
#: The id of the Partner Admin permission set. Stored permission sets are numbered
#: from 1, so this never names one of them.
PARTNER_ADMIN_ROLE_ID = "0"

#: The scopes an endpoint accepts: any one of them will do.
READ = frozenset({READ_SCOPE, CRM_READ_SCOPE})
WRITE = frozenset({WRITE_SCOPE, CRM_WRITE_SCOPE})
TEAMS_READ = frozenset({TEAMS_READ_SCOPE})
#: Paid seats, and permission sets that carry one, need this scope as well.
BILLING_WRITE = BILLING_WRITE_SCOPE


@dataclass(frozen=True)
class Names:
    """How one account names its permission sets, teams and seats, for one request."""

    role_ids: Mapping[str, str]
    roles: Mapping[str, tuple[str, str | None]]
    team_ids: Mapping[str, str]
    teams: Mapping[str, str]
    seat_names: Mapping[str, str]
    partner_admin_role: str


def user_json(row: UserRow, names: Names, api: ApiVersion) -> dict[str, Any]:
    user = row.user
    kind = user.access.kind
    role_id: str | None = None
    if kind == "role":
        role_id = names.role_ids.get(user.access.role or "")
    elif kind == "partner_admin":
        role_id = PARTNER_ADMIN_ROLE_ID
    primary, secondary = user.teams.primary, user.teams.secondary
    team_ids = names.team_ids
    data: dict[str, Any] = {
        "id": str(row.id),
        "email": user.email,
        "roleIds": [role_id] if role_id else [],
        "superAdmin": kind == "super_admin",
        "secondaryTeamIds": [team_ids[t] for t in secondary] if secondary else [],
        "sendWelcomeEmail": False,
    }
    if api.has_seats:
        seat = user.seat
        data["seatNames"] = [names.seat_names.get(seat, seat)] if seat != "none" else []
    if role_id:
        data["roleId"] = role_id
    if primary:
        data["primaryTeamId"] = team_ids[primary]
    data["firstName"] = user.first_name
    data["lastName"] = user.last_name
    return data


def check_body(body: Mapping[str, Any], api: ApiVersion, *, creating: bool) -> None:
    """Refuse what the version does not document: unknown fields, nulls, wrong types."""
    allowed = api.create_fields if creating else api.update_fields
    for key in sorted(body):
        if key not in allowed:
            raise invalid(
                f"Unknown field {key!r}: the {api.name} API takes {', '.join(sorted(allowed))}",
                key,
                "UNKNOWN_FIELD",
            )
    if creating:
        for key in ("email", "sendWelcomeEmail"):
            if key not in body:
                raise invalid(f"{key} is required", key, "REQUIRED_FIELD")
    for key, value in body.items():
        if key == "email" and isinstance(value, str):
            check_email(value, key)
            continue
        if key == "sendWelcomeEmail":
            fine = isinstance(value, bool)
        elif key in ("secondaryTeamIds", "seatNames"):
            fine = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            fine = isinstance(value, str)
        if not fine:
            kind = {"sendWelcomeEmail": "a boolean", "secondaryTeamIds": "a list of strings"}
            expected = kind.get(key, "a list of strings" if key == "seatNames" else "a string")
            raise invalid(f"{key} must be {expected}, not {_json_kind(value)}", key)


def check_email(value: str, field_name: str) -> None:
    """Refuse an email holding a character no address has, before it is stored or looked up.

    Such a character is not printable in Python's sense: a control (C0, DEL, C1),
    a format character (bidi overrides such as U+202E, zero-width characters), a
    line or paragraph separator (U+2028, U+2029), a surrogate, a space other
    than U+0020, a private-use or unassigned code point. Stored, it would
    forge log lines and show one address as another. The answer names the
    character by its code point and never echoes it.
    """
    if value.isprintable():
        return
    bad = next(c for c in value if not c.isprintable())
    message = f"{field_name} is not an email address: it holds the character U+{ord(bad):04X}"
    raise invalid(message, field_name)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "an object"
    )


def user_from_body(
    current: User, body: Mapping[str, Any], names: Names, scopes: Collection[str], *, creating: bool
) -> User:
    """The user as a checked request body makes it (:func:`check_body`); absent fields stay."""
    user = current
    billing = BILLING_WRITE in scopes
    role_seat: str | None = None
    if "roleId" in body:
        user, role_seat = _with_role(user, body["roleId"], names, billing)
    if "seatNames" in body:
        user = replace(user, seat=_seat(body["seatNames"], names))
    elif creating and role_seat is not None:
        user = replace(user, seat=role_seat)
    paid = user.seat in PAID_SEATS or current.seat in PAID_SEATS
    if user.seat != current.seat and paid and not billing:
        raise missing_scope(BILLING_WRITE)
    primary, secondary = current.teams.primary, current.teams.secondary
    if "primaryTeamId" in body:
        primary = _team(body["primaryTeamId"], names, "primaryTeamId")
    if "secondaryTeamIds" in body:
        secondary = tuple(_team(i, names, "secondaryTeamIds") for i in body["secondaryTeamIds"])
    user = replace(user, teams=Teams(primary, secondary))
    first, last = user.first_name, user.last_name
    if "firstName" in body:
        first = body["firstName"]
    if "lastName" in body:
        last = body["lastName"]
    return replace(user, first_name=first, last_name=last)


def _with_role(user: User, role_id: str, names: Names, billing: bool) -> tuple[User, str | None]:
    """Apply ``roleId``; the role's seat, if any."""
    if user.access.kind == "super_admin":
        raise invalid(
            "The permission set of a Super Admin cannot be changed through this API; "
            "turn off Super Admin in the account's settings first",
            "roleId",
            "SUPER_ADMIN_READ_ONLY",
        )
    if role_id == PARTNER_ADMIN_ROLE_ID:
        if user.access.kind == "partner_admin":
            return user, None
        raise invalid(
            f"The {names.partner_admin_role} permission set cannot be applied through this API",
            "roleId",
            "PARTNER_ADMIN_NOT_ASSIGNABLE",
        )
    found = names.roles.get(role_id)
    if found is None:
        raise invalid(f"Role with id {role_id} does not exist", "roleId", "INVALID_ROLE")
    name, seat = found
    was = names.roles.get(names.role_ids.get(user.access.role or "", ""), ("", None))[1]
    changed = Access("role", name) != user.access
    if changed and (seat in PAID_SEATS or was in PAID_SEATS) and not billing:
        # "Whether this role has a paid seat and requires the billing-write scope to
        # assign/unassign to users."
        raise missing_scope(BILLING_WRITE)
    return user.with_access(Access("role", name)), seat


def _seat(value: list[str], names: Names) -> str:
    if not value:
        return "none"
    if len(value) > 1:
        raise invalid("A user holds one seat in this account", "seatNames", "TOO_MANY_SEATS")
    seat_by_name = {name: seat for seat, name in names.seat_names.items()}
    seat = seat_by_name.get(value[0])
    if seat is None:
        known = ", ".join(sorted(seat_by_name)) or "none"
        raise invalid(
            f"Seat {value[0]!r} does not exist (seats: {known})", "seatNames", "INVALID_SEAT"
        )
    if seat == "partner":
        raise invalid(
            f"The {value[0]} cannot be assigned through this API",
            "seatNames",
            "PARTNER_SEAT_NOT_ASSIGNABLE",
        )
    return seat


def _team(team_id: str, names: Names, field_name: str) -> str:
    name = names.teams.get(team_id)
    if name is None:
        raise invalid(f"Team with id {team_id} does not exist", field_name, "INVALID_TEAM")
    return name
