"""The review as GitHub Markdown: summary tables, flags, one row per person and account.

Everything that comes from config or current state goes through the plan
comment's ``escape``: a user name cannot inject Markdown or HTML.
"""

from __future__ import annotations

from reconciler.render.markdown import escape
from reconciler.review.build import AccountSummary, Review
from reconciler.review.words import FLAG_TITLES, account_title, headline, money, teams_words


def render_review_markdown(review: Review) -> str:
    lines = ["### Access review", "", f"**{escape(headline(review))}**", "", "#### Accounts", ""]
    lines += [
        "| Account | Users | Super Admins | Seats | Partner access | Monthly seat spend |",
        "|---|---:|---:|---|---|---:|",
    ]
    lines += [_account_row(a, review.currency) for a in review.accounts]
    lines += ["", "#### Flags", ""]
    if not review.flags:
        lines += ["None.", ""]
    for code, flagged in review.flags_by_code():
        lines.append(f"- **{FLAG_TITLES[code]}** ({len(flagged)})")
        lines += [
            f"  - {escape(account_title(f.account_name, f.account))}: {escape(f.message)}"
            for f in flagged
        ]
    if review.flags:
        lines.append("")
    lines += ["#### People", "", "Partner employees first.", ""]
    lines += [
        "| Person | Name | Partner employee | Account | Access | Seat | Teams | Config"
        " | Monthly | Flags |",
        "|---|---|---|---|---|---|---|---|---:|---|",
    ]
    names = review.account_names()
    for person in review.people:
        for cell in person.cells:
            lines.append(
                f"| {escape(person.email)} | {escape(person.name)}"
                f" | {'yes' if person.employee else 'no'}"
                f" | {escape(account_title(names[cell.account], cell.account))}"
                f" | {escape(cell.access_label)} | {escape(cell.seat)}"
                f" | {escape(teams_words(cell))} | {cell.config}"
                f" | {money(cell.monthly_cost, review.currency)} | {', '.join(cell.flags)} |"
            )
    return "\n".join(lines) + "\n"


def _account_row(account: AccountSummary, currency: str | None) -> str:
    title = escape(account_title(account.name, account.id))
    if account.error is not None:
        return f"| {title} | – | – | ❌ could not be read: {escape(account.error)} | – | – |"
    seats = ", ".join(f"{seat} {count}" for seat, count in account.seats) or "none"
    return (
        f"| {title} | {account.users} | {account.super_admins} | {escape(seats)}"
        f" | {account.partner_access} | {money(account.monthly_cost, currency)} |"
    )
