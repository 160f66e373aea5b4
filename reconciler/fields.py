"""The fields a step reads or sets, typed: :class:`Fields`.

A step's ``before`` and ``after`` are :class:`Fields`: typed values (an
:class:`~reconciler.model.Access`, a seat, :class:`~reconciler.model.Teams`,
:class:`~reconciler.model.Permissions`, names), parsed once when a step is
built or read. As a mapping a ``Fields`` is its JSON, exactly as a plan file
holds it, so plan files and renderings read it without a second model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from enum import Enum
from typing import Any, ClassVar, Final, NoReturn

from reconciler.model import BASIC, Access, Permissions, Teams, User

#: A user's first and last name: either may be none, and a step may set one alone.
NAMES: tuple[str, ...] = ("first_name", "last_name")
#: Every field of a user a step can read or set, in the order users are written.
USER_FIELDS: tuple[str, ...] = ("access", "seat", "first_name", "last_name", "teams", "permissions")


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
    #: Made by :meth:`user`: already a whole user exactly as a step records one.
    whole: ClassVar[bool] = False
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
        # Held: every value given; a name given as None (no name) too. The JSON is
        # written in the order a user is written (``_ORDER``).
        data: dict[str, Any] = {}
        if email is not None:
            data["email"] = email
        if first_name is ABSENT:
            first_name = None
        else:
            data["first_name"] = first_name
        if last_name is ABSENT:
            last_name = None
        else:
            data["last_name"] = last_name
        typed = (
            ("access", access),
            ("seat", seat),
            ("teams", teams),
            ("permissions", permissions),
            ("partner_access", partner_access),
        )
        for name, value in typed:
            if value is not None:
                data[name] = _plain(value)
        setter = object.__setattr__
        setter(self, "email", email)
        setter(self, "first_name", first_name)
        setter(self, "last_name", last_name)
        setter(self, "access", access)
        setter(self, "seat", seat)
        setter(self, "teams", teams)
        setter(self, "permissions", permissions)
        setter(self, "partner_access", partner_access)
        super().__init__(data)

    @classmethod
    def user(cls, user: User) -> Fields:
        """A whole user, as ``create_user`` and ``remove_user`` record one."""
        return _WholeUser(
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


class _WholeUser(Fields):
    """Fields made by :meth:`Fields.user`, which :meth:`Fields.user` would make again the same."""

    __slots__ = ()
    whole = True


def _json(fields: Fields, held: set[str]) -> dict[str, Any]:
    """The JSON of the held fields, in the order a user is written."""
    data: dict[str, Any] = {}
    for name in _ORDER:
        if name in held:
            data[name] = _plain(getattr(fields, name))
    return data


def _plain(value: Any) -> Any:
    return value.to_data() if isinstance(value, Access | Teams | Permissions) else value


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


#: No fields: what a step without a ``before`` (or ``after``) reads as. Shared: read-only.
NO_FIELDS: Final = Fields()

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
