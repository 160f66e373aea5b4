"""A user as HubSpot's Settings User Provisioning API v3 shows it and takes it.

What the public API does not name is presented the way a real account does:
Partner Admin is a permission set and seats are ``seatNames``. What the API
cannot do (making or unmaking Super Admins, applying Partner Admin, assigning
the partner seat) is refused here, as a request body is read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.model import BASIC, PAID_SEATS, Access, Teams, User
from reconciler.sandbox.hubspot_errors import invalid
from reconciler.sandbox.store import UserRow

#: HubSpot's names for the seats, as ``seatNames`` and the seats list show them.
DEFAULT_SEAT_NAMES: Mapping[str, str] = {
    "partner": "Partner Seat",
    "core": "Core Seat",
    "sales": "Sales Hub Seat",
    "service": "Service Hub Seat",
    "view_only": "View-only Seat",
}
DEFAULT_PARTNER_ADMIN_ROLE = "Partner Admin"
#: The id of the Partner Admin permission set. Stored permission sets are numbered
#: from 1, so this never names one of them.
PARTNER_ADMIN_ROLE_ID = "0"

READ = "settings.users.read"
WRITE = "settings.users.write"
TEAMS_READ = "settings.users.teams.read"
#: Paid seats, and permission sets that carry one, need this scope as well.
BILLING_WRITE = "billing-write"


@dataclass(frozen=True)
class Names:
    """How one account names its permission sets, teams and seats, for one request."""

    role_ids: Mapping[str, str]
    roles: Mapping[str, tuple[str, str | None]]
    team_ids: Mapping[str, str]
    teams: Mapping[str, str]
    seat_names: Mapping[str, str]
    partner_admin_role: str


def user_json(row: UserRow, names: Names) -> dict[str, Any]:
    user = row.user
    role_id: str | None = None
    if user.access.kind == "role":
        role_id = names.role_ids.get(user.access.role or "")
    elif user.access.kind == "partner_admin":
        role_id = PARTNER_ADMIN_ROLE_ID
    data: dict[str, Any] = {
        "id": str(row.id),
        "email": user.email,
        "roleIds": [role_id] if role_id else [],
        "superAdmin": user.access.kind == "super_admin",
        "secondaryTeamIds": [names.team_ids[t] for t in user.teams.secondary],
        "seatNames": [names.seat_names.get(user.seat, user.seat)] if user.seat != "none" else [],
        "sendWelcomeEmail": False,
    }
    if role_id:
        data["roleId"] = role_id
    if user.teams.primary:
        data["primaryTeamId"] = names.team_ids[user.teams.primary]
    data["firstName"] = user.first_name
    data["lastName"] = user.last_name
    return data


def user_from_body(
    current: User, body: Mapping[str, Any], names: Names, scopes: Collection[str], *, creating: bool
) -> User:
    """The user as the request body makes it, for a token with ``scopes``; absent fields stay."""
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
        raise invalid(
            f"Assigning or removing a paid seat needs the {BILLING_WRITE} scope",
            "seatNames",
            "MISSING_BILLING_WRITE",
        )
    primary, secondary = current.teams.primary, current.teams.secondary
    if "primaryTeamId" in body:
        primary = _team(body["primaryTeamId"], names, "primaryTeamId")
    if "secondaryTeamIds" in body:
        ids = body["secondaryTeamIds"]
        if ids is None:
            ids = []
        if not isinstance(ids, list):
            raise invalid("secondaryTeamIds must be a list of team ids", "secondaryTeamIds")
        secondary = tuple(
            name for name in (_team(i, names, "secondaryTeamIds") for i in ids) if name is not None
        )
    user = replace(user, teams=Teams(primary, secondary))
    first, last = user.first_name, user.last_name
    if "firstName" in body:
        first = _name(body["firstName"], "firstName")
    if "lastName" in body:
        last = _name(body["lastName"], "lastName")
    return replace(user, first_name=first, last_name=last)


def _with_role(user: User, role_id: Any, names: Names, billing: bool) -> tuple[User, str | None]:
    """Apply ``roleId`` (null or "" removes the permission set); the role's seat, if any."""
    if role_id is not None and not isinstance(role_id, str | int):
        raise invalid("roleId must be a string", "roleId")
    role_id = str(role_id) if role_id is not None else ""
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
    if not role_id:
        return user.with_access(BASIC), None
    found = names.roles.get(role_id)
    if found is None:
        raise invalid(f"Role with id {role_id} does not exist", "roleId", "INVALID_ROLE")
    name, seat = found
    if seat in PAID_SEATS and not billing:
        raise invalid(
            f"Role {name} has a paid seat attached and needs the {BILLING_WRITE} scope",
            "roleId",
            "MISSING_BILLING_WRITE",
        )
    return user.with_access(Access("role", name)), seat


def _seat(value: Any, names: Names) -> str:
    if value is None:
        return "none"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("seatNames must be a list of seat names", "seatNames")
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


def _team(team_id: Any, names: Names, field_name: str) -> str | None:
    if team_id is None or team_id == "":
        return None
    if not isinstance(team_id, str | int):
        raise invalid(f"{field_name} must hold team ids", field_name)
    name = names.teams.get(str(team_id))
    if name is None:
        raise invalid(f"Team with id {team_id} does not exist", field_name, "INVALID_TEAM")
    return name


def _name(value: Any, key: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string", key)
    return value
