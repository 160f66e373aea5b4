"""Diff → ordered steps, simulated against the invariants after every step.

Each user's changes form a *chain* whose internal order is fixed (the partner
seat before Partner Admin; leaving Partner Admin before leaving the seat). The
scheduler then repeatedly takes, in a deterministic priority order, the first
chain whose next step breaks no invariant on the simulated state. Steps that
free what others need (a seat, a second Super Admin) therefore come first
exactly when they are needed, and a desired state no order can reach is an
error for that account alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler import plan as p
from reconciler.catalog import Catalogue
from reconciler.diff import (
    CREATE,
    REMOVE,
    UNMANAGED,
    UPDATE,
    UserChange,
    assume_unknown,
    diff_account,
)
from reconciler.instructions import manual_instructions
from reconciler.invariants import Context, Tally, actor_permissions, new_violations, violations
from reconciler.model import (
    PAID_SEATS,
    UNKNOWN_SEAT,
    Access,
    AccountState,
    DesiredAccount,
    Partner,
    Permissions,
    Teams,
    User,
    user_key,
)
from reconciler.plan import AccountPlan, Plan, SeatImpact, Step
from reconciler.providers.base import Capabilities

# Which chain goes first when several could: grow Super Admins, then create,
# free seats, move access, take seats, then the small things, removals last.
PRIORITY: Mapping[str, int] = {
    p.REQUEST_ACCESS: 0,
    p.PROMOTE_SUPER_ADMIN: 1,
    p.CREATE_USER: 2,
    p.SET_SEAT: 3,
    p.MIGRATE_TO_PARTNER_ADMIN: 4,
    p.GRANT_PARTNER_ADMIN: 4,
    p.SET_ACCESS: 5,
    p.SET_PERMISSIONS: 6,
    p.SET_TEAMS: 7,
    p.SET_NAME: 8,
    p.REMOVE_USER: 9,
}


@dataclass
class Draft:
    """A step before scheduling gives it its dependencies and channel."""

    type: str
    email: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    reason: str
    source: str | None


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
    state: AccountState, type_: str, email: str, after: Mapping[str, Any] | None
) -> tuple[str, User | None]:
    """The one user a step changes, as the step leaves it (None: removed)."""
    key = user_key(email)
    if type_ == p.CREATE_USER:
        assert after is not None
        return key, User.from_data(after)
    if type_ == p.REMOVE_USER:
        return key, None
    user = state.users[key]
    assert after is not None
    if type_ in p.ACCESS_STEP_TYPES:
        return key, user.with_access(Access.parse(after["access"]))
    if type_ == p.SET_SEAT:
        return key, replace(user, seat=str(after["seat"]))
    if type_ == p.SET_PERMISSIONS:
        return key, replace(user, permissions=Permissions.from_data(after["permissions"]))
    if type_ == p.SET_TEAMS:
        return key, replace(user, teams=Teams.from_data(after["teams"]))
    if type_ == p.SET_NAME:
        first = after.get("first_name", user.first_name)
        last = after.get("last_name", user.last_name)
        return key, replace(user, first_name=first, last_name=last)
    raise ValueError(f"unknown step type {type_!r}")


def simulate(
    state: AccountState, type_: str, email: str | None, after: Mapping[str, Any] | None
) -> AccountState:
    """The state after one step: the same meaning every provider gives the step."""
    if type_ == p.REQUEST_ACCESS:
        return replace(state, partner_access=str((after or {}).get("partner_access", "pending")))
    assert email is not None
    key, user = simulate_user(state, type_, email, after)
    return state.without_user(key) if user is None else state.with_user(user)


def access_step_type(before: Access, after: Access) -> str:
    if after.kind == "super_admin":
        return p.PROMOTE_SUPER_ADMIN
    if after.kind == "partner_admin":
        return p.MIGRATE_TO_PARTNER_ADMIN if before.kind == "super_admin" else p.GRANT_PARTNER_ADMIN
    return p.SET_ACCESS


def user_chain(change: UserChange, forbidden: frozenset[str]) -> list[Draft]:
    """The steps of one user's change, in the only order that is safe for that user."""
    current, target = change.current, change.target
    src = change.source
    if change.kind == CREATE:
        assert target is not None
        reason = f"{target.email} is in the config but not in the account"
        return [Draft(p.CREATE_USER, target.email, None, target.to_data(), reason, src)]
    if change.kind == REMOVE:
        assert current is not None
        return [Draft(p.REMOVE_USER, current.email, current.to_data(), None, change.reason, src)]
    assert current is not None and target is not None and change.kind == UPDATE
    email = current.email
    if target.access.kind == "partner_admin" and target.permissions.add & forbidden:
        # Partner Admin cannot hold these; drop them even where permissions are unmanaged.
        kept = Permissions(target.permissions.add - forbidden, target.permissions.remove)
        target = replace(target, permissions=kept)
    fields = set(change.fields)
    # Applying a permission set resets individual permissions (HubSpot): after the
    # access step they are the empty set, whatever they were before it.
    granted = current.with_access(target.access) if "access" in fields else current
    if granted.permissions != target.permissions:
        fields.add("permissions")

    # A seat that cannot be read is set (by a person) last: nothing else of this user
    # waits for it, unless it is the partner seat Partner Admin needs first.
    unseen = current.seat == UNKNOWN_SEAT and target.seat != "partner"

    def seat(last: bool = False) -> list[Draft]:
        if "seat" not in fields or unseen != last:
            return []
        why = f"the config gives {email} the {target.seat} seat"
        return [Draft(p.SET_SEAT, email, {"seat": current.seat}, {"seat": target.seat}, why, src)]

    def access() -> list[Draft]:
        if "access" not in fields:
            return []
        type_ = access_step_type(current.access, target.access)
        why = f"the config makes {email} {target.access} (now {current.access})"
        before, after = {"access": current.access.to_data()}, {"access": target.access.to_data()}
        return [Draft(type_, email, before, after, why, src)]

    def permissions() -> list[Draft]:
        if "permissions" not in fields:
            return []
        why = f"the config sets individual permission changes for {email}"
        if granted.permissions != current.permissions:
            why = (
                f"applying {target.access} resets the individual permissions of {email};"
                " they are set again after it"
            )
        before = {"permissions": granted.permissions.to_data()}
        after = {"permissions": target.permissions.to_data()}
        return [Draft(p.SET_PERMISSIONS, email, before, after, why, src)]

    leaving_pa = current.access.kind == "partner_admin" and target.access.kind != "partner_admin"
    # Individual permissions always come after the access step, which may reset them.
    if leaving_pa or target.access.kind == "super_admin":
        # A promotion needs no seat and may be what lets an old Super Admin (and the
        # seat it holds) go: it comes first.
        drafts = access() + seat() + permissions()
    else:
        drafts = seat() + access() + permissions()
    if "teams" in fields:
        why = f"the config puts {email} in other teams"
        drafts.append(
            Draft(
                p.SET_TEAMS,
                email,
                {"teams": current.teams.to_data()},
                {"teams": target.teams.to_data()},
                why,
                src,
            )
        )
    if "name" in fields:
        before_name = {"first_name": current.first_name, "last_name": current.last_name}
        after_name = {"first_name": target.first_name, "last_name": target.last_name}
        drafts.append(
            Draft(p.SET_NAME, email, before_name, after_name, f"the config renames {email}", src)
        )
    return drafts + seat(last=True)


def actor_refusal(draft: Draft, state: AccountState, ctx: Context) -> str | None:
    """Why the actor may not do this step itself (so a person must), or None."""
    actor = state.users.get(user_key(ctx.actor))
    perms = actor_permissions(state, ctx) or frozenset()
    is_super = actor is not None and actor.access.kind == "super_admin"
    role = f"the actor {ctx.actor} is {actor.access if actor else 'not a user here'}"
    if draft.type == p.REQUEST_ACCESS:
        return None
    if not is_super and "users.write" not in perms:
        return f"{role}; managing users needs Super Admin or users.write"
    before_access = (
        Access.parse(draft.before["access"]) if draft.before and "access" in draft.before else None
    )
    after_access = (
        Access.parse(draft.after["access"]) if draft.after and "access" in draft.after else None
    )
    touches_super = (after_access is not None and after_access.kind == "super_admin") or (
        before_access is not None and before_access.kind == "super_admin"
    )
    if touches_super and not is_super:
        return f"{role}; only a Super Admin can add or remove Super Admins"
    seats = {
        (draft.after or {}).get("seat"),
        (draft.before or {}).get("seat") if draft.type == p.SET_SEAT else None,
    }
    if seats & set(PAID_SEATS) and not is_super and "billing.write" not in perms:
        return f"{role}; changing paid seats needs Super Admin or users.write and billing.write"
    return None


def seat_impact(steps: Iterable[Step]) -> SeatImpact:
    """Paid seats freed and taken. A seat that cannot be read counts only for a new user:
    an existing one may hold it already."""
    freed: dict[str, int] = {}
    taken: dict[str, int] = {}
    created: set[str] = set()
    for step in steps:
        before = (step.before or {}).get("seat")
        after = (step.after or {}).get("seat")
        if step.type == p.CREATE_USER:
            created.add(user_key(step.user or ""))
        if step.type == p.SET_SEAT and before == after:
            continue
        if before == UNKNOWN_SEAT and user_key(step.user or "") not in created:
            continue
        if before in PAID_SEATS:
            freed[before] = freed.get(before, 0) + 1
        if after in PAID_SEATS:
            taken[after] = taken.get(after, 0) + 1
    return SeatImpact(freed, taken)


def check_references(
    desired: DesiredAccount, current: AccountState, changes: list[UserChange]
) -> list[str]:
    """Roles and teams must exist in the account; a role's seat must be the user's seat."""
    problems = []
    for change in changes:
        target = change.target
        if target is None or change.kind == UNMANAGED:
            continue
        where = f"{change.source}: " if change.source else ""
        if target.access.kind == "role":
            role = current.roles.get(target.access.role or "")
            if role is None:
                known = ", ".join(sorted(current.roles)) or "none"
                problems.append(
                    f"{where}{target.email}: role '{target.access.role}' does not exist in account"
                    f" {current.id} (roles there: {known})"
                )
            elif role.seat and role.seat != target.seat:
                problems.append(
                    f"{where}{target.email}: role '{role.name}' needs the {role.seat} seat, not {target.seat}"
                )
        for team in target.teams.names():
            if team not in current.teams:
                known = ", ".join(sorted(current.teams)) or "none"
                problems.append(
                    f"{where}{target.email}: team '{team}' does not exist in account {current.id}"
                    f" (teams there: {known})"
                )
    return problems


def plan_access_request(desired: DesiredAccount, current: AccountState, name: str) -> AccountPlan:
    """No partner access yet: the only possible step is the access request."""
    pending = current.partner_access == "pending"
    before = {"partner_access": current.partner_access}
    after = {"partner_access": "granted" if pending else "pending"}
    reason = (
        f"the access request for {desired.actor} is waiting for the client's approval"
        if pending
        else f"the partner has no access to this account; request access for {desired.actor}"
    )
    step_data = p.Step(
        id=p.step_id(desired.id, p.REQUEST_ACCESS, desired.actor, after),
        account=desired.id,
        type=p.REQUEST_ACCESS,
        user=desired.actor,
        before=before,
        after=after,
        reason=reason,
        channel="approval",
        source=str(desired.source) if desired.source else None,
    )
    step = replace(step_data, instructions=manual_instructions(step_data, name))
    warning = "every other change to this account waits for the client to approve partner access"
    return AccountPlan(desired.id, name, (step,), warnings=(warning,))


def plan_account(
    desired: DesiredAccount,
    current: AccountState,
    partner: Partner,
    catalogue: Catalogue,
    capabilities: Capabilities,
    provider: str = "sandbox",
) -> AccountPlan:
    """The ordered, invariant-keeping steps that take one account from current to desired."""
    name = desired.name or current.name or str(desired.id)
    if current.partner_access != "granted":
        return plan_access_request(desired, current, name)
    ctx = Context(partner, desired.actor, catalogue, desired.min_super_admins)
    capabilities = capabilities.for_account(current)
    current, warnings = assume_unknown(desired, current)
    changes = diff_account(desired, current)
    warnings += [
        f"the current state already breaks an invariant: {v}" for v in violations(current, ctx)
    ]
    actor_key = user_key(desired.actor)
    chains: list[Chain] = []
    for change in changes:
        if change.kind == UNMANAGED:
            assert change.current is not None
            if change.key == actor_key:
                continue
            if desired.unmanaged_users == "report":
                user = change.current
                warnings.append(
                    f"unmanaged user {user.email} ({user.access}, {user.seat} seat) is not in the config"
                )
            if desired.unmanaged_users != "remove":
                continue
            why = f"{change.current.email} is not in the config and unmanaged_users is remove"
            change = replace(change, kind=REMOVE, reason=why)
        if change.key == actor_key and change.kind == REMOVE:
            return AccountPlan(
                desired.id,
                name,
                error=f"{change.source}: refusing to remove the tool's own actor {desired.actor}",
            )
        drafts = user_chain(change, catalogue.partner_admin_forbidden)
        chains.append(Chain(change.key, seat_apart(drafts, capabilities)))
    problems = check_references(desired, current, changes)
    if problems:
        return AccountPlan(desired.id, name, error="; ".join(problems), warnings=tuple(warnings))
    try:
        steps = schedule(desired.id, chains, current, ctx, capabilities, provider, name)
    except PlanningBlocked as exc:
        return AccountPlan(desired.id, name, error=str(exc), warnings=tuple(warnings))
    removals = sum(1 for s in steps if s.type == p.REMOVE_USER)
    limit = desired.max_removals.allowed(len(current.users))
    if removals > limit:
        warnings.append(
            f"{removals} removals exceed max_removals {desired.max_removals} ({limit} of"
            f" {len(current.users)} users); apply refuses this account without --force"
        )
    return AccountPlan(
        desired.id,
        name,
        tuple(steps),
        warnings=tuple(warnings),
        removals=removals,
        removal_limit=limit,
        seats=seat_impact(steps),
    )


def seat_apart(drafts: list[Draft], capabilities: Capabilities) -> list[Draft]:
    """A create the API can make but for its seat: made without a seat, then the seat set.

    HubSpot's API versions without seats still create users; the seat is then a
    step of its own (for a person), which the plan keeps until it is confirmed.
    """
    split: list[Draft] = []
    for draft in drafts:
        after = draft.after
        if draft.type == p.CREATE_USER and after is not None:
            bare = {**after, "seat": UNKNOWN_SEAT}
            if not capabilities.executes(draft.type, None, after) and capabilities.executes(
                draft.type, None, bare
            ):
                seat, email = after["seat"], draft.email
                why = f"the config gives {email} the {seat} seat"
                split += [
                    replace(draft, after=bare, reason=draft.reason + "; its seat is a step apart"),
                    Draft(
                        p.SET_SEAT, email, {"seat": UNKNOWN_SEAT}, {"seat": seat}, why, draft.source
                    ),
                ]
                continue
        split.append(draft)
    return split


class PlanningBlocked(Exception):
    """No order of the remaining steps keeps the invariants."""


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
        seat = draft.after.get("seat")
        if seat not in PAID_SEATS:
            continue
        if draft.type == p.SET_SEAT and draft.before and draft.before["seat"] in PAID_SEATS:
            why = draft.reason + " (freed first so seats can be swapped)"
            first = Draft(
                p.SET_SEAT, draft.email, draft.before, {"seat": "none"}, why, draft.source
            )
        elif draft.type == p.CREATE_USER:
            why = draft.reason + " (with no seat until one is free)"
            first = Draft(
                p.CREATE_USER, draft.email, None, {**draft.after, "seat": "none"}, why, draft.source
            )
        else:
            continue
        then = Draft(
            p.SET_SEAT, draft.email, {"seat": "none"}, {"seat": seat}, draft.reason, draft.source
        )
        chain.drafts[chain.position : chain.position + 1] = [first, then]
        return True
    return False


def schedule(
    account: int,
    chains: list[Chain],
    current: AccountState,
    ctx: Context,
    capabilities: Capabilities,
    provider: str,
    name: str,
) -> list[Step]:
    tally = Tally.of(current, ctx)
    actor = tally.actor or frozenset()
    baseline = tally.measures(ctx, actor)
    steps: list[Step] = []
    seen_ids: set[str] = set()
    while True:
        pending = sorted(
            (c for c in chains if c.next is not None),
            key=lambda c: (PRIORITY[c.next.type] if c.next else 99, c.key),
        )
        if not pending:
            return steps
        chosen: tuple[Chain, Tally] | None = None
        first_block: tuple[Draft, list[str]] | None = None
        for chain in pending:
            draft = chain.next
            assert draft is not None
            key, user = simulate_user(tally.state, draft.type, draft.email, draft.after)
            after = tally.change(key, user, ctx)
            problems = new_violations(baseline, after.measures(ctx, actor), ctx)
            if not problems:
                chosen = (chain, after)
                break
            if chain.blocked_at is None:
                chain.blocked_at = len(steps)
            if first_block is None:
                first_block = (draft, problems)
        if chosen is None:
            if split_paid_seat(pending):
                continue
            assert first_block is not None
            draft, problems = first_block
            where = f"{draft.source}: " if draft.source else ""
            raise PlanningBlocked(
                f"{where}no safe order: {describe(draft)} would break an invariant: {'; '.join(problems)}"
            )
        chain, next_tally = chosen
        draft = chain.next
        assert draft is not None
        depends = [chain.previous] if chain.previous else []
        if chain.blocked_at is not None:
            depends += [s.id for s in steps[chain.blocked_at :]]
            chain.blocked_at = None
        step = make_step(
            account,
            draft,
            tuple(dict.fromkeys(depends)),
            tally.state,
            ctx,
            capabilities,
            provider,
            name,
        )
        if step.id in seen_ids:
            step = replace(step, id=f"{step.id}-{len(steps)}")
        seen_ids.add(step.id)
        steps.append(step)
        chain.previous = step.id
        chain.position += 1
        tally = next_tally


def make_step(
    account: int,
    draft: Draft,
    depends_on: tuple[str, ...],
    state: AccountState,
    ctx: Context,
    capabilities: Capabilities,
    provider: str,
    name: str,
) -> Step:
    channel = "api"
    reason = draft.reason
    if not capabilities.executes(draft.type, draft.before, draft.after):
        channel = "manual"
        limit = capabilities.limitation(draft.type, draft.before, draft.after)
        reason += f"; manual: {limit or f'the {provider} API cannot {describe(draft)}'}"
    else:
        refusal = actor_refusal(draft, state, ctx)
        if refusal:
            channel = "manual"
            reason += f"; manual: {refusal}"
    step = Step(
        id=p.step_id(account, draft.type, draft.email, draft.after),
        account=account,
        type=draft.type,
        user=draft.email,
        before=draft.before,
        after=draft.after,
        reason=reason,
        channel=channel,
        depends_on=depends_on,
        source=draft.source,
    )
    if channel == "manual":
        step = replace(step, instructions=manual_instructions(step, name))
    return step


def describe(draft: Draft | Step) -> str:
    """A short verb phrase: 'make ana@x Partner Admin'."""
    after = draft.after or {}
    before = draft.before or {}
    email = draft.email if isinstance(draft, Draft) else draft.user
    if draft.type == p.CREATE_USER:
        return f"create {email} as {Access.parse(after.get('access', 'basic'))} with the {after.get('seat')} seat"
    if draft.type == p.REMOVE_USER:
        return f"remove {email}"
    if draft.type in p.ACCESS_STEP_TYPES:
        return (
            f"make {email} {Access.parse(after['access'])} (now {Access.parse(before['access'])})"
        )
    if draft.type == p.SET_SEAT:
        return f"move {email} from the {before.get('seat')} seat to the {after.get('seat')} seat"
    if draft.type == p.SET_PERMISSIONS:
        return f"change individual permissions of {email}"
    if draft.type == p.SET_TEAMS:
        return f"change the teams of {email}"
    if draft.type == p.SET_NAME:
        return f"rename {email}"
    if draft.type == p.REQUEST_ACCESS:
        return f"request partner access for {email}"
    return f"{draft.type} {email}"


def build_plan(
    pairs: Iterable[tuple[DesiredAccount, AccountState | str]],
    partner: Partner,
    catalogue: Catalogue,
    capabilities: Capabilities,
    provider: str = "sandbox",
    config_digest: str = "",
) -> Plan:
    """Every account's plan. A string instead of a state is that account's read error."""
    accounts: list[AccountPlan] = []
    for desired, current in sorted(pairs, key=lambda pair: pair[0].id):
        if isinstance(current, str):
            planned = AccountPlan(desired.id, desired.name or str(desired.id), error=current)
        else:
            planned = plan_account(desired, current, partner, catalogue, capabilities, provider)
        accounts.append(replace(planned, state_digest=account_digest(current)))
    return Plan(tuple(accounts), plan_digest(accounts), config_digest)


def account_digest(state: AccountState | str) -> str:
    """What a saved plan checks, per account: its current state (or its read error)."""
    return p.digest(state.to_data() if isinstance(state, AccountState) else {"error": state})


def plan_digest(accounts: Iterable[AccountPlan]) -> str:
    return p.digest({str(a.account): a.state_digest for a in accounts})
