"""Merged, valid declarations → the typed desired state (:class:`~reconciler.model.Config`).

Runs only after the schema and the rules passed, so it trusts the data's shape.
Fields a user does not give (directly or through a profile) stay ``None``:
the planner leaves them as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from reconciler.config.fleet import FleetUsers
from reconciler.config.positions import lookup
from reconciler.config.rules import Declarations, Declared, effective_user, partner_of
from reconciler.cost import SeatPrices
from reconciler.model import (
    Access,
    Config,
    DesiredAccount,
    DesiredUser,
    Location,
    Permissions,
    ProviderConfig,
    RemovalLimit,
    Teams,
    user_key,
)

DEFAULT_UNMANAGED = "ignore"
DEFAULT_MIN_SUPER_ADMINS = 1
DEFAULT_MAX_REMOVALS = "25%"


def build_config(found: Declarations, files: tuple[str, ...], root: str) -> Config:
    """``root`` is the path given; without a provider block, paths resolve against it."""
    partner = partner_of(found.partner[0].data)
    defaults: Mapping[str, Any] = found.defaults[0].data if found.defaults else {}
    profiles = {name: block.data for name, block in found.profiles.items()}
    values = _Values()
    fleet = FleetUsers(found.partner[0], lambda user, at: _user(user, profiles, at, values))
    accounts = tuple(
        _account(block, defaults, profiles, partner.actor, values, fleet)
        for block in found.accounts
    )
    prices = found.seat_prices[0].data if found.seat_prices else None
    return Config(
        partner=partner,
        accounts=accounts,
        provider=_provider(found.provider[0] if found.provider else None, root),
        files=files,
        root=root if os.path.isdir(root) else os.path.dirname(root) or ".",
        seat_prices=SeatPrices.from_data(prices) if prices is not None else None,
    )


def removal_limit(value: int | str) -> RemovalLimit:
    """``max_removals``: ``3`` is a count, ``"25%"`` a share of the account's current users."""
    if isinstance(value, str):
        return RemovalLimit(percent=float(value.rstrip("%")))
    return RemovalLimit(count=int(value))


def _account(
    block: Declared,
    defaults: Mapping[str, Any],
    profiles: Mapping[str, Mapping[str, Any]],
    actor: str,
    values: _Values,
    fleet: FleetUsers,
) -> DesiredAccount:
    """One account's desired users: its own, then partner.users and leavers it does not declare."""
    data = block.data
    declared = data.get("users") or ()
    document = block.document
    file = document.file
    pointers = [f"{block.pointer}/users/{index}" for index in range(len(declared))]
    users: dict[str, DesiredUser] = {}
    # Every user's place in one pass over the file's positions, not one search each.
    places = lookup(document.positions, pointers)
    for user, pointer, place in zip(declared, pointers, places, strict=True):
        line, col = (place[0], place[1]) if place is not None else document.locate(pointer)
        desired = _user(user, profiles, Location(file, line, col, pointer), values)
        users[user_key(desired.email)] = desired
    fleet.expand(int(data["id"]), users)
    return DesiredAccount(
        id=int(data["id"]),  # JSON Schema counts 4410021.0 as an integer too
        name=data.get("name"),
        users=users,
        actor=user_key(data.get("actor") or actor),
        token_env=data.get("token_env"),
        unmanaged_users=data.get(
            "unmanaged_users", defaults.get("unmanaged_users", DEFAULT_UNMANAGED)
        ),
        min_super_admins=int(
            data.get("min_super_admins", defaults.get("min_super_admins", DEFAULT_MIN_SUPER_ADMINS))
        ),
        max_removals=removal_limit(
            data.get("max_removals", defaults.get("max_removals", DEFAULT_MAX_REMOVALS))
        ),
        source=block.location(),
    )


def _user(
    user: Mapping[str, Any],
    profiles: Mapping[str, Mapping[str, Any]],
    source: Location,
    values: _Values,
) -> DesiredUser:
    email = user["email"].strip()
    if user.get("state") == "absent":
        return DesiredUser(email=email, state="absent", source=source)
    profile = profiles.get(user["profile"]) if "profile" in user else None
    # Only read: a user without a profile is its own effective user, not copied.
    data = user if profile is None else effective_user(user, profile)
    access = data.get("access")
    teams = data.get("teams")
    permissions = data.get("permissions")
    return DesiredUser(
        email=email,
        state="present",
        access=values.access(access) if access is not None else None,
        seat=data.get("seat"),
        seat_confirmed=user.get("seat_confirmed"),
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        teams=values.teams(teams) if teams is not None else None,
        permissions=values.permissions(permissions) if permissions is not None else None,
        source=source,
    )


class _Values:
    """Builds each distinct access level, team set and permission change once.

    Fifty thousand users share a handful of each; the values are frozen, so
    sharing them is safe, and it keeps building the desired state cheap.
    """

    def __init__(self) -> None:
        self._access: dict[Any, Access] = {}
        self._teams: dict[Any, Teams] = {}
        self._permissions: dict[Any, Permissions] = {}

    def access(self, data: str | Mapping[str, str]) -> Access:
        key = data if isinstance(data, str) else ("role", data["role"])
        found = self._access.get(key)
        if found is None:
            found = self._access[key] = Access.parse(data)
        return found

    def teams(self, data: Mapping[str, Any]) -> Teams:
        key = (data.get("primary"), tuple(data.get("secondary") or ()))
        found = self._teams.get(key)
        if found is None:
            found = self._teams[key] = Teams.from_data(data)
        return found

    def permissions(self, data: Mapping[str, Any]) -> Permissions:
        key = (tuple(data.get("add") or ()), tuple(data.get("remove") or ()))
        found = self._permissions.get(key)
        if found is None:
            found = self._permissions[key] = Permissions.from_data(data)
        return found


def _provider(block: Declared | None, root: str) -> ProviderConfig:
    if block is None:
        base = root if os.path.isdir(root) else os.path.dirname(root) or "."
        return ProviderConfig(base_dir=base)
    options = {key: value for key, value in block.data.items() if key != "type"}
    base = os.path.dirname(block.document.file) or "."
    return ProviderConfig(type=block.data["type"], options=options, base_dir=base)
