"""The fleet-wide sections of a rendered plan: offboarding and the monthly seat cost change.

Each is there only when it has something to say (a leaver removed somewhere,
``seat_prices`` set), so plans without them render as before. The JSON rendering
holds the same as data (:func:`reconciler.fleet.fleet_data`, in the plan itself).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from reconciler.cost import CostChange, signed
from reconciler.fleet import Offboarding, cost_change, offboarding
from reconciler.plan import Plan
from reconciler.render import inert, plural

#: At most this many accounts' cost changes are listed in a Markdown comment.
MARKDOWN_ACCOUNTS = 50


def fleet_text(plan: Plan) -> list[str]:
    """Lines for the terminal, after the plan's headline; none when there is nothing to say."""
    lines: list[str] = []
    leavers = offboarding(plan.steps)
    if leavers:
        lines.append(f"Offboarding: {plural(len(leavers), 'leaver')}.")
        lines += [inert(f"  {_leaver_words(leaver)}") for leaver in leavers]
    change = cost_change(plan)
    if change is not None:
        lines.append(f"Monthly seat cost: {_amount(change, change.total)}.")
        names = _names(plan)
        lines += [
            inert(f"  {names[account]}: {_amount(change, amount)}")
            for account, amount in change.accounts
            if amount
        ]
    return lines


def fleet_markdown(plan: Plan, escape: Callable[[object], str]) -> list[str]:
    """Paragraphs for the pull-request comment, each followed by a blank line."""
    lines: list[str] = []
    leavers = offboarding(plan.steps)
    if leavers:
        lines.append(f"**Offboarding:** {plural(len(leavers), 'leaver')}")
        lines += [f"- {escape(_leaver_words(leaver))}" for leaver in leavers]
        lines.append("")
    change = cost_change(plan)
    if change is not None:
        lines.append(f"**Monthly seat cost:** {_amount(change, change.total)}")
        names = _names(plan)
        changed = [(account, amount) for account, amount in change.accounts if amount]
        lines += [
            f"- {escape(names[account])}: {_amount(change, amount)}"
            for account, amount in changed[:MARKDOWN_ACCOUNTS]
        ]
        if len(changed) > MARKDOWN_ACCOUNTS:
            more = len(changed) - MARKDOWN_ACCOUNTS
            lines.append(f"- and {plural(more, 'more account')}: see the saved plan's `cost`")
        lines.append("")
    return lines


def _leaver_words(leaver: Offboarding) -> str:
    """'ana@x.example: removed from 3 accounts (partner.yaml:14:7)'."""
    where = f" ({leaver.source})" if leaver.source else ""
    return f"{leaver.email}: removed from {plural(len(leaver.accounts), 'account')}{where}"


def _amount(change: CostChange, amount: Decimal) -> str:
    return signed(amount, change.currency)


def _names(plan: Plan) -> dict[int, str]:
    return {a.account: f"{a.name} ({a.account})" for a in plan.accounts}
