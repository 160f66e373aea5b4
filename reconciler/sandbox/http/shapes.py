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

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from json.encoder import encode_basestring as _string
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
from reconciler.sandbox.rows import UserRow, teams_of

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


def user_text(row: UserRow, names: Names, api: ApiVersion, welcome: bool = False) -> str:
    """The user as JSON; ``welcome``: its ``sendWelcomeEmail`` (what a create was asked)."""
    user = row.user
    kind, role = user.access.kind, user.access.role
    middle = _middle(kind, role, user.seat, user.teams, names, api, welcome)
    return _user_text(row.id, user.email, middle, user.first_name, user.last_name)


def users_text(rows: Iterable[Sequence[Any]], names: Names, api: ApiVersion) -> str:
    """Users as a JSON list's items, from rows of :data:`~reconciler.sandbox.http.reads.USER_COLUMNS`.

    Most users of an account share their access, seat and teams: the JSON of those is
    written once per distinct value, not once per user.
    """
    middles: dict[str, str] = {}
    texts = []
    for user_id, email, first, last, shared in rows:
        middle = middles.get(shared)
        if middle is None:
            kind, role, seat, primary, secondary = json.loads(shared)
            teams = teams_of(primary, secondary)
            middle = middles[shared] = _middle(kind, role, seat, teams, names, api, False)
        texts.append(_user_text(user_id, email, middle, first, last))
    return ",".join(texts)


# A user's JSON object is written field by field: a page of 100 users is served often,
# and a JSON encoder took 25,000 instructions for each user of it. The tests hold these
# functions to what ``json.dumps`` makes of the same fields.


def _user_text(user_id: int, email: str, middle: str, first: str | None, last: str | None) -> str:
    """The object, ``middle`` being its fields from ``roleIds`` to ``primaryTeamId``."""
    first_text = "null" if first is None else _string(first)
    last_text = "null" if last is None else _string(last)
    return (
        f'{{"id":"{user_id:d}","email":{_string(email)}{middle},'
        f'"firstName":{first_text},"lastName":{last_text}}}'
    )


def _middle(
    kind: str,
    role: str | None,
    seat: str,
    teams: Teams,
    names: Names,
    api: ApiVersion,
    welcome: bool,
) -> str:
    """The fields from ``roleIds`` to ``primaryTeamId``, each after a comma."""
    role_id: str | None = None
    if kind == "role":
        role_id = names.role_ids.get(role or "")
    elif kind == "partner_admin":
        role_id = PARTNER_ADMIN_ROLE_ID
    team_ids = names.team_ids
    text = [
        ',"roleIds":',
        f"[{_string(role_id)}]" if role_id else "[]",
        ',"superAdmin":',
        "true" if kind == "super_admin" else "false",
        ',"secondaryTeamIds":[',
        ",".join([_string(team_ids[t]) for t in teams.secondary]),
        '],"sendWelcomeEmail":',
        "true" if welcome else "false",
    ]
    if api.has_seats:
        seats = f"[{_string(names.seat_names.get(seat, seat))}]" if seat != "none" else "[]"
        text += (',"seatNames":', seats)
    if role_id:
        text += (',"roleId":', _string(role_id))
    if teams.primary:
        text += (',"primaryTeamId":', _string(team_ids[teams.primary]))
    return "".join(text)


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
