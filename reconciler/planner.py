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

from collections.abc import Iterable
from dataclasses import dataclass, replace

from reconciler import plan as p
from reconciler.catalog import Catalogue
from reconciler.diff import (
    REMOVE,
    UNMANAGED,
    UserChange,
    assume_unknown,
    diff_account,
)
from reconciler.digests import account_digest, plan_digest
from reconciler.drafts import (
    Chain,
    Draft,
    describe,
    seat_apart,
    simulate_user,
    split_paid_seat,
    user_chain,
)
from reconciler.fields import NO_FIELDS, Fields, as_fields
from reconciler.instructions import manual_instructions
from reconciler.invariants import (
    Context,
    Measures,
    Tally,
    new_violations,
)
from reconciler.model import (
    PAID_SEATS,
    UNKNOWN_SEAT,
    AccountState,
    DesiredAccount,
    Partner,
    ReadFailure,
    user_key,
)
from reconciler.plan import AccountPlan, Plan, SeatImpact, Step
from reconciler.providers.base import Capabilities
from reconciler.render import plural
from reconciler.steps import Effect, StepType


def actor_refusal(draft: Draft, tally: Tally, ctx: Context) -> str | None:
    """Why the actor may not do this step itself (so a person must), or None.

    ``tally``: the account before the step; its ``actor`` is the actor's permissions there.
    """
    actor = tally.users.get(user_key(ctx.actor))
    perms = tally.actor or frozenset()
    is_super = actor is not None and actor.access.kind == "super_admin"
    role = f"the actor {ctx.actor} is {actor.access if actor else 'not a user here'}"
    if draft.kind.effect is Effect.REQUEST:
        return None
    if not is_super and "users.write" not in perms:
        return f"{role}; managing users needs Super Admin or users.write"
    before, after = draft.before or NO_FIELDS, draft.after or NO_FIELDS
    touches_super = any(
        f.access is not None and f.access.kind == "super_admin" for f in (before, after)
    )
    if touches_super and not is_super:
        return f"{role}; only a Super Admin can add or remove Super Admins"
    seats = {after.seat, before.seat if draft.type == StepType.SET_SEAT else None}
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
        before = step.before.seat if step.before is not None else None
        after = step.after.seat if step.after is not None else None
        if step.type == StepType.CREATE_USER:
            created.add(user_key(step.user or ""))
        if step.type == StepType.SET_SEAT and before == after:
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
    before = Fields(partner_access=current.partner_access)
    after = Fields(partner_access="granted" if pending else "pending")
    reason = (
        f"the access request for {desired.actor} is waiting for the client's approval"
        if pending
        else f"the partner has no access to this account; request access for {desired.actor}"
    )
    step_data = p.Step(
        id=p.step_id(desired.id, StepType.REQUEST_ACCESS, desired.actor, after),
        account=desired.id,
        type=StepType.REQUEST_ACCESS,
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
    planner = AccountPlanner(desired, name, ctx, capabilities.for_account(current), provider)
    return planner.plan(current)


class PlanningBlocked(Exception):
    """No order of the remaining steps keeps the invariants."""


class ActorRemoved(Exception):
    """The config would remove the tool's own actor."""


@dataclass
class AccountPlanner:
    """Plans one account: what every step of it shares, from its chains to its steps."""

    desired: DesiredAccount
    name: str
    ctx: Context
    capabilities: Capabilities  # already narrowed to this account
    provider: str  # its name, for the reason of a step its API cannot do

    def plan(self, current: AccountState) -> AccountPlan:
        """The account's plan, or the error that stops it from planning."""
        desired, name = self.desired, self.name
        current, warnings = assume_unknown(desired, current)
        changes = diff_account(desired, current)
        tally = Tally.of(current, self.ctx)
        warnings += [
            f"the current state already breaks an invariant: {v}"
            for v in tally.violations(self.ctx)
        ]
        try:
            chains = self.chains(changes, warnings)
        except ActorRemoved as exc:
            return AccountPlan(desired.id, name, error=str(exc))
        problems = check_references(desired, current, changes)
        if problems:
            return AccountPlan(
                desired.id, name, error="; ".join(problems), warnings=tuple(warnings)
            )
        try:
            steps = self.schedule(chains, tally)
        except PlanningBlocked as exc:
            return AccountPlan(desired.id, name, error=str(exc), warnings=tuple(warnings))
        removals = sum(1 for s in steps if s.type == StepType.REMOVE_USER)
        limit = desired.max_removals.allowed(len(current.users))
        if removals > limit:
            warnings.append(
                f"{plural(removals, 'removal')} exceed max_removals {desired.max_removals}"
                f" ({limit} of {plural(len(current.users), 'user')}); apply refuses this account"
                " without --force"
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

    def chains(self, changes: list[UserChange], warnings: list[str]) -> list[Chain]:
        """Each changing user's chain of drafts; unmanaged users as the config says."""
        desired = self.desired
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
                raise ActorRemoved(
                    f"{change.source}: refusing to remove the tool's own actor {desired.actor}"
                )
            drafts = user_chain(change, self.ctx.catalogue.partner_admin_forbidden)
            chains.append(Chain(change.key, seat_apart(drafts, self.capabilities)))
        return chains

    def schedule(self, chains: list[Chain], tally: Tally) -> list[Step]:
        """Repeatedly the first chain, by priority, whose next step keeps every invariant.

        ``tally``: the account before the plan.
        """
        guard = Guard.of(tally, self.ctx)
        steps: list[Step] = []
        ids: set[str] = set()
        while True:
            pending = sorted(
                (c for c in chains if c.next is not None),
                key=lambda c: (c.next.kind.priority if c.next else 99, c.key),
            )
            if not pending:
                return steps
            chosen = first_safe(pending, tally, guard, len(steps))
            if chosen is None:
                if split_paid_seat(pending):
                    continue
                raise blocked(pending[0], tally, guard)
            chain, next_tally = chosen
            step = self.take(chain, steps, tally)
            if step.id in ids:
                step = replace(step, id=f"{step.id}-{len(steps)}")
            ids.add(step.id)
            chain.previous = step.id
            steps.append(step)
            tally = next_tally

    def take(self, chain: Chain, steps: list[Step], tally: Tally) -> Step:
        """The chain's next draft as a step, waiting for what it must; the chain moves on."""
        draft = chain.next
        assert draft is not None
        depends = [chain.previous] if chain.previous else []
        if chain.blocked_at is not None:
            depends += [s.id for s in steps[chain.blocked_at :]]
            chain.blocked_at = None
        chain.position += 1
        return self.make_step(draft, tuple(dict.fromkeys(depends)), tally)

    def make_step(self, draft: Draft, depends_on: tuple[str, ...], tally: Tally) -> Step:
        """A draft as a step: by the API if the provider and the actor can, else by a person.

        ``tally``: the account before the step.
        """
        manual: str | None = None
        if not self.capabilities.executes(draft.type, draft.before, draft.after):
            limit = self.capabilities.limitation(draft.type, draft.before, draft.after)
            manual = limit or f"the {self.provider} API cannot {describe(draft)}"
        else:
            manual = actor_refusal(draft, tally, self.ctx)
        channel = "api" if manual is None else "manual"
        step = Step(
            id=p.step_id(self.desired.id, draft.type, draft.email, draft.after),
            account=self.desired.id,
            type=draft.type,
            user=draft.email,
            before=draft.before,
            after=draft.after,
            reason=draft.reason,
            channel=channel,
            depends_on=depends_on,
            source=draft.source,
            manual_reason=manual,
        )
        if channel == "manual":
            step = replace(step, instructions=manual_instructions(step, self.name))
        return step


@dataclass(frozen=True)
class Guard:
    """Whether a step keeps the invariants, judged against the account before the plan."""

    ctx: Context
    actor: frozenset[str]  # the actor's permissions before the plan
    baseline: Measures

    @classmethod
    def of(cls, tally: Tally, ctx: Context) -> Guard:
        actor = tally.actor or frozenset()
        return cls(ctx, actor, tally.measures(ctx, actor))

    def check(self, tally: Tally, draft: Draft) -> tuple[Tally, list[str]]:
        """The tally after ``draft``, and the invariants it would break."""
        key, user = simulate_user(tally.users, draft.type, draft.email, draft.after)
        after = tally.change(key, user, self.ctx)
        return after, new_violations(self.baseline, after.measures(self.ctx, self.actor), self.ctx)


def first_safe(
    pending: list[Chain], tally: Tally, guard: Guard, done: int
) -> tuple[Chain, Tally] | None:
    """The first chain whose next step breaks no invariant, and the tally after it.

    A chain passed over is blocked from here: when its step goes, it waits for every
    step taken meanwhile.
    """
    for chain in pending:
        assert chain.next is not None
        after, problems = guard.check(tally, chain.next)
        if not problems:
            return chain, after
        if chain.blocked_at is None:
            chain.blocked_at = done
    return None


def blocked(chain: Chain, tally: Tally, guard: Guard) -> PlanningBlocked:
    """Why no step can go: the first pending one, and what it would break."""
    draft = chain.next
    assert draft is not None
    after, _ = guard.check(tally, draft)
    measures = after.measures(guard.ctx, guard.actor)
    overflow = guard.baseline.seat_overflow
    # Seats in numbers: what the account owns against what the plan needs by then.
    short = [s for s in PAID_SEATS if measures.seat_overflow.get(s, 0) > overflow.get(s, 0)]
    owned = tally.account.seats_owned
    problems = [
        f"account {tally.account.id} owns {plural(owned.get(s, 0), f'{s} seat')},"
        f" the plan needs {after.used[s]}"
        for s in short
    ]
    problems += new_violations(guard.baseline, replace(measures, seat_overflow=overflow), guard.ctx)
    what = describe(draft)
    if any(d.type == StepType.CREATE_USER for d in chain.drafts[: chain.position]):
        fields = as_fields(draft.after) if draft.type == StepType.SET_SEAT else None
        seat = fields.seat if fields is not None else None
        what = f"create {draft.email}" + (f" with a {seat} seat" if seat else "")
    where = f"{draft.source}: " if draft.source else ""
    return PlanningBlocked(
        f"{where}no safe order: {what} would break an invariant: {'; '.join(problems)}"
    )


def build_plan(
    pairs: Iterable[tuple[DesiredAccount, AccountState | ReadFailure]],
    partner: Partner,
    catalogue: Catalogue,
    capabilities: Capabilities,
    provider: str = "sandbox",
    config_digest: str = "",
) -> Plan:
    """Every account's plan; an account whose state could not be read plans as that error."""
    accounts = [
        plan_read_account(desired, current, partner, catalogue, capabilities, provider)
        for desired, current in sorted(pairs, key=lambda pair: pair[0].id)
    ]
    return Plan(tuple(accounts), plan_digest(accounts), config_digest)


def plan_read_account(
    desired: DesiredAccount,
    current: AccountState | ReadFailure,
    partner: Partner,
    catalogue: Catalogue,
    capabilities: Capabilities,
    provider: str = "sandbox",
) -> AccountPlan:
    """One account's plan as :func:`build_plan` makes it, with the digest of its state."""
    if isinstance(current, ReadFailure):
        name = desired.name or str(desired.id)
        planned = AccountPlan(desired.id, name, error=current.message)
    else:
        planned = plan_account(desired, current, partner, catalogue, capabilities, provider)
    if planned.error is not None and desired.source is not None:
        planned = replace(planned, source=str(desired.source))
    return replace(planned, state_digest=account_digest(current))
