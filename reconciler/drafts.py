"""Drafts: the steps of each user's change, before scheduling orders them.

A user's change becomes a *chain* of drafts whose internal order is the only
safe one for that user (the partner seat before Partner Admin; leaving Partner
Admin before leaving the seat). :mod:`reconciler.planner` schedules the chains;
this module makes them, simulates one draft on an account's state (with the
same :meth:`~reconciler.steps.StepKind.apply_to` every provider's meaning
follows), and reshapes drafts that need a seat step of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.diff import CREATE, REMOVE, UPDATE, UserChange
from reconciler.fields import Fields, as_fields
from reconciler.model import PAID_SEATS, UNKNOWN_SEAT, AccountState, Permissions, User, user_key
from reconciler.plan import Step
from reconciler.providers.base import Capabilities
from reconciler.steps import KINDS, Effect, StepKind, StepType, access_step_type, kind_of


@dataclass
class Draft:
    """A step before scheduling gives it its dependencies and channel."""

    type: StepType
    email: str
    before: Fields | None
    after: Fields | None
    reason: str
    source: str | None

    @property
    def kind(self) -> StepKind:
        return KINDS[self.type]


@dataclass
class Chain:
    key: str
    drafts: list[Draft]
    position: int = 0
    previous: str | None = None
    blocked_at: int | None = None

    @property
    def next(self) -> Draft | None:
        return self.drafts[self.position] if self.position < len(self.drafts) else None


def simulate_user(
    users: Mapping[str, User], type_: str, email: str, after: Mapping[str, Any] | None
) -> tuple[str, User | None]:
    """The one user a step changes (of an account's ``users``), as the step leaves it
    (None: removed)."""
    key = user_key(email)
    return key, kind_of(type_).apply_to(users.get(key), as_fields(after))


def simulate(
    state: AccountState, type_: str, email: str | None, after: Mapping[str, Any] | None
) -> AccountState:
    """The state after one step: the same meaning every provider gives the step."""
    if kind_of(type_).effect is Effect.REQUEST:
        fields = as_fields(after)
        access = fields.partner_access if fields is not None else None
        return replace(state, partner_access=access or "pending")
    assert email is not None
    key, user = simulate_user(state.users, type_, email, after)
    return state.without_user(key) if user is None else state.with_user(user)


def user_chain(change: UserChange, forbidden: frozenset[str]) -> list[Draft]:
    """The steps of one user's change, in the only order that is safe for that user."""
    current, target = change.current, change.target
    if change.kind == CREATE:
        assert target is not None
        reason = f"{target.email} is in the config but not in the account"
        after = Fields.user(target)
        return [Draft(StepType.CREATE_USER, target.email, None, after, reason, change.source)]
    if change.kind == REMOVE:
        assert current is not None
        before = Fields.user(current)
        return [
            Draft(StepType.REMOVE_USER, current.email, before, None, change.reason, change.source)
        ]
    assert current is not None and target is not None and change.kind == UPDATE
    if target.access.kind == "partner_admin" and target.permissions.add & forbidden:
        # Partner Admin cannot hold these; drop them even where permissions are unmanaged.
        kept = Permissions(target.permissions.add - forbidden, target.permissions.remove)
        target = replace(target, permissions=kept)
    return UserUpdate(current, target, set(change.fields), change.source).chain()


class UserUpdate:
    """One user's update: which fields change, and the step that changes each."""

    def __init__(self, current: User, target: User, fields: set[str], source: str | None):
        self.current, self.target, self.source = current, target, source
        self.email = current.email
        # Applying a permission set resets individual permissions (HubSpot): after the
        # access step they are the empty set, whatever they were before it.
        self.granted = current.with_access(target.access) if "access" in fields else current
        if self.granted.permissions != target.permissions:
            fields.add("permissions")
        self.fields = fields
        # A seat that cannot be read is set (by a person) last: nothing else of this user
        # waits for it, unless it is the partner seat Partner Admin needs first.
        self.unseen = current.seat == UNKNOWN_SEAT and target.seat != "partner"

    def chain(self) -> list[Draft]:
        current, target = self.current, self.target
        leaving_pa = (
            current.access.kind == "partner_admin" and target.access.kind != "partner_admin"
        )
        # Individual permissions always come after the access step, which may reset them.
        if leaving_pa or target.access.kind == "super_admin":
            # A promotion needs no seat and may be what lets an old Super Admin (and the
            # seat it holds) go: it comes first.
            drafts = self.access() + self.seat() + self.permissions()
        else:
            drafts = self.seat() + self.access() + self.permissions()
        return drafts + self.teams() + self.name() + self.seat(last=True)

    def draft(self, type_: StepType, before: Fields, after: Fields, why: str) -> list[Draft]:
        return [Draft(type_, self.email, before, after, why, self.source)]

    def seat(self, last: bool = False) -> list[Draft]:
        if "seat" not in self.fields or self.unseen != last:
            return []
        before, after = Fields(seat=self.current.seat), Fields(seat=self.target.seat)
        why = f"the config gives {self.email} the {self.target.seat} seat"
        return self.draft(StepType.SET_SEAT, before, after, why)

    def access(self) -> list[Draft]:
        if "access" not in self.fields:
            return []
        was, will = self.current.access, self.target.access
        why = f"the config makes {self.email} {will} (now {was})"
        return self.draft(access_step_type(was, will), Fields(access=was), Fields(access=will), why)

    def permissions(self) -> list[Draft]:
        if "permissions" not in self.fields:
            return []
        why = f"the config sets individual permission changes for {self.email}"
        if self.granted.permissions != self.current.permissions:
            why = (
                f"applying {self.target.access} resets the individual permissions of"
                f" {self.email}; they are set again after it"
            )
        before = Fields(permissions=self.granted.permissions)
        after = Fields(permissions=self.target.permissions)
        return self.draft(StepType.SET_PERMISSIONS, before, after, why)

    def teams(self) -> list[Draft]:
        if "teams" not in self.fields:
            return []
        before, after = Fields(teams=self.current.teams), Fields(teams=self.target.teams)
        why = f"the config puts {self.email} in other teams"
        return self.draft(StepType.SET_TEAMS, before, after, why)

    def name(self) -> list[Draft]:
        if "name" not in self.fields:
            return []
        current, target = self.current, self.target
        before = Fields(first_name=current.first_name, last_name=current.last_name)
        after = Fields(first_name=target.first_name, last_name=target.last_name)
        return self.draft(StepType.SET_NAME, before, after, f"the config renames {self.email}")


def seat_apart(drafts: list[Draft], capabilities: Capabilities) -> list[Draft]:
    """A create the API can make but for its seat: made without a seat, then the seat set.

    HubSpot's API versions without seats still create users; the seat is then a
    step of its own (for a person), which the plan keeps until it is confirmed.
    """
    split: list[Draft] = []
    for draft in drafts:
        after = draft.after
        if (
            draft.type == StepType.CREATE_USER
            and after is not None
            and not capabilities.executes(draft.type, None, after)
        ):
            bare = after.replace(seat=UNKNOWN_SEAT)
            if capabilities.executes(draft.type, None, bare):
                seat, email = after.seat, draft.email
                why = f"the config gives {email} the {seat} seat"
                split += [
                    replace(draft, after=bare, reason=draft.reason + "; its seat is a step apart"),
                    Draft(
                        StepType.SET_SEAT,
                        email,
                        Fields(seat=UNKNOWN_SEAT),
                        Fields(seat=seat),
                        why,
                        draft.source,
                    ),
                ]
                continue
        split.append(draft)
    return split


def split_paid_seat(chains: list[Chain]) -> bool:
    """Break one blocked step that takes a paid seat in passing into two, via no seat.

    A paid→paid seat move becomes paid→none→paid, so two users can swap seats;
    a create with a paid seat becomes create-with-no-seat, then the seat, so the
    new user can exist (say, as the next Super Admin) before the seat it needs is
    freed. Used only when no step can go as planned.
    """
    for chain in chains:
        draft = chain.next
        if draft is None or draft.after is None:
            continue
        seat = draft.after.seat
        if seat not in PAID_SEATS:
            continue
        none = Fields(seat="none")
        if draft.type == StepType.SET_SEAT and draft.before and draft.before.seat in PAID_SEATS:
            why = draft.reason + " (freed first so seats can be swapped)"
            first = replace(draft, after=none, reason=why)
        elif draft.type == StepType.CREATE_USER:
            why = draft.reason + " (with no seat until one is free)"
            first = replace(draft, after=draft.after.replace(seat="none"), reason=why)
        else:
            continue
        then = Draft(
            StepType.SET_SEAT, draft.email, none, Fields(seat=seat), draft.reason, draft.source
        )
        chain.drafts[chain.position : chain.position + 1] = [first, then]
        return True
    return False


def describe(draft: Draft | Step) -> str:
    """A short verb phrase: 'make ana@x Partner Admin (now basic)'."""
    email = draft.email if isinstance(draft, Draft) else draft.user
    return kind_of(draft.type).describe(email, draft.before, draft.after)
