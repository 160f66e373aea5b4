"""The pull-request comment: a summary table, collapsible details, manual steps as a checklist.

Everything that comes from config or current state is escaped, so a user name
cannot inject Markdown or HTML into the comment.
"""

from __future__ import annotations

import re

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

MARKER = "<!-- reconciler-plan -->"
_SPECIAL = re.compile(r"([\\`*_\[\]|<>~])")


def escape(text: object) -> str:
    """Markdown- and HTML-inert text, on one line, with control and bidi characters escaped."""
    flat = inert(" ".join(str(text).split()))
    return _SPECIAL.sub(r"\\\1", flat.replace("&", "&amp;"))


def status(account: AccountPlan) -> str:
    if account.error:
        return "❌ cannot plan"
    if account.over_removal_limit:
        return "⚠️ over max_removals"
    if not account.steps:
        return "✅ no changes"
    if any(s.channel == "approval" for s in account.steps):
        return "⏳ awaiting the client's approval"
    if any(s.channel == "manual" for s in account.steps):
        return "✋ needs a person"
    return "📝 changes"


def render_step_row(number: int, step: Step) -> str:
    channel = step.channel if step.channel == "api" else f"**{step.channel}**"
    return (
        f"| {number} | `{symbol(step)}` {escape(title(step))} | {escape(step.user)}"
        f" | {escape(change_words(step))} | {channel} | {escape(step.why)} |"
    )


def render_account(account: AccountPlan) -> list[str]:
    lines = ["<details>", f"<summary>{escape(account_header(account))}</summary>", ""]
    if account.error:
        lines += [f"**Cannot plan:** {escape(account.error)}", ""]
    for warning in account.warnings:
        lines.append(f"> ⚠️ {escape(warning)}")
    if account.warnings:
        lines.append("")
    if account.steps:
        lines += [
            "| # | Change | User | Before → after | Channel | Why |",
            "|---|---|---|---|---|---|",
        ]
        lines += [render_step_row(n, s) for n, s in enumerate(account.steps, 1)]
        lines.append("")
    manual = [s for s in account.steps if s.channel != "api"]
    if manual:
        lines += ["**To do by hand:**", ""]
        for step in manual:
            lines.append(f"- [ ] {escape(title(step))}: {escape(step.user)} (`{step.id}`)")
            lines += [f"  {n}. {escape(text)}" for n, text in enumerate(step.instructions, 1)]
        lines.append("")
    if account.seats.freed or account.seats.taken:
        lines += [f"Paid seats: {escape(seat_words(account.seats))}", ""]
    lines += ["</details>", ""]
    return lines


#: GitHub refuses an issue or pull-request comment longer than this, in characters.
COMMENT_LIMIT = 65_536


def render_markdown(plan: Plan, limit: int = COMMENT_LIMIT) -> str:
    """The comment; at most ``limit`` characters.

    When the whole plan does not fit, the accounts that could not be planned come
    first, then as many others as fit, and a line says how many are not shown and
    where the whole plan is.
    """
    changed = [a for a in plan.accounts if a.steps or a.error or a.warnings]
    whole = _comment(plan, changed, [])
    if len(whole) <= limit:
        return whole
    ordered = sorted(changed, key=lambda a: (a.error is None, a.account))
    sizes = [len("\n".join([_row(a), *render_account(a)])) + 2 for a in ordered]
    budget = limit - len(_comment(plan, [], ordered))
    shown = 0
    while shown < len(ordered) and sizes[shown] <= budget:
        budget -= sizes[shown]
        shown += 1
    while True:  # the sizes are close estimates; make sure
        text = _comment(plan, ordered[:shown], ordered[shown:])
        if len(text) <= limit or shown == 0:
            return text
        shown -= 1


def _row(account: AccountPlan) -> str:
    c = account.summary()
    freed = ", ".join(f"{k} {v}" for k, v in sorted(account.seats.freed.items()) if v)
    taken = ", ".join(f"{k} {v}" for k, v in sorted(account.seats.taken.items()) if v)
    return (
        f"| {escape(account.name)} ({account.account}) | {status(account)} | {len(account.steps)}"
        f" | {c['api']} | {c['manual']} | {c['approval']} | {account.removals}"
        f" | {freed or '–'} | {taken or '–'} |"
    )


def _comment(plan: Plan, shown: list[AccountPlan], hidden: list[AccountPlan]) -> str:
    summary = plan_summary(plan)
    lines = [MARKER, "### reconciler plan", "", f"**{summary}.**", ""]
    if hidden:
        steps = sum(len(a.steps) for a in hidden)
        lines += [
            f"**{len(hidden)} more account{'s' if len(hidden) != 1 else ''} with"
            f" {steps} step{'s' if steps != 1 else ''} not shown:** GitHub comments hold at most"
            f" {COMMENT_LIMIT:,} characters. The whole plan is in the saved plan file"
            " (`reconciler plan --out plan.json`, then `reconciler show plan.json`) or the CI"
            " job's artifact.",
            "",
        ]
    if shown:
        lines += [
            "| Account | Status | Steps | API | Manual | Approval | Removals | Paid seats freed | Paid seats taken |",
            "|---|---|---:|---:|---:|---:|---:|---|---|",
        ]
        lines += [_row(account) for account in shown]
        lines.append("")
        for account in shown:
            lines += render_account(account)
    matching = matching_words(plan)
    if matching:
        lines += [matching, ""]
    lines.append(f"<sub>planned against state digest `{plan.state_digest}`</sub>")
    lines.append("")
    lines.append(f"**Paid seats, all accounts:** {escape(seat_words(plan.seats))}")
    return "\n".join(lines) + "\n"
