"""The review as one self-contained HTML page: flags, unreadable accounts, and a
people × accounts matrix to filter and sort.

No network: the style sheet and script are inline and a Content-Security-Policy
allows only them. Every string from config or current state is made inert and
HTML-escaped where it is written into the page; the matrix's data sits in a JSON
block in which ``<``, ``>`` and ``&`` are written as ``\\u003c`` and so on, so
no name can close the block or open a tag.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from reconciler.render import inert
from reconciler.review.assets import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from reconciler.review.build import (
    FLAGS,
    SINGLE_SUPER_ADMIN,
    UNREADABLE,
    Cell,
    Review,
)
from reconciler.review.words import FLAG_TITLES, account_title, amount, headline, teams_words

#: Flags that belong to an account rather than to a person in it.
ACCOUNT_FLAGS: tuple[str, ...] = (SINGLE_SUPER_ADMIN, UNREADABLE)
_SCRIPT_SAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def text(value: object) -> str:
    """Inert, HTML-escaped text (quotes too: safe in an attribute)."""
    return escape(inert(str(value)), quote=True)


def render_review_html(review: Review) -> str:
    counts = review.flag_counts()
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>Access review: {text(review.partner)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Access review: {text(review.partner)}</h1>",
        f'<p class="headline">{text(headline(review))}</p>',
        *_flag_section(review, counts),
        *_unreadable_section(review),
        "<h2>People × accounts</h2>",
        '<div class="controls">',
        '<input id="person-filter" type="search" placeholder="Filter people: email, name, role,'
        ' team, seat" aria-label="Filter people">',
        '<input id="account-filter" type="search" placeholder="Filter accounts: name or id"'
        ' aria-label="Filter accounts">',
        *_flag_select(counts),
        '<button id="prev" type="button">◀ Previous</button>',
        '<button id="next" type="button">Next ▶</button>',
        '<span id="count"></span>',
        "</div>",
        '<p class="legend">Each cell: access, then seat. <span class="super_admin">Super Admin</span>'
        '<span class="partner_admin">Partner Admin</span><span class="role">custom permission set</span>'
        '<span class="flagged">flagged</span><span class="undeclared">not declared in the config</span>'
        " An account name in red has a single Super Admin. Hover a cell for teams, config and cost;"
        " click a column header to sort.</p>",
        '<div class="scroller">',
        '<table id="matrix"><thead></thead><tbody></tbody></table>',
        "</div>",
        "<noscript><p>The matrix needs JavaScript; <code>--format csv</code> or"
        " <code>--format json</code> give the same data.</p></noscript>",
        f'<script type="application/json" id="review-data">{_data_block(review)}</script>',
        f"<script>{SCRIPT}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(lines) + "\n"


def _flag_section(review: Review, counts: dict[str, int]) -> list[str]:
    lines = ["<h2>Flags</h2>", '<ul class="flags">']
    if not review.flags:
        lines.append('<li class="none">Nothing flagged.</li>')
    for code, flagged in review.flags_by_code():
        lines.append(f"<li><details><summary>{text(FLAG_TITLES[code])}: {counts[code]:,}</summary>")
        lines.append("<ul>")
        lines += [
            f"<li>{text(account_title(f.account_name, f.account))}: {text(f.message)}</li>"
            for f in flagged
        ]
        lines.append("</ul></details></li>")
    lines.append("</ul>")
    return lines


def _unreadable_section(review: Review) -> list[str]:
    if not review.unreadable:
        return []
    lines = ["<h2>Accounts that could not be read</h2>", '<ul class="unreadable">']
    lines += [
        f"<li>{text(account_title(a.name, a.id))}: {text(a.error or '')}</li>"
        for a in review.unreadable
    ]
    return [*lines, "</ul>"]


def _flag_select(counts: dict[str, int]) -> list[str]:
    lines = ['<select id="flag-filter" aria-label="Filter by flag">']
    lines.append('<option value="">Everyone</option>')
    lines.append('<option value="employee">Partner employees</option>')
    for code in FLAGS:
        if code != UNREADABLE and counts[code]:
            lines.append(
                f'<option value="{code}">{text(FLAG_TITLES[code])} ({counts[code]:,})</option>'
            )
    lines.append("</select>")
    return lines


def _data_block(review: Review) -> str:
    """The matrix's data, compact: arrays by position, accounts by index."""
    index = {a.id: i for i, a in enumerate(review.accounts)}
    account_flags: dict[int, list[str]] = {a.id: [] for a in review.accounts}
    for flag in review.flags:
        if flag.code in ACCOUNT_FLAGS and flag.code not in account_flags[flag.account]:
            account_flags[flag.account].append(flag.code)
    data: dict[str, Any] = {
        "currency": review.currency,
        "account_flags": list(ACCOUNT_FLAGS),
        "accounts": [
            [a.id, inert(a.name), a.partner_access, _amount(a.monthly_cost), account_flags[a.id]]
            for a in review.accounts
        ],
        "people": [
            [
                inert(p.email),
                inert(p.name),
                p.employee,
                _amount(p.monthly_cost),
                [_cell(c, index[c.account]) for c in p.cells],
            ]
            for p in review.people
        ],
    }
    encoded = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return encoded.translate(_SCRIPT_SAFE)


def _cell(cell: Cell, account: int) -> list[Any]:
    return [
        account,
        cell.access,
        inert(cell.role) if cell.role is not None else None,
        cell.seat,
        inert(teams_words(cell)),
        cell.config,
        _amount(cell.monthly_cost),
        list(cell.flags),
    ]


def _amount(value: Any) -> str | None:
    return amount(value) if value is not None else None
