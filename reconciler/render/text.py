"""The terminal rendering: Terraform-like symbols, colour only when asked for.

Every line is made inert (:func:`~reconciler.render.inert`) before colour is
added: text from configs and client accounts never reaches a terminal raw.
"""

from __future__ import annotations

from reconciler.plan import AccountPlan, Plan, Step
from reconciler.render import (
    account_header,
    change_words,
    inert,
    matching_words,
    plan_summary,
    seat_words,
    symbol,
    title,
)

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


def render_step(step: Step, color: bool) -> list[str]:
    mark = "!" if step.channel == "manual" else symbol(step)
    channel = "" if step.channel == "api" else f" [{step.channel}]"
    heading = inert(f"{title(step)}{channel}: {step.user}")
    head = f"  {paint(mark, mark, color)} {heading}"
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


def render_account(account: AccountPlan, color: bool) -> list[str]:
    if account.error:
        title = inert(f"{account.name} ({account.account})")
        return [f"{title}: {paint('error', 'error', color)}: {inert(account.error)}"]
    lines = [inert(account_header(account))]
    for warning in account.warnings:
        lines.append(paint(f"  warning: {warning}", "warn", color))
    for step in account.steps:
        lines.extend(render_step(step, color))
    if account.seats.freed or account.seats.taken:
        lines.append(f"  paid seats: {seat_words(account.seats)}")
    return lines


def render_text(plan: Plan, color: bool = False) -> str:
    lines: list[str] = []
    for account in plan.accounts:
        if account.steps or account.error or account.warnings:
            lines.extend(render_account(account, color))
            lines.append("")
    matching = matching_words(plan)
    if matching:
        lines.append(matching)
    summary = f"Plan: {plan_summary(plan)}" if plan.steps else plan_summary(plan)
    failed = any(a.error for a in plan.accounts)
    lines.append(paint(summary + ".", "error", color) if failed else summary + ".")
    lines.append(f"Paid seats: {seat_words(plan.seats)}.")
    for account in plan.accounts:
        if account.seats.freed or account.seats.taken:
            lines.append(
                inert(f"  {account.name} ({account.account}): {seat_words(account.seats)}")
            )
    return "\n".join(lines) + "\n"
