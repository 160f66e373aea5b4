"""The review for machines: CSV (one row per person and account) and JSON.

CSV follows RFC 4180 (the csv module: CRLF, quoted where needed) and is safe
to open in a spreadsheet: a cell that starts with ``= + - @``, a tab or a
carriage return is prefixed with a single quote, so it is never run as a
formula (OWASP's advice on CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reconciler.review.build import Cell, Person, Review
from reconciler.review.words import amount

FORMAT_VERSION = 1

CSV_COLUMNS: tuple[str, ...] = (
    "email",
    "name",
    "partner_employee",
    "account_id",
    "account_name",
    "account_error",
    "access",
    "role",
    "seat",
    "primary_team",
    "secondary_teams",
    "config",
    "monthly_cost",
    "currency",
    "flags",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard(value: str) -> str:
    """A cell a spreadsheet shows as text, never evaluates."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def render_review_csv(review: Review) -> str:
    """One row per person and account they are in; an unreadable account is a row of its own."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    names = review.account_names()
    currency = review.currency or ""
    for person in review.people:
        for cell in person.cells:
            row = _csv_row(person, cell, names[cell.account], currency)
            writer.writerow([guard(value) for value in row])
    for account in review.unreadable:
        row = ["", "", "", str(account.id), account.name, account.error or ""]
        row += ["", "", "", "", "", "", "", currency, "unreadable-account"]
        writer.writerow([guard(value) for value in row])
    return out.getvalue()


def _csv_row(person: Person, cell: Cell, account_name: str, currency: str) -> list[str]:
    return [
        person.email,
        person.name,
        "yes" if person.employee else "no",
        str(cell.account),
        account_name,
        "",
        cell.access,
        cell.role or "",
        cell.seat,
        cell.primary_team or "",
        ";".join(cell.secondary_teams),
        cell.config,
        amount(cell.monthly_cost),
        currency if cell.monthly_cost is not None else "",
        ";".join(cell.flags),
    ]


def review_data(review: Review) -> dict[str, Any]:
    """The review as JSON-ready data; amounts are strings (``"90.00"``), never floats."""
    return {
        "format_version": FORMAT_VERSION,
        "partner": review.partner,
        "currency": review.currency,
        "monthly_cost": _amount(review),
        "accounts": [
            {
                "id": a.id,
                "name": a.name,
                "error": a.error,
                "partner_access": a.partner_access,
                "users": a.users,
                "super_admins": a.super_admins,
                "seats": dict(a.seats),
                "monthly_cost": amount(a.monthly_cost) if a.monthly_cost is not None else None,
            }
            for a in review.accounts
        ],
        "people": [_person_data(p) for p in review.people],
        "flags": [
            {
                "code": f.code,
                "account": f.account,
                "account_name": f.account_name,
                "user": f.user,
                "message": f.message,
            }
            for f in review.flags
        ],
        "flag_counts": review.flag_counts(),
    }


def _amount(review: Review) -> str | None:
    return amount(review.monthly_cost) if review.monthly_cost is not None else None


def _person_data(person: Person) -> dict[str, Any]:
    return {
        "email": person.email,
        "name": person.name,
        "partner_employee": person.employee,
        "monthly_cost": amount(person.monthly_cost) if person.monthly_cost is not None else None,
        "flags": list(person.flags),
        "accounts": [
            {
                "account": c.account,
                "access": c.access,
                "role": c.role,
                "seat": c.seat,
                "teams": {"primary": c.primary_team, "secondary": list(c.secondary_teams)},
                "config": c.config,
                "monthly_cost": amount(c.monthly_cost) if c.monthly_cost is not None else None,
                "flags": list(c.flags),
            }
            for c in person.cells
        ],
    }


def render_review_json(review: Review) -> str:
    # Compact: indenting would take Python's pure-Python encoder, five times slower on a
    # fleet's 20 MB; `jq .` shows it indented.
    data = review_data(review)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
