"""The domain as frozen values: who has what access in which account.

Pure: no I/O. Desired state (from config) and current state (from a provider)
share these types so the diff compares like with like. Users are keyed by
their lower-cased email everywhere (HubSpot compares emails case-insensitively).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.cost import SeatPrices

SEATS: tuple[str, ...] = ("partner", "core", "sales", "service", "view_only", "none")
PAID_SEATS: tuple[str, ...] = ("core", "sales", "service")
#: A seat the provider cannot read and no person has confirmed: never a desired
#: seat, so the plan keeps a step to set the seat until someone confirms it.
UNKNOWN_SEAT = "unknown"


def unknown_capacity(seat: str) -> str:
    """The ``AccountState.unknown`` entry for a paid seat type whose count cannot be read."""
    return f"seats_owned.{seat}"


ACCESS_KINDS: tuple[str, ...] = ("super_admin", "partner_admin", "role", "basic")
PARTNER_ACCESS: tuple[str, ...] = ("none", "pending", "granted")
UNMANAGED_POLICIES: tuple[str, ...] = ("ignore", "report", "remove")


def user_key(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, order=True)
class Access:
    """Exactly one per user: ``super_admin``, ``partner_admin``, ``basic`` or a role by name."""

    kind: str
    role: str | None = None

    @classmethod
    def parse(cls, value: object) -> Access:
        if isinstance(value, Mapping):
            return cls("role", str(value["role"]))
        return cls(str(value))

    def to_data(self) -> str | dict[str, str]:
        if self.kind == "role":
            return {"role": self.role or ""}
        return self.kind

    def __str__(self) -> str:
        labels = {"super_admin": "Super Admin", "partner_admin": "Partner Admin", "basic": "basic"}
        if self.kind == "role":
            return f"role '{self.role}'"
        return labels.get(self.kind, self.kind)


#: Access kinds that are permission sets: applying one resets individual permissions.
PERMISSION_SETS = frozenset({"partner_admin", "role"})

SUPER_ADMIN = Access("super_admin")
PARTNER_ADMIN = Access("partner_admin")
BASIC = Access("basic")


@dataclass(frozen=True)
class Teams:
    """A primary team and secondary teams, by name."""

    primary: str | None = None
    secondary: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "secondary", tuple(sorted(set(self.secondary))))

    def names(self) -> tuple[str, ...]:
        return ((self.primary,) if self.primary else ()) + self.secondary

    def to_data(self) -> dict[str, Any]:
        return {"primary": self.primary, "secondary": list(self.secondary)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Teams:
        return cls(data.get("primary"), tuple(data.get("secondary") or ()))


@dataclass(frozen=True)
class Permissions:
    """Individual permission changes on top of the access level."""

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()

    def to_data(self) -> dict[str, list[str]]:
        return {"add": sorted(self.add), "remove": sorted(self.remove)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Permissions:
        return cls(frozenset(data.get("add") or ()), frozenset(data.get("remove") or ()))

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


@dataclass(frozen=True)
class User:
    """A user as it is (current state) or as it will be after a step."""

    email: str
    access: Access = BASIC
    seat: str = "none"
    first_name: str | None = None
    last_name: str | None = None
    teams: Teams = Teams()
    permissions: Permissions = Permissions()

    @property
    def key(self) -> str:
        return user_key(self.email)

    def with_access(self, access: Access) -> User:
        """The user given ``access``, as HubSpot does it.

        Applying a permission set (Partner Admin or a custom one) replaces the
        user's individual permissions with the set's: the changes made on top of
        the old access level are gone, and must be made again afterwards.
        """
        if access != self.access and access.kind in PERMISSION_SETS:
            return replace(self, access=access, permissions=Permissions())
        return replace(self, access=access)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"email": self.email}
        if self.first_name is not None:
            data["first_name"] = self.first_name
        if self.last_name is not None:
            data["last_name"] = self.last_name
        data["access"] = self.access.to_data()
        data["seat"] = self.seat
        if self.teams.names():
            data["teams"] = self.teams.to_data()
        if self.permissions:
            data["permissions"] = self.permissions.to_data()
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> User:
        return cls(
            email=str(data["email"]),
            access=Access.parse(data.get("access", "basic")),
            seat=str(data.get("seat", "none")),
            first_name=data.get("first_name"),
            last_name=data.get("last_name"),
            teams=Teams.from_data(data.get("teams") or {}),
            permissions=Permissions.from_data(data.get("permissions") or {}),
        )


@dataclass(frozen=True)
class Role:
    """A custom permission set that exists in an account."""

    name: str
    seat: str | None = None
    permissions: frozenset[str] = frozenset()

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.seat:
            data["seat"] = self.seat
        if self.permissions:
            data["permissions"] = sorted(self.permissions)
        return data


@dataclass(frozen=True)
class Partner:
    """The Solutions Partner: who its employees are and who the tool acts as."""

    name: str
    actor: str
    employee_domains: frozenset[str] = frozenset()
    employees: frozenset[str] = frozenset()
    #: ``partner.leavers``: lower-cased emails removed from every account that holds them.
    leavers: tuple[str, ...] = ()

    def is_employee(self, email: str) -> bool:
        key = user_key(email)
        if key in self.employees:
            return True
        return key.rpartition("@")[2] in self.employee_domains


@dataclass(frozen=True)
class AccountState:
    """The current state of one client account, as a provider reads it.

    ``unknown`` lists "email.field" facts the provider could not read (for
    HubSpot, e.g. whether a user is a Partner Admin); the diff never plans a
    change of an unknown field, so plans do not thrash. It also lists paid seat
    types whose count could not be read (:func:`unknown_capacity`): invariant 4
    is not judged for them. ``grants`` is what the provider's credential for
    this account may do (HubSpot: the token's scopes), None where not known.
    """

    id: int
    name: str = ""
    seats_owned: Mapping[str, int] = field(default_factory=dict)
    roles: Mapping[str, Role] = field(default_factory=dict)
    teams: frozenset[str] = frozenset()
    users: Mapping[str, User] = field(default_factory=dict)
    partner_access: str = "granted"
    unknown: frozenset[str] = frozenset()
    grants: frozenset[str] | None = None

    def with_user(self, user: User) -> AccountState:
        users = dict(self.users)
        users[user.key] = user
        return replace(self, users=users)

    def without_user(self, email: str) -> AccountState:
        users = dict(self.users)
        users.pop(user_key(email), None)
        return replace(self, users=users)

    def seats_used(self) -> dict[str, int]:
        used = dict.fromkeys(PAID_SEATS, 0)
        for user in self.users.values():
            if user.seat in used:
                used[user.seat] += 1
        return used

    def to_data(self) -> dict[str, Any]:
        """Canonical data (the snapshot shape): sorted, so it hashes the same every time."""
        return {
            "id": self.id,
            "name": self.name,
            "partner_access": self.partner_access,
            "seats_owned": {k: self.seats_owned[k] for k in sorted(self.seats_owned)},
            "roles": [self.roles[k].to_data() for k in sorted(self.roles)],
            "teams": sorted(self.teams),
            "users": [self.users[k].to_data() for k in sorted(self.users)],
            "unknown": sorted(self.unknown),
            **({"grants": sorted(self.grants)} if self.grants is not None else {}),
        }


@dataclass(frozen=True)
class ReadFailure:
    """Why an account's current state could not be read; that account's plan is this error."""

    message: str


@dataclass(frozen=True)
class Location:
    """Where a value came from: ``file:line:col`` (1-based) and its JSON pointer."""

    file: str
    line: int
    col: int
    pointer: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class DesiredUser:
    """A user as the config wants it. ``None`` fields are not managed: left as they are."""

    email: str
    state: str = "present"
    access: Access | None = None
    seat: str | None = None
    #: The seat a person confirmed by hand, where the provider cannot read seats.
    seat_confirmed: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    teams: Teams | None = None
    permissions: Permissions | None = None
    source: Location | None = None

    @property
    def key(self) -> str:
        return user_key(self.email)

    @property
    def origin(self) -> str:
        """Where the config declares this user: an account, ``partner.users`` or ``partner.leavers``."""
        pointer = self.source.pointer if self.source is not None else ""
        if pointer.startswith("/partner/"):
            for origin, prefix in _ORIGIN_PREFIXES:
                if pointer.startswith(prefix):
                    return origin
        return "accounts"


#: The fleet-wide blocks of ``partner``: people every account gets, people no account keeps.
PARTNER_USERS = "partner.users"
LEAVERS = "partner.leavers"
#: Each fleet-wide block, and how the pointers to its users begin.
_ORIGIN_PREFIXES = tuple(
    (key, "/" + key.replace(".", "/") + "/") for key in (PARTNER_USERS, LEAVERS)
)
#: The reason of a step that removes a leaver; plans group these under "offboarding".
LEAVER_REASON = "leaver (partner.leavers)"


@dataclass(frozen=True)
class RemovalLimit:
    """``max_removals``: a count, or a percentage of the account's current users."""

    count: int | None = None
    percent: float | None = None

    def allowed(self, current_users: int) -> int:
        if self.count is not None:
            return self.count
        assert self.percent is not None
        # Rounded up: a percentage always lets one leaver go from a small account.
        return math.ceil(current_users * self.percent / 100)

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"


@dataclass(frozen=True)
class DesiredAccount:
    id: int
    name: str | None = None
    users: Mapping[str, DesiredUser] = field(default_factory=dict)
    actor: str = ""
    token_env: str | None = None
    unmanaged_users: str = "ignore"
    min_super_admins: int = 1
    max_removals: RemovalLimit = RemovalLimit(percent=25)
    source: Location | None = None


@dataclass(frozen=True)
class ProviderConfig:
    """The ``provider`` block: its type and the rest of its options, as written."""

    type: str = "sandbox"
    options: Mapping[str, Any] = field(default_factory=dict)
    base_dir: str = "."


@dataclass(frozen=True)
class Config:
    partner: Partner
    accounts: tuple[DesiredAccount, ...]
    provider: ProviderConfig = ProviderConfig()
    files: tuple[str, ...] = ()
    #: The configuration directory (the path given, or the folder of the file given);
    #: empty: the provider block's folder.
    root: str = ""
    #: ``seat_prices``: what each seat type costs per month; None: not set, no cost shown.
    seat_prices: SeatPrices | None = None

    def account(self, account_id: int) -> DesiredAccount | None:
        for account in self.accounts:
            if account.id == account_id:
                return account
        return None
