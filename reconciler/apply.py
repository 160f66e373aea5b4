"""Walks a plan, calls the provider, isolates failures per account, returns a report.

Branches on step type and channel only. ``manual`` steps (and everything that
depends on one) are reported as pending for a person; ``approval`` steps send
the access request and then wait on the client. The first failed step stops
its account; other accounts go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler import plan as p
from reconciler.errors import ReconcilerError
from reconciler.model import DesiredAccount
from reconciler.plan import AccountPlan
from reconciler.providers.base import Provider

APPLIED = "applied"
PENDING = "pending"
WAITING = "waiting"
FAILED = "failed"
NOT_ATTEMPTED = "not attempted"


@dataclass(frozen=True)
class StepOutcome:
    step: p.Step
    status: str
    message: str = ""


@dataclass(frozen=True)
class AccountReport:
    account: int
    name: str
    outcomes: tuple[StepOutcome, ...] = ()
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(o.status == FAILED for o in self.outcomes)

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if any(o.status in (PENDING, WAITING) for o in self.outcomes):
            return "pending"
        return "done" if self.outcomes else "unchanged"

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True)
class ApplyReport:
    accounts: tuple[AccountReport, ...]

    @property
    def failed(self) -> tuple[AccountReport, ...]:
        return tuple(a for a in self.accounts if a.failed)

    @property
    def left_by_hand(self) -> tuple[StepOutcome, ...]:
        return tuple(o for a in self.accounts for o in a.outcomes if o.status == PENDING)


def apply_account(
    account_plan: AccountPlan,
    desired: DesiredAccount,
    provider: Provider,
    force: bool = False,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> AccountReport:
    """Apply one account's steps strictly in order; never raises for a provider failure."""
    name = account_plan.name
    if account_plan.error:
        return AccountReport(account_plan.account, name, error=f"not planned: {account_plan.error}")
    if account_plan.over_removal_limit and not force:
        return AccountReport(
            account_plan.account,
            name,
            error=(
                f"refused: {account_plan.removals} removals exceed max_removals"
                f" ({account_plan.removal_limit}); re-run with --force to allow"
            ),
        )
    held: set[str] = set()  # ids of steps left to a person, and of steps after them

    def attempt(step: p.Step) -> StepOutcome:
        """Do one step, or say why it waits; raises when the provider fails it."""
        if step.channel == "approval":
            held.add(step.id)
            message = "waiting for the client to approve partner access"
            if (
                step.type != p.REQUEST_ACCESS
                or (step.after or {}).get("partner_access") != "pending"
            ):
                return StepOutcome(step, PENDING, message)
            if p.REQUEST_ACCESS not in provider.capabilities.step_types:
                return StepOutcome(
                    step,
                    PENDING,
                    "send the access request as its instructions say; then " + message,
                )
            provider.execute(step, desired)
            return StepOutcome(step, PENDING, "access requested; " + message)
        if step.channel == "manual":
            held.add(step.id)
            # The reason is only shown here; what happens never depends on it.
            return StepOutcome(
                step, PENDING, "to do by hand: " + step.reason.split("; manual: ")[-1]
            )
        if held.intersection(step.depends_on):
            held.add(step.id)
            return StepOutcome(step, WAITING, "waits for a step done by hand")
        provider.execute(step, desired)
        return StepOutcome(step, APPLIED)

    outcomes: list[StepOutcome] = []
    steps = account_plan.steps
    for index, step in enumerate(steps):
        try:
            outcome = attempt(step)
        except ReconcilerError as exc:
            outcome = StepOutcome(step, FAILED, str(exc))
            later = (
                StepOutcome(s, NOT_ATTEMPTED, "an earlier step failed") for s in steps[index + 1 :]
            )
            outcomes += [outcome, *later]
        else:
            outcomes.append(outcome)
        if on_step is not None:
            on_step(outcome)
        if outcome.status == FAILED:
            break
    return AccountReport(account_plan.account, name, tuple(outcomes))
