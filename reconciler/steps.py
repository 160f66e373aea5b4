"""Step types: what each one is called, touches and does to a user, in one table.

:data:`KINDS` is the one place a step type is described. The planner's order and
simulation, the renderings' titles and symbols, the manual instructions, the
sandbox's verbs, touched fields and access routes, and the plan schema's enum of
types (checked by a test) all read it. What a step does to a user,
:meth:`StepKind.apply_to`, is shared by the planner's simulation and the
sandbox, which adds HubSpot's rules and refusals on top.

A new step type is a :class:`StepType` member, its :class:`StepKind` in
:data:`KINDS`, and its string in ``schemas/plan.schema.json`` (a test compares
them). The planner makes it only where a diff calls for it (an access change by
the route that fits it, :func:`access_step_type`); a provider executes it only
if it lists it. The renderings, manual instructions, the sandbox and HubSpot's
request bodies work field by field, so a type that sets known fields needs
nothing more.

A step's ``before`` and ``after`` are :class:`Fields`: typed values (an
:class:`~reconciler.model.Access`, a seat, :class:`~reconciler.model.Teams`,
:class:`~reconciler.model.Permissions`, names), parsed once when a step is
built or read. As a mapping a ``Fields`` is its JSON, exactly as a plan file
holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum, StrEnum
from typing import Any, Final, NoReturn

from reconciler.model import BASIC, Access, Permissions, Teams, User

#: A user's first and last name: either may be none, and a step may set one alone.
NAMES: tuple[str, ...] = ("first_name", "last_name")
#: Every field of a user a step can read or set, in the order users are written.
USER_FIELDS: tuple[str, ...] = ("access", "seat", "first_name", "last_name", "teams", "permissions")


class StepType(StrEnum):
    """Every step type, by the string plan files hold. Each access change has its own
    type, so a reviewer sees the route."""

    REQUEST_ACCESS = "request_access"
    CREATE_USER = "create_user"
    PROMOTE_SUPER_ADMIN = "promote_super_admin"
    GRANT_PARTNER_ADMIN = "grant_partner_admin"
    MIGRATE_TO_PARTNER_ADMIN = "migrate_to_partner_admin"
    SET_ACCESS = "set_access"
    SET_SEAT = "set_seat"
    SET_PERMISSIONS = "set_permissions"
    SET_TEAMS = "set_teams"
    SET_NAME = "set_name"
    REMOVE_USER = "remove_user"


class Effect(StrEnum):
    """What a step does to an account, whatever its fields."""

    REQUEST = "request"  # asks the client for partner access; no user changes
    CREATE = "create"  # adds a user: ``after`` is the whole user
    UPDATE = "update"  # changes some fields of a user: ``before`` and ``after`` hold them
    REMOVE = "remove"  # removes a user: ``before`` is the whole user


class _Absent(Enum):
    ABSENT = "absent"


#: A name a :class:`Fields` does not hold (a name it holds may be None: no name).
ABSENT: Final = _Absent.ABSENT


class Fields(dict[str, Any]):
    """The fields of a user (or of the partner's access) a step reads or sets, typed.

    Attributes are the typed values, None where the step does not hold the field
    (for a name: also where the name is none; ``"first_name" in fields`` tells
    which). As a mapping, read-only, it is the JSON a plan file holds, so the
    journal and plan files write it as it is.
    """

    __slots__ = (
        "access",
        "email",
        "first_name",
        "last_name",
        "partner_access",
        "permissions",
        "seat",
        "teams",
    )
    email: str | None
    first_name: str | None
    last_name: str | None
    access: Access | None
    seat: str | None
    teams: Teams | None
    permissions: Permissions | None
    partner_access: str | None

    def __init__(
        self,
        *,
        email: str | None = None,
        first_name: str | _Absent | None = ABSENT,
        last_name: str | _Absent | None = ABSENT,
        access: Access | None = None,
        seat: str | None = None,
        teams: Teams | None = None,
        permissions: Permissions | None = None,
        partner_access: str | None = None,
    ) -> None:
        given: dict[str, Any] = {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "access": access,
            "seat": seat,
            "teams": teams,
            "permissions": permissions,
            "partner_access": partner_access,
        }
        # Held: every value given; a name given as None (no name) too.
        held = {
            name
            for name, value in given.items()
            if value is not ABSENT and (value is not None or name in NAMES)
        }
        for name, value in given.items():
            object.__setattr__(self, name, None if value is ABSENT else value)
        super().__init__(_json(self, held))

    @classmethod
    def user(cls, user: User) -> Fields:
        """A whole user, as ``create_user`` and ``remove_user`` record one."""
        return cls(
            email=user.email,
            first_name=ABSENT if user.first_name is None else user.first_name,
            last_name=ABSENT if user.last_name is None else user.last_name,
            access=user.access,
            seat=user.seat,
            teams=user.teams if user.teams.names() else None,
            permissions=user.permissions or None,
        )

    @classmethod
    def from_data(cls, data: object) -> Fields:
        """Parse a step's JSON ``before`` or ``after``; keys it does not know are left out."""
        if isinstance(data, Fields):
            return data
        if not isinstance(data, Mapping):
            raise ValueError(f"expected an object, not {type(data).__name__}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            parse = _PARSERS.get(name)
            if parse is not None:
                values[name] = parse(value)
        return cls(**values)

    def to_data(self) -> dict[str, Any]:
        """The JSON, a fresh copy."""
        return _json(self, set(self))

    def to_user(self) -> User:
        """The whole user these fields describe (``create_user``'s after, ``remove_user``'s
        before); a field not held takes the default of a new user."""
        if self.email is None:
            raise ValueError("a whole user needs an email")
        return User(
            email=self.email,
            access=self.access or BASIC,
            seat="none" if self.seat is None else self.seat,
            first_name=self.first_name,
            last_name=self.last_name,
            teams=self.teams or Teams(),
            permissions=self.permissions or Permissions(),
        )

    def value(self, name: str) -> Any:
        """The typed value of field ``name`` (None where not held)."""
        if name not in _PARSERS:
            raise KeyError(name)
        return getattr(self, name)

    def replace(self, **changes: Any) -> Fields:
        """These fields with some changed (or added)."""
        held: dict[str, Any] = {name: getattr(self, name) for name in self}
        return Fields(**{**held, **changes})

    # Read-only: the typed values and the JSON never part.
    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Fields are read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Fields are read-only")

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        raise TypeError("Fields are read-only")

    def __delitem__(self, key: str) -> NoReturn:
        raise TypeError("Fields are read-only")

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        raise TypeError("Fields are read-only")

    def clear(self) -> NoReturn:
        raise TypeError("Fields are read-only")

    def pop(self, *args: Any) -> NoReturn:
        raise TypeError("Fields are read-only")

    def popitem(self) -> NoReturn:
        raise TypeError("Fields are read-only")

    def setdefault(self, *args: Any) -> NoReturn:
        raise TypeError("Fields are read-only")

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("Fields are read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Fields.from_data, (self.to_data(),))


def _json(fields: Fields, held: set[str]) -> dict[str, Any]:
    """The JSON of the held fields, in the order a user is written."""
    data: dict[str, Any] = {}
    for name in _ORDER:
        if name in held:
            value = getattr(fields, name)
            data[name] = (
                value.to_data() if isinstance(value, Access | Teams | Permissions) else value
            )
    return data


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, not {type(value).__name__}")
    return value


def _name(value: object) -> str | None:
    return None if value is None else _text(value)


def _texts(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, not {type(value).__name__}")
    return tuple(_text(item) for item in value)


def _object(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, not {type(value).__name__}")
    return value


def _access(value: object) -> Access:
    if isinstance(value, Mapping):
        return Access("role", _text(value.get("role")))
    return Access(_text(value))


def _teams(value: object) -> Teams:
    data = _object(value)
    return Teams(_name(data.get("primary")), _texts(data.get("secondary")))


def _permissions(value: object) -> Permissions:
    data = _object(value)
    return Permissions(frozenset(_texts(data.get("add"))), frozenset(_texts(data.get("remove"))))


_ORDER = ("email", *NAMES, "access", "seat", "teams", "permissions", "partner_access")
_PARSERS: Mapping[str, Callable[[object], object]] = {
    "email": _text,
    "first_name": _name,
    "last_name": _name,
    "access": _access,
    "seat": _text,
    "teams": _teams,
    "permissions": _permissions,
    "partner_access": _text,
}


def as_fields(data: Mapping[str, Any] | None) -> Fields | None:
    """``Fields`` as they are; the JSON of some, parsed (for callers that hold JSON)."""
    return None if data is None else Fields.from_data(data)


def set_field(user: User, name: str, value: Any) -> User:
    """``user`` with one field set. Access is given as HubSpot gives it: applying a
    permission set resets individual permissions (:meth:`User.with_access`)."""
    if name == "access":
        return user.with_access(value)
    if name not in USER_FIELDS:
        raise ValueError(f"{name} is not a field of a user")
    return replace(user, **{name: value})


@dataclass(frozen=True)
class StepKind:
    """What one step type is: its name for people, its place in a plan, what it touches."""

    type: StepType
    #: The renderings' title: "grant Partner Admin".
    title: str
    #: Which chain the planner takes first when several could (lowest first).
    priority: int
    effect: Effect
    #: The fields its ``before`` and ``after`` may hold (an update sets at least one).
    fields: tuple[str, ...]
    #: The sandbox's refusals: "cannot {verb} {email}: ...".
    verb: str
    #: The planner's short phrase, formatted with ``user``, ``before`` and ``after``.
    phrase: str
    #: The renderings' mark: + adds, - removes, ? asks, ~ changes.
    symbol: str = "~"
    #: A reviewer looks twice: it removes a user, or moves Super Admin or Partner Admin.
    dangerous: bool = False
    #: For an access step: the access kind it must start from and end with (None: any).
    route: tuple[str | None, str | None] = (None, None)

    @property
    def action(self) -> str:
        """What a reviewer counts it as: 'create', 'change', 'remove' or 'request'."""
        return _ACTIONS[self.effect]

    def parse(
        self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> tuple[Fields | None, Fields | None]:
        """A step's ``before`` and ``after`` as this type holds them (ValueError if not)."""
        was, will = as_fields(before), as_fields(after)
        if self.effect is Effect.CREATE:
            if was is not None or will is None:
                raise ValueError(f"{self.type} has no before and the whole user after")
            return None, Fields.user(will.to_user())
        if self.effect is Effect.REMOVE:
            if was is None or will is not None:
                raise ValueError(f"{self.type} has the whole user before and no after")
            return Fields.user(was.to_user()), None
        if was is None or will is None:
            raise ValueError(f"{self.type} has both a before and an after")
        extra = sorted((set(was) | set(will)) - set(self.fields))
        if extra:
            raise ValueError(f"{self.type} does not set {', '.join(extra)}")
        if not self.touched(will):
            raise ValueError(f"{self.type} sets {' or '.join(self.fields)}")
        # A name may be none: one that ``before`` leaves out was none.
        unsaid = [f for f in self.touched(will) if f not in was and f not in NAMES]
        if unsaid:
            raise ValueError(f"{self.type} says what {', '.join(unsaid)} was before it")
        return was, will

    def touched(self, after: Fields) -> tuple[str, ...]:
        """The fields a step of this type sets: those of its fields ``after`` holds."""
        return tuple(name for name in self.fields if name in after)

    def apply_to(self, user: User | None, after: Fields | None) -> User | None:
        """The user as a step of this type leaves it (None: removed).

        One meaning for every reader: the planner simulates a plan with it, and the
        sandbox writes what it returns once HubSpot's rules allow it.
        """
        if self.effect is Effect.CREATE:
            assert after is not None
            return after.to_user()
        if self.effect is Effect.REMOVE:
            return None
        if self.effect is Effect.REQUEST or user is None or after is None:
            raise ValueError(f"{self.type} changes no user here")
        for name in self.touched(after):
            user = set_field(user, name, after.value(name))
        return user

    def describe(self, user: str | None, before: Fields | None, after: Fields | None) -> str:
        """The short phrase: 'make ana@x Partner Admin (now basic)'."""
        return self.phrase.format(user=user, before=before, after=after)


_ACCESS = ("access",)
#: Each effect as the renderings count it ("3 to create, 5 to change, 1 to remove").
_ACTIONS: Mapping[Effect, str] = {
    Effect.REQUEST: "request",
    Effect.CREATE: "create",
    Effect.UPDATE: "change",
    Effect.REMOVE: "remove",
}


def _kinds(*kinds: StepKind) -> Mapping[StepType, StepKind]:
    table = {kind.type: kind for kind in kinds}
    assert list(table) == list(StepType), "one kind per step type, in StepType's order"
    return table


#: The one table of step types, in StepType's order (the plan schema's enum order).
#: Priorities: grow Super Admins, then create, free seats, move access, take seats,
#: then the small things, removals last.
KINDS: Final[Mapping[StepType, StepKind]] = _kinds(
    StepKind(
        StepType.REQUEST_ACCESS,
        title="request access",
        priority=0,
        effect=Effect.REQUEST,
        fields=("partner_access",),
        verb="request access for",
        phrase="request partner access for {user}",
        symbol="?",
    ),
    StepKind(
        StepType.CREATE_USER,
        title="create user",
        priority=2,
        effect=Effect.CREATE,
        fields=("email", *USER_FIELDS),
        verb="create",
        phrase="create {user} as {after.access} with the {after.seat} seat",
        symbol="+",
    ),
    StepKind(
        StepType.PROMOTE_SUPER_ADMIN,
        title="promote to Super Admin",
        priority=1,
        effect=Effect.UPDATE,
        fields=_ACCESS,
        verb="promote",
        phrase="make {user} {after.access} (now {before.access})",
        dangerous=True,
        route=(None, "super_admin"),
    ),
    StepKind(
        StepType.GRANT_PARTNER_ADMIN,
        title="grant Partner Admin",
        priority=4,
        effect=Effect.UPDATE,
        fields=_ACCESS,
        verb="grant Partner Admin to",
        phrase="make {user} {after.access} (now {before.access})",
        dangerous=True,
        route=(None, "partner_admin"),
    ),
    StepKind(
        StepType.MIGRATE_TO_PARTNER_ADMIN,
        title="migrate Super Admin → Partner Admin",
        priority=4,
        effect=Effect.UPDATE,
        fields=_ACCESS,
        verb="migrate",
        phrase="make {user} {after.access} (now {before.access})",
        dangerous=True,
        route=("super_admin", "partner_admin"),
    ),
    StepKind(
        StepType.SET_ACCESS,
        title="set access",
        priority=5,
        effect=Effect.UPDATE,
        fields=_ACCESS,
        verb="change access of",
        phrase="make {user} {after.access} (now {before.access})",
    ),
    StepKind(
        StepType.SET_SEAT,
        title="change seat",
        priority=3,
        effect=Effect.UPDATE,
        fields=("seat",),
        verb="change seat of",
        phrase="move {user} from the {before.seat} seat to the {after.seat} seat",
    ),
    StepKind(
        StepType.SET_PERMISSIONS,
        title="set permissions",
        priority=6,
        effect=Effect.UPDATE,
        fields=("permissions",),
        verb="change permissions of",
        phrase="change individual permissions of {user}",
    ),
    StepKind(
        StepType.SET_TEAMS,
        title="set teams",
        priority=7,
        effect=Effect.UPDATE,
        fields=("teams",),
        verb="change teams of",
        phrase="change the teams of {user}",
    ),
    StepKind(
        StepType.SET_NAME,
        title="set name",
        priority=8,
        effect=Effect.UPDATE,
        fields=NAMES,
        verb="rename",
        phrase="rename {user}",
    ),
    StepKind(
        StepType.REMOVE_USER,
        title="remove user",
        priority=9,
        effect=Effect.REMOVE,
        fields=("email", *USER_FIELDS),
        verb="remove",
        phrase="remove {user}",
        symbol="-",
        dangerous=True,
    ),
)

STEP_TYPES: Final[tuple[StepType, ...]] = tuple(KINDS)
#: The types that change a user's access level, each by its own route.
ACCESS_STEP_TYPES: Final = frozenset(t for t, k in KINDS.items() if k.fields == _ACCESS)


def kind_of(step_type: str) -> StepKind:
    """The kind of a step type, given as a StepType or its string (ValueError if none)."""
    return KINDS[StepType(step_type)]


def access_step_type(before: Access, after: Access) -> StepType:
    """The access step that goes from ``before`` to ``after``: the one whose route fits
    most closely (migrating a Super Admin fits closer than granting Partner Admin)."""
    fitting = [
        kind
        for kind in KINDS.values()
        if kind.fields == _ACCESS
        and kind.route[0] in (None, before.kind)
        and kind.route[1] in (None, after.kind)
    ]
    return max(fitting, key=lambda kind: sum(end is not None for end in kind.route)).type
