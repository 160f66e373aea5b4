"""The terminal rendering: Terraform-like symbols, colour only when asked for."""

from __future__ import annotations

from reconciler.plan import AccountPlan, Plan, Step
from reconciler.render import TITLES, change_words, counts_words, plan_counts, seat_words, symbol

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
    return f"\033[{COLOURS[colour]}m{text}\033[0m" if enabled else text


def render_step(step: Step, color: bool) -> list[str]:
    mark = "!" if step.channel == "manual" else symbol(step)
    channel = "" if step.channel == "api" else f" [{step.channel}]"
    head = f"  {paint(mark, mark, color)} {TITLES.get(step.type, step.type)}{channel}: {step.user}"
    lines = [head, f"      {change_words(step)}", paint(f"      why: {step.reason}", "dim", color)]
    if step.source:
        lines.append(paint(f"      from: {step.source}", "dim", color))
    for number, instruction in enumerate(step.instructions, 1):
        lines.append(f"      {number}. {instruction}")
    return lines


def render_account(account: AccountPlan, color: bool) -> list[str]:
    title = f"{account.name} ({account.account})"
    if account.error:
        return [f"{title}: {paint('error', 'error', color)}: {account.error}"]
    counts = account.summary()
    lines = [
        f"{title}: {len(account.steps)} step{'s' if len(account.steps) != 1 else ''} ({counts_words(counts)})"
    ]
    for warning in account.warnings:
        lines.append(paint(f"  warning: {warning}", "warn", color))
    for step in account.steps:
        lines.extend(render_step(step, color))
    if account.seats.freed or account.seats.taken:
        lines.append(f"  paid seats: {seat_words(account.seats)}")
    return lines


def render_text(plan: Plan, color: bool = False) -> str:
    lines: list[str] = []
    changed = [a for a in plan.accounts if a.steps or a.error or a.warnings]
    for account in changed:
        lines.extend(render_account(account, color))
        lines.append("")
    unchanged = len(plan.accounts) - len(changed)
    if unchanged:
        lines.append(
            f"{unchanged} accounts already match the config."
            if unchanged != 1
            else "1 account already matches the config."
        )
    counts = plan_counts(plan)
    failed = sum(1 for a in plan.accounts if a.error)
    total = len(plan.steps)
    summary = f"Plan: {total} step{'s' if total != 1 else ''}"
    if total:
        summary += f" ({counts_words(counts)})"
    summary += f" in {sum(1 for a in plan.accounts if a.steps)} of {len(plan.accounts)} accounts"
    if failed:
        summary += paint(
            f"; {failed} account{'s' if failed != 1 else ''} cannot be planned", "error", color
        )
    lines.append(summary + ".")
    lines.append(f"Paid seats: {seat_words(plan.seats)}.")
    for account in plan.accounts:
        if account.seats.freed or account.seats.taken:
            lines.append(f"  {account.name} ({account.account}): {seat_words(account.seats)}")
    return "\n".join(lines) + "\n"
