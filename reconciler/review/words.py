"""Words shared by the review's renderings: amounts, teams, flag titles."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from reconciler.review import build as b

_CENT = Decimal("0.01")

#: Each flag's title, as a reviewer reads it.
FLAG_TITLES: dict[str, str] = {
    b.UNREADABLE: "Accounts that could not be read",
    b.EMPLOYEE_SUPER_ADMIN: "Partner employees still Super Admin (migrate to Partner Admin)",
    b.NON_EMPLOYEE_PARTNER_SEAT: "Non-employees holding a partner seat",
    b.NON_EMPLOYEE_PARTNER_ADMIN: "Non-employees holding Partner Admin",
    b.SINGLE_SUPER_ADMIN: "Accounts with a single Super Admin",
    b.UNDECLARED_USER: "Users the config does not declare (or declares absent)",
}


def amount(value: Decimal | None) -> str:
    """``90.00``; empty when prices are not set."""
    if value is None:
        return ""
    return str(value.quantize(_CENT, rounding=ROUND_HALF_EVEN))


def money(value: Decimal | None, currency: str | None) -> str:
    """``90.00 EUR``; empty when prices are not set."""
    if value is None or currency is None:
        return ""
    return f"{amount(value)} {currency}"


def teams_words(cell: b.Cell) -> str:
    """``Marketing (+ Sales)``, or empty."""
    if not cell.primary_team and not cell.secondary_teams:
        return ""
    secondary = ", ".join(cell.secondary_teams)
    return (cell.primary_team or "none") + (f" (+ {secondary})" if secondary else "")


def cell_words(cell: b.Cell, currency: str | None) -> str:
    """``Super Admin, core seat, teams Sales, declared, 90.00 EUR/month``."""
    parts = [cell.access_label, "no seat" if cell.seat == "none" else f"{cell.seat} seat"]
    teams = teams_words(cell)
    if teams:
        parts.append(f"teams {teams}")
    parts.append(cell.config)
    cost = money(cell.monthly_cost, currency)
    if cost:
        parts.append(f"{cost}/month")
    return ", ".join(parts)


def account_title(name: str, account: int) -> str:
    return f"{name} ({account})" if name else str(account)


def headline(review: b.Review) -> str:
    """``Northwind Digital: 31 people in 8 accounts (1 unreadable); 4 flags; 1,234.00 EUR/month``."""
    unreadable = len(review.unreadable)
    parts = [
        f"{review.partner}: {_plural(len(review.people), 'person', 'people')} in"
        f" {_plural(len(review.accounts), 'account')}"
        + (f" ({unreadable} could not be read)" if unreadable else ""),
        _plural(len(review.flags), "flag"),
    ]
    total = money(review.monthly_cost, review.currency)
    if total:
        parts.append(f"seat spend {total}/month")
    return "; ".join(parts)


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
