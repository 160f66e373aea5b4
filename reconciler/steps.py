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

A step's ``before`` and ``after`` are :class:`~reconciler.fields.Fields`,
parsed once when a step is built or read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from reconciler.fields import NAMES, USER_FIELDS, Fields, as_fields, set_field
from reconciler.model import Access, User


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
            return None, will if will.whole else Fields.user(will.to_user())
        if self.effect is Effect.REMOVE:
            if was is None or will is not None:
                raise ValueError(f"{self.type} has the whole user before and no after")
            return was if was.whole else Fields.user(was.to_user()), None
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
    return KINDS[step_type if isinstance(step_type, StepType) else StepType(step_type)]


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
