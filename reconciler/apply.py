"""Walks a plan, calls the provider, isolates failures per account, returns a report.

Branches on step type and channel only. ``manual`` steps (and everything that
depends on one) are reported as pending for a person; ``approval`` steps send
the access request and then wait on the client. The first failed step stops
its account; other accounts go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler import plan as p
from reconciler.errors import ReconcilerError
from reconciler.model import DesiredAccount
from reconciler.plan import AccountPlan
from reconciler.providers.base import Provider
from reconciler.steps import StepType


class Status(StrEnum):
    """What became of one step (the journal's ``outcome``; the strings are the contract)."""

    APPLIED = "applied"
    PENDING = "pending"
    WAITING = "waiting"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"


class AccountStatus(StrEnum):
    """What became of one account, summed up from its steps."""

    FAILED = "failed"
    PENDING = "pending"
    DONE = "done"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class StepOutcome:
    step: p.Step
    status: Status
    message: str = ""


@dataclass(frozen=True)
class AccountReport:
    account: int
    name: str
    outcomes: tuple[StepOutcome, ...] = ()
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(o.status == Status.FAILED for o in self.outcomes)

    @property
    def status(self) -> AccountStatus:
        if self.failed:
            return AccountStatus.FAILED
        if any(o.status in (Status.PENDING, Status.WAITING) for o in self.outcomes):
            return AccountStatus.PENDING
        return AccountStatus.DONE if self.outcomes else AccountStatus.UNCHANGED

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True)
class ApplyReport:
    accounts: tuple[AccountReport, ...]

    @property
    def failed(self) -> tuple[AccountReport, ...]:
        return tuple(a for a in self.accounts if a.failed)

    @property
    def left_by_hand(self) -> tuple[StepOutcome, ...]:
        return tuple(o for a in self.accounts for o in a.outcomes if o.status == Status.PENDING)


@dataclass
class _Attempt:
    """One account's steps, done in order by one worker."""

    provider: Provider
    desired: DesiredAccount
    held: set[str] = field(default_factory=set)  # steps left to a person, and those after them

    def __call__(self, step: p.Step) -> StepOutcome:
        """Do one step, or say why it waits; raises when the provider fails it."""
        if step.channel == "approval":
            self.held.add(step.id)
            return self._approval(step)
        if step.channel == "manual":
            self.held.add(step.id)
            return StepOutcome(step, Status.PENDING, f"to do by hand: {step.manual_reason}")
        if self.held.intersection(step.depends_on):
            self.held.add(step.id)
            return StepOutcome(step, Status.WAITING, "waits for a step done by hand")
        self.provider.execute(step, self.desired)
        return StepOutcome(step, Status.APPLIED)

    def _approval(self, step: p.Step) -> StepOutcome:
        message = "waiting for the client to approve partner access"
        if (
            step.type != StepType.REQUEST_ACCESS
            or (step.after.partner_access if step.after else None) != "pending"
        ):
            return StepOutcome(step, Status.PENDING, message)
        if StepType.REQUEST_ACCESS not in self.provider.capabilities.step_types:
            return StepOutcome(
                step,
                Status.PENDING,
                "send the access request as its instructions say; then " + message,
            )
        self.provider.execute(step, self.desired)
        return StepOutcome(step, Status.PENDING, "access requested; " + message)


def _refusal(account_plan: AccountPlan, force: bool) -> str | None:
    """Why none of an account's steps may be applied, if so."""
    if account_plan.error:
        return f"not planned: {account_plan.error}"
    if account_plan.over_removal_limit and not force:
        return (
            f"refused: {account_plan.removals} removals exceed max_removals"
            f" ({account_plan.removal_limit}); re-run with --force to allow"
        )
    return None


def apply_account(
    account_plan: AccountPlan,
    desired: DesiredAccount,
    provider: Provider,
    force: bool = False,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> AccountReport:
    """Apply one account's steps strictly in order; never raises for a provider failure."""
    error = _refusal(account_plan, force)
    if error is not None:
        return AccountReport(account_plan.account, account_plan.name, error=error)
    attempt = _Attempt(provider, desired)
    outcomes: list[StepOutcome] = []
    steps = account_plan.steps
    for index, step in enumerate(steps):
        try:
            outcome = attempt(step)
        except ReconcilerError as exc:
            outcome = StepOutcome(step, Status.FAILED, str(exc))
            later = (
                StepOutcome(s, Status.NOT_ATTEMPTED, "an earlier step failed")
                for s in steps[index + 1 :]
            )
            outcomes += [outcome, *later]
        else:
            outcomes.append(outcome)
        if on_step is not None:
            on_step(outcome)
        if outcome.status == Status.FAILED:
            break
    return AccountReport(account_plan.account, account_plan.name, tuple(outcomes))
