"""The rendering of an apply's report: what each account got, what is left by hand, totals.

Plain lines; the CLI makes each one inert before it reaches a terminal.
"""

from __future__ import annotations

from reconciler.apply import AccountReport, ApplyReport, Status
from reconciler.render import TITLES, plural

#: How each step status is counted, in the order the counts are shown.
OUTCOME_WORDS: tuple[tuple[Status, str], ...] = (
    (Status.APPLIED, "applied"),
    (Status.PENDING, "left to a person or the client"),
    (Status.WAITING, "waiting on those"),
    (Status.FAILED, "failed"),
    (Status.NOT_ATTEMPTED, "not attempted"),
)


def report_lines(report: ApplyReport) -> list[str]:
    """Each account's outcome, what is left to do by hand, and the totals."""
    lines: list[str] = []
    for account in report.accounts:
        lines += account_lines(account)
    manual = report.left_by_hand
    if manual:
        lines += ["", f"Left to do by hand ({len(manual)}):"]
        for outcome in manual:
            step = outcome.step
            lines.append(f"  [{step.account}] {TITLES[step.type]}: {step.user}: {outcome.message}")
            lines.extend(f"      {n}. {text}" for n, text in enumerate(step.instructions, 1))
    totals = {
        status: sum(a.count(status) for a in report.accounts if not a.error)
        for status, _ in OUTCOME_WORDS
    }
    done = ", ".join(f"{totals[s]} {w}" for s, w in OUTCOME_WORDS if totals[s]) or "nothing applied"
    failed = len(report.failed)
    lines += [
        "",
        f"Apply: {done} in {plural(len(report.accounts), 'account')}"
        + (f"; {plural(failed, 'account')} failed." if failed else "."),
    ]
    return lines


def account_lines(account: AccountReport) -> list[str]:
    """One account's counts (or its error), then each failed step."""
    title = f"{account.name} ({account.account})"
    if account.error:
        return [f"{title}: failed: {account.error}"]
    counts = [(account.count(status), words) for status, words in OUTCOME_WORDS]
    parts = [f"{count} {words}" for count, words in counts if count]
    lines = [f"{title}: {', '.join(parts) or 'nothing to do'}"]
    for outcome in account.outcomes:
        if outcome.status == Status.FAILED:
            step = outcome.step
            lines.append(f"  failed: {TITLES[step.type]} {step.user}: {outcome.message}")
    return lines
