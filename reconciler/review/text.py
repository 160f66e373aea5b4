"""The review for terminals: accounts, flags, then every person account by account."""

from __future__ import annotations

from reconciler.render import inert
from reconciler.review.build import AccountSummary, Person, Review
from reconciler.review.words import FLAG_TITLES, account_title, cell_words, headline, money


def render_review_text(review: Review) -> str:
    names = review.account_names()
    lines = [inert(f"Access review: {headline(review)}"), "", "Accounts:"]
    lines += [f"  {inert(_account_line(a, review.currency))}" for a in review.accounts]
    lines += ["", "Flags:" if review.flags else "Flags: none"]
    for code, flagged in review.flags_by_code():
        lines.append(f"  {FLAG_TITLES[code]} ({len(flagged)}):")
        lines += [
            f"    {inert(account_title(f.account_name, f.account))}: {inert(f.message)}"
            for f in flagged
        ]
    lines += ["", "People (partner employees first):"]
    for person in review.people:
        lines += _person_lines(person, names, review.currency)
    return "\n".join(lines) + "\n"


def _account_line(account: AccountSummary, currency: str | None) -> str:
    title = account_title(account.name, account.id)
    if account.error is not None:
        return f"{title}: could not be read: {account.error}"
    seats = ", ".join(f"{seat} {count}" for seat, count in account.seats) or "none"
    line = (
        f"{title}: {account.users} user{'s' if account.users != 1 else ''},"
        f" {account.super_admins} Super Admin{'s' if account.super_admins != 1 else ''},"
        f" seats {seats}"
    )
    if account.partner_access != "granted":
        line += f", partner access {account.partner_access}"
    cost = money(account.monthly_cost, currency)
    return f"{line}; {cost}/month" if cost else line


def _person_lines(person: Person, names: dict[int, str], currency: str | None) -> list[str]:
    who = person.email + (f" ({person.name})" if person.name else "")
    who += ", partner employee" if person.employee else ""
    cost = money(person.monthly_cost, currency)
    lines = [f"  {inert(who)}" + (f"; {cost}/month" if cost else "")]
    for cell in person.cells:
        flags = f"  [{', '.join(cell.flags)}]" if cell.flags else ""
        where = account_title(names[cell.account], cell.account)
        lines.append(f"    {inert(where)}: {inert(cell_words(cell, currency))}{flags}")
    return lines
