"""What a plan does across the fleet: who is offboarded where, and the seat cost change.

Pure, and read from the plan alone (its steps and its seat prices), so a saved
plan shows the same as the plan that was made. A step removes a leaver when its
reason is :data:`~reconciler.model.LEAVER_REASON` (``partner.leavers``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.cost import CostChange, PlanLike, SeatPrices, StepLike, money, plan_cost
from reconciler.model import LEAVER_REASON, user_key

REMOVE_USER = "remove_user"


@dataclass(frozen=True)
class Offboarding:
    """One leaver: the accounts a plan removes them from (and where the line is)."""

    email: str
    accounts: tuple[int, ...]
    source: str | None

    def to_data(self) -> dict[str, Any]:
        return {"email": self.email, "accounts": list(self.accounts), "source": self.source}


def is_leaver_step(step: StepLike) -> bool:
    return step.type == REMOVE_USER and step.reason == LEAVER_REASON


def offboarding(steps: Iterable[StepLike]) -> tuple[Offboarding, ...]:
    """Each leaver the steps remove, by email, with the accounts they leave, in id order."""
    accounts: dict[str, set[int]] = {}
    sources: dict[str, str | None] = {}
    for step in steps:
        if is_leaver_step(step) and step.user:
            key = user_key(step.user)
            accounts.setdefault(key, set()).add(step.account)
            sources.setdefault(key, step.source)
    return tuple(
        Offboarding(key, tuple(sorted(accounts[key])), sources[key]) for key in sorted(accounts)
    )


def cost_change(plan: PlanLike) -> CostChange | None:
    """The plan's monthly seat cost change, or None when the config sets no seat prices."""
    prices = plan.seat_prices
    return plan_cost(plan, prices) if prices is not None else None


def prices_data(prices: SeatPrices) -> dict[str, Any]:
    """``seat_prices`` as a plan file holds it: amounts as exact decimal strings."""
    monthly = {seat: format(prices.monthly[seat], "f") for seat in sorted(prices.monthly)}
    return {"currency": prices.currency, "monthly": monthly}


def fleet_data(plan: PlanLike) -> dict[str, Any]:
    """The plan's fleet-wide sections, each only when it has something to say.

    ``offboarding``: each leaver and the accounts they are removed from; ``seat_prices``
    and ``cost`` (the monthly change per account that changes, and in total, with two
    decimals) when prices are set. A plan without leavers or prices has neither, so
    its data stays as it was before these existed.
    """
    data: dict[str, Any] = {}
    leavers = offboarding(plan.steps)
    if leavers:
        data["offboarding"] = [leaver.to_data() for leaver in leavers]
    change = cost_change(plan)
    if change is not None and plan.seat_prices is not None:
        data["seat_prices"] = prices_data(plan.seat_prices)
        data["cost"] = {
            "currency": change.currency,
            "monthly_change": money(change.total),
            "accounts": {str(a): money(amount) for a, amount in change.accounts if amount},
        }
    return data
