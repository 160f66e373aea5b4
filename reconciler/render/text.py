"""The terminal rendering: headline and what needs attention first, then each account's
steps with Terraform-like symbols; colour only when asked for.

Every line is made inert (:func:`~reconciler.render.inert`) before colour is
added: text from configs and client accounts never reaches a terminal raw.
"""

from __future__ import annotations

from reconciler.plan import AccountPlan, Plan, Step
from reconciler.render import (
    NO_CONTEXT,
    Context,
    account_header,
    attention,
    change_words,
    dangers,
    failed_first,
    headline,
    inert,
    matching_words,
    seat_words,
    symbol,
    title,
)
from reconciler.render.fleet import fleet_text

COLOURS = {
    "+": "32",
    "-": "31",
    "~": "33",
    "?": "36",
    "!": "35",
    "error": "31;1",
    "warn": "33",
    "dim": "2",
}


def paint(text: str, colour: str, enabled: bool) -> str:
    """``text`` made inert, then coloured if ``enabled``."""
    text = inert(text)
    return f"\033[{COLOURS[colour]}m{text}\033[0m" if enabled else text


#: Marks a step a reviewer should look at twice.
DANGER = "⚠"


def render_step(step: Step, color: bool, actor: str | None = None) -> list[str]:
    mark = "!" if step.channel == "manual" else symbol(step)
    channel = "" if step.channel == "api" else f" [{step.channel}]"
    heading = inert(f"{title(step)}{channel}: {step.user}")
    head = f"  {paint(mark, mark, color)} {heading}"
    reasons = dangers(step, actor)
    if reasons:
        head += "  " + paint(f"{DANGER} {', '.join(reasons)}", "error", color)
    lines = [
        head,
        inert(f"      {change_words(step)}"),
        paint(f"      why: {step.why}", "dim", color),
    ]
    if step.source:
        lines.append(paint(f"      from: {step.source}", "dim", color))
    for number, instruction in enumerate(step.instructions, 1):
        lines.append(inert(f"      {number}. {instruction}"))
    return lines


def render_account(account: AccountPlan, color: bool, actor: str | None = None) -> list[str]:
    if account.error:
        title = inert(f"{account.name} ({account.account})")
        where = f" (config: {inert(account.source)})" if account.source else ""
        return [f"{title}: {paint('error', 'error', color)}: {inert(account.error)}{where}"]
    lines = [inert(account_header(account))]
    for warning in account.warnings:
        lines.append(paint(f"  warning: {warning}", "warn", color))
    for step in account.steps:
        lines.extend(render_step(step, color, actor))
    if account.seats.freed or account.seats.taken:
        lines.append(inert(f"  paid seats: {seat_words(account.seats)}"))
    return lines


#: The "Needs attention" section lists at most this many steps, then how many more.
ATTENTION_LIMIT = 10


def render_headline(plan: Plan, color: bool, actor: str | None = None) -> list[str]:
    """The headline (red when an account could not be planned), then what needs attention."""
    first, *rest = headline(plan)
    summary = f"Plan: {first}." if plan.steps else f"{first}."
    failed = any(a.error for a in plan.accounts)
    lines = [paint(summary, "error", color) if failed else summary]
    lines += [f"{sentence}." for sentence in rest]
    items = attention(plan, actor)
    if items:
        lines += ["", f"Needs attention ({len(items)}):"]
        for item in items[:ATTENTION_LIMIT]:
            step, account = item.step, item.account
            where = f" ({step.source})" if step.source else ""
            lines.append(
                inert(
                    f"  {DANGER} {account.name} ({account.account}): {symbol(step)} {title(step)}"
                    f" {step.user}: {', '.join(item.reasons)}{where}"
                )
            )
        if len(items) > ATTENTION_LIMIT:
            lines.append(f"  and {len(items) - ATTENTION_LIMIT} more (marked {DANGER} below)")
    fleet = fleet_text(plan)
    return [*lines, "", *fleet] if fleet else lines


def render_text(plan: Plan, color: bool = False, context: Context = NO_CONTEXT) -> str:
    lines = [*render_headline(plan, color, context.actor), ""]
    for account in failed_first(plan.accounts):
        if account.steps or account.error or account.warnings:
            lines.extend(render_account(account, color, context.actor))
            lines.append("")
    matching = matching_words(plan)
    if matching:
        lines.append(matching)
    lines.append(inert(f"Paid seats: {seat_words(plan.seats)}."))
    for account in plan.accounts:
        if account.seats.freed or account.seats.taken:
            lines.append(
                inert(f"  {account.name} ({account.account}): {seat_words(account.seats)}")
            )
    return "\n".join(lines) + "\n"
