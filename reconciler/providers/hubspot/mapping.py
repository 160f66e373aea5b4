"""HubSpot's user JSON ↔ the model, through the names the config gives.

The public API names neither Partner Admin nor seats the way the model does:
Partner Admin is the permission set named ``partner_admin_role``, and seats
are ``seatNames`` (only in the API versions that have them) mapped by
``seat_names``. What cannot be read with certainty (seats in a version without
them, a seat with no mapping, several seats or permission sets, a team or set
that is not listed, names the API left out, individual permission changes,
which the API never shows) is reported as unknown. Bodies carry only the
fields the chosen version documents, and never ``null``: how to clear a field
is not documented, so clearing is a step for a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from reconciler.errors import ProviderError
from reconciler.fields import NAMES, Fields
from reconciler.model import (
    BASIC,
    PAID_SEATS,
    PARTNER_ADMIN,
    SUPER_ADMIN,
    UNKNOWN_SEAT,
    Access,
    DesiredAccount,
    Teams,
    User,
    user_key,
)
from reconciler.providers.hubspot.versions import DEFAULT_SEAT_NAMES, ApiVersion

PROVIDER = "hubspot"
#: Seats the API may assign; the partner seat comes only with an access request.
WRITABLE_SEATS: tuple[str, ...] = ("core", "sales", "service", "view_only")
#: A user in no team (shared: a ``Teams`` is frozen).
NO_TEAMS = Teams()


@dataclass(frozen=True)
class SeatNames:
    """Our seat names ↔ HubSpot's ``seatNames`` (``provider.seat_names``)."""

    theirs: Mapping[str, str]

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SeatNames:
        """HubSpot's documented names, each replaced where ``seat_names`` names it."""
        given = {str(k): str(v) for k, v in (options.get("seat_names") or {}).items()}
        return cls({**DEFAULT_SEAT_NAMES, **given})

    def ours(self, name: str) -> str | None:
        return self._ours.get(name)

    @cached_property
    def _ours(self) -> dict[str, str]:
        """HubSpot's name → ours; where two of ours share a name, the first."""
        found: dict[str, str] = {}
        for seat, theirs in self.theirs.items():
            found.setdefault(theirs, seat)
        return found

    def writable(self) -> frozenset[str]:
        """``none`` (no seat names) always; the others once their HubSpot names are known."""
        return frozenset({"none"} | {s for s in WRITABLE_SEATS if s in self.theirs})

    def names_for(self, seat: str) -> list[str]:
        if seat == "none":
            return []
        name = self.theirs.get(seat)
        if name is None or seat not in WRITABLE_SEATS:
            raise ValueError(f"the {seat} seat cannot be assigned through the API")
        return [name]


@dataclass(frozen=True)
class Directory:
    """An account's permission sets and teams, by id and by name."""

    role_names: Mapping[str, str]
    team_names: Mapping[str, str]
    partner_admin_id: str | None

    @classmethod
    def from_results(
        cls, roles: list[Mapping[str, Any]], teams: list[Mapping[str, Any]], partner_admin: str
    ) -> Directory:
        partner_admin_id = None
        role_names: dict[str, str] = {}
        for role in roles:
            if role.get("name") == partner_admin:
                partner_admin_id = str(role["id"])
            else:
                role_names[str(role["id"])] = str(role["name"])
        team_names = {str(team["id"]): str(team["name"]) for team in teams}
        return cls(role_names, team_names, partner_admin_id)

    @cached_property
    def accesses(self) -> dict[str, Access]:
        """The access a user with exactly this one permission set has, by the set's id."""
        found: dict[str, Access] = {i: Access("role", name) for i, name in self.role_names.items()}
        if self.partner_admin_id is not None:
            found[self.partner_admin_id] = PARTNER_ADMIN
        return found

    def role_id(self, name: str, account: int) -> str:
        for role_id, role_name in self.role_names.items():
            if role_name == name:
                return role_id
        raise ProviderError(
            f"permission set {name!r} is not among the account's roles",
            provider=PROVIDER,
            account=account,
        )

    def team_id(self, name: str, account: int) -> str:
        for team_id, team_name in self.team_names.items():
            if team_name == name:
                return team_id
        raise ProviderError(
            f"team {name!r} is not among the account's teams", provider=PROVIDER, account=account
        )


def read_users(
    results: list[Mapping[str, Any]], directory: Directory, seats: SeatNames, api: ApiVersion
) -> tuple[dict[str, User], set[str]]:
    """The users by key, and the fields of them that are unknown (``email.field``).

    Raises KeyError, TypeError or ValueError at the first user that cannot be read.
    Users share their teams where they have the same (the values are frozen).
    """
    users: dict[str, User] = {}
    unknown: set[str] = set()
    shared: dict[tuple[str | None, tuple[str, ...]], Teams] = {}
    for data in results:
        user = _read_user(data, directory, seats, api, unknown, shared)
        users[user.key] = user
    return users, unknown


def _read_user(
    data: Mapping[str, Any],
    directory: Directory,
    seats: SeatNames,
    api: ApiVersion,
    unknown: set[str],
    shared: dict[tuple[str | None, tuple[str, ...]], Teams],
) -> User:
    """One user; what of it is unknown is added to ``unknown`` (lower-cased email first)."""
    email = str(data["email"])
    key = user_key(email)
    unknown.add(f"{key}.permissions")
    access = _access(data, directory)
    if access is None:
        unknown.add(f"{key}.access")
    seat = _seat(data, seats) if api.has_seats else None
    if seat is None:
        unknown.add(f"{key}.seat")
    teams = _teams(data, directory, shared)
    if teams is None:
        unknown.add(f"{key}.teams")
    first_name = last_name = None
    if "firstName" in data:
        value = data["firstName"]
        first_name = str(value) if value is not None else None
    else:
        unknown.add(f"{key}.first_name")
    if "lastName" in data:
        value = data["lastName"]
        last_name = str(value) if value is not None else None
    else:
        unknown.add(f"{key}.last_name")
    # Placeholders for what is unknown: never diffed, and chosen so that the
    # invariants see what HubSpot itself guarantees (a Partner Admin holds the
    # partner seat).
    access = access or BASIC
    if seat is None:
        seat = "partner" if access.kind == "partner_admin" else "none"
    return User(
        email=email,
        access=access,
        seat=seat,
        first_name=first_name,
        last_name=last_name,
        teams=teams or NO_TEAMS,
    )


def _access(data: Mapping[str, Any], directory: Directory) -> Access | None:
    # A boolean in the reference; the string form ("true") is read the same way.
    admin = data.get("superAdmin")
    if admin is True or (admin is not False and str(admin).lower() == "true"):
        return SUPER_ADMIN
    ids = {str(i) for i in data.get("roleIds") or ()}
    if data.get("roleId"):
        ids.add(str(data["roleId"]))
    if not ids:
        return BASIC
    if len(ids) > 1:
        return None
    (role_id,) = ids
    return directory.accesses.get(role_id)


def _seat(data: Mapping[str, Any], seats: SeatNames) -> str | None:
    names = data.get("seatNames")
    if not isinstance(names, list):
        return None
    if not names:
        return "none"
    if len(names) > 1:
        return None
    return seats.ours(str(names[0]))


def _teams(
    data: Mapping[str, Any],
    directory: Directory,
    shared: dict[tuple[str | None, tuple[str, ...]], Teams],
) -> Teams | None:
    primary_id = data.get("primaryTeamId")
    primary = None
    if primary_id:
        primary = directory.team_names.get(str(primary_id))
        if primary is None:
            return None
    secondary = []
    for team_id in data.get("secondaryTeamIds") or ():
        name = directory.team_names.get(str(team_id))
        if name is None:
            return None
        secondary.append(name)
    named = (primary, tuple(secondary))
    teams = shared.get(named)
    if teams is None:
        teams = shared[named] = Teams(*named)
    return teams


def seats_owned(
    results: list[Mapping[str, Any]], seats: SeatNames, used: Mapping[str, int]
) -> dict[str, int]:
    """Paid seats the account owns: those in use plus ``remainingSeats``.

    A paid seat the list does not show, or shows without a count, is taken to
    have no room left: the plan then refuses to assign it rather than guess.
    """
    remaining = {
        str(entry.get("name")): entry.get("remainingSeats")
        for entry in results
        if isinstance(entry, Mapping)
    }
    owned: dict[str, int] = {}
    for seat in PAID_SEATS:
        name = seats.theirs.get(seat)
        if name is None:
            continue
        left = remaining.get(name)
        owned[seat] = used.get(seat, 0) + (left if isinstance(left, int) and left > 0 else 0)
    return owned


def create_body(
    after: Mapping[str, Any], directory: Directory, seats: SeatNames, api: ApiVersion, account: int
) -> dict[str, Any]:
    """The create body: role, teams, names and (where the version has them) seat at once."""
    user = User.from_data(after)
    body: dict[str, Any] = {"email": user.email, "sendWelcomeEmail": True}
    if user.first_name is not None:
        body["firstName"] = user.first_name
    if user.last_name is not None:
        body["lastName"] = user.last_name
    if user.access.kind != "basic":
        body.update(access_body(user.access, directory, account))
    if user.teams.names():
        body.update(teams_body(user.teams, directory, account))
    if api.has_seats and user.seat != UNKNOWN_SEAT:
        body["seatNames"] = seat_names(user.seat, seats, account)
    return body


def access_body(access: Access, directory: Directory, account: int) -> dict[str, Any]:
    if access.kind == "role":
        return {"roleId": directory.role_id(access.role or "", account)}
    raise ProviderError(
        f"the HubSpot API cannot make anyone {access}; it is a step for a person",
        provider=PROVIDER,
        account=account,
    )


def teams_body(teams: Teams, directory: Directory, account: int) -> dict[str, Any]:
    """The teams as ids; no primary team is left out (clearing one is not documented)."""
    body: dict[str, Any] = {
        "secondaryTeamIds": [directory.team_id(name, account) for name in teams.secondary]
    }
    if teams.primary:
        body["primaryTeamId"] = directory.team_id(teams.primary, account)
    return body


def seat_names(seat: str, seats: SeatNames, account: int) -> list[str]:
    try:
        return seats.names_for(seat)
    except ValueError as exc:
        raise ProviderError(str(exc), provider=PROVIDER, account=account) from exc


def results_of(data: Any, path: str, account: DesiredAccount) -> list[Mapping[str, Any]]:
    results = data.get("results") if isinstance(data, Mapping) else None
    if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
        raise ProviderError(
            f"GET {path}: the answer has no list of results", provider=PROVIDER, account=account.id
        )
    return results


def next_cursor(data: Any) -> str | None:
    paging = data.get("paging") if isinstance(data, Mapping) else None
    following = paging.get("next") if isinstance(paging, Mapping) else None
    after = following.get("after") if isinstance(following, Mapping) else None
    return str(after) if after not in (None, "") else None


def update_body(
    after: Fields, directory: Directory, seats: SeatNames, account: int
) -> dict[str, Any]:
    """A PUT body: each field a step sets, as this API version names it."""
    body: dict[str, Any] = {}
    if after.access is not None:
        body.update(access_body(after.access, directory, account))
    if after.seat is not None:
        body["seatNames"] = seat_names(after.seat, seats, account)
    if after.teams is not None:
        body.update(teams_body(after.teams, directory, account))
    names = {"first_name": "firstName", "last_name": "lastName"}
    body.update({names[k]: after.value(k) for k in NAMES if after.value(k) is not None})
    return body
