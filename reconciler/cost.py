"""Seat prices and what a plan changes in monthly seat cost.

Pure: no I/O. A price is per seat type and month, a :class:`~decimal.Decimal` in
one currency. The partner seat and no seat are always free; a seat type without
a price costs 0 (``validate`` warns when a paid seat type has none). The change
is read from the steps' before and after seats, counted as the plan's paid seats
freed and taken are: a seat the provider cannot read counts only for a new user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Protocol


# What this module reads of a plan, as shapes: the plan module itself imports the
# model, which imports this one.
class Seated(Protocol):
    @property
    def seat(self) -> str | None: ...


class StepLike(Protocol):
    @property
    def account(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def user(self) -> str | None: ...
    @property
    def before(self) -> Seated | None: ...
    @property
    def after(self) -> Seated | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def source(self) -> str | None: ...


class AccountPlanLike(Protocol):
    @property
    def account(self) -> int: ...
    @property
    def steps(self) -> Sequence[StepLike]: ...
    @property
    def error(self) -> str | None: ...


class PlanLike(Protocol):
    @property
    def accounts(self) -> Sequence[AccountPlanLike]: ...
    @property
    def steps(self) -> Sequence[StepLike]: ...
    @property
    def seat_prices(self) -> SeatPrices | None: ...


#: Seats that never cost anything, whatever the config says.
FREE_SEATS: frozenset[str] = frozenset({"partner", "none"})
#: A seat the provider cannot read (``reconciler.model.UNKNOWN_SEAT``).
_UNKNOWN = "unknown"
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class SeatPrices:
    """``seat_prices``: a currency (ISO 4217 code) and a monthly price per seat type."""

    currency: str
    monthly: Mapping[str, Decimal]

    def price(self, seat: str | None) -> Decimal:
        """The monthly price of one ``seat``: 0 for partner, none, unknown or unpriced seats."""
        if seat is None or seat in FREE_SEATS:
            return Decimal(0)
        return self.monthly.get(seat, Decimal(0))

    def format(self, amount: Decimal) -> str:
        """``amount`` signed, with 2 decimals and the currency code: ``+90.00 EUR``, ``-5.50 EUR``."""
        return signed(amount, self.currency)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SeatPrices:
        """From the config block or a plan file; a number is read as written (``89.9``).

        Raises ValueError for an amount that is not a number.
        """
        try:
            monthly = {str(seat): Decimal(str(value)) for seat, value in data["monthly"].items()}
        except InvalidOperation as exc:
            raise ValueError(f"seat_prices: not an amount in {dict(data['monthly'])}") from exc
        return cls(str(data["currency"]), monthly)


def money(amount: Decimal) -> str:
    """An amount with exactly two decimals (half to even), as plans show it: ``-90.00``."""
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    return str(rounded + 0)  # + 0: never "-0.00"


def signed(amount: Decimal, currency: str) -> str:
    """``amount`` signed, with 2 decimals and the currency code: ``+90.00 EUR``, ``0.00 EUR``."""
    text = money(amount)
    return f"{'+' if Decimal(text) > 0 else ''}{text} {currency}"


def monthly_change(steps: AccountPlanLike | Iterable[StepLike], prices: SeatPrices) -> Decimal:
    """What the steps change in the monthly cost: seats taken minus seats freed, priced."""
    change = Decimal(0)
    created: set[str] = set()
    for step in steps if isinstance(steps, Iterable) else steps.steps:
        user = (step.user or "").strip().lower()
        before = step.before.seat if step.before is not None else None
        after = step.after.seat if step.after is not None else None
        if step.type == "create_user":
            created.add(user)
        if before == after:
            continue
        if before == _UNKNOWN and user not in created:
            continue
        change += prices.price(after) - prices.price(before)
    return change


@dataclass(frozen=True)
class CostChange:
    """The monthly cost change of each account that can be planned, and in total."""

    currency: str
    accounts: tuple[tuple[int, Decimal], ...]

    @property
    def total(self) -> Decimal:
        return sum((amount for _, amount in self.accounts), Decimal(0))


def plan_cost(plan: PlanLike, prices: SeatPrices) -> CostChange:
    """Every account's monthly cost change (accounts that failed to plan change nothing)."""
    return CostChange(
        prices.currency,
        tuple((a.account, monthly_change(a, prices)) for a in plan.accounts if not a.error),
    )
