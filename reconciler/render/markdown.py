"""The pull-request comment: headline, what needs attention, a summary table, details.

Everything that comes from config, current state or a plan file (names, emails,
roles, teams, account names, errors, ids) goes through :func:`escape`, which
makes it inert on GitHub:

* control, format (bidi) and line-separator characters are shown escaped
  (``\\x1b``, ``\\u202e``) and whitespace runs become one space, so the text
  stays on its line;
* every character Markdown or HTML reads as syntax (``& < > " \\ ` * _ [ ] | ~ $``)
  is written as its character reference (``&#42;`` for ``*``). References mean
  the same in Markdown text, in a table cell and inside the raw HTML of a
  ``<summary>``, so one escape serves every place, and a ``|`` never splits a
  table row;
* what GitHub links *after* Markdown (``@user`` and ``@org/team`` mentions,
  ``#123`` references, e-mail addresses, ``https://…`` and ``www.…``) is broken
  by an empty HTML comment, ``<!-- -->``, after the ``@``, the ``#``, the
  ``:`` of ``://`` and the ``www``. GitHub finds mentions and references in the
  rendered text, where a character reference (``&#64;``) or a backslash is
  already gone, so neither stops them; the comment splits the text in two and
  renders as nothing. Invisible characters (zero-width spaces or joiners) would
  do the same but are exactly what the comment must not contain.

User text never starts a line (it always follows a table pipe, a tag or words
of ours), so block syntax (headings, lists, quotes) cannot start from it.
Links to config lines are the only links, and their URLs are percent-encoded
(:func:`link_target`).
"""

from __future__ import annotations

import os
import re
from pathlib import PurePath
from urllib.parse import quote

from reconciler.plan import AccountPlan, Plan, Step
from reconciler.render import (
    NO_CONTEXT,
    Attention,
    Context,
    SourceLink,
    account_header,
    attention,
    change_words,
    dangers,
    failed_first,
    headline,
    inert,
    matching_words,
    plural,
    seat_words,
    symbol,
    title,
)
from reconciler.render.fleet import fleet_markdown

MARKER = "<!-- reconciler-plan -->"
#: Renders as nothing; splits text so GitHub links no mention, reference or URL in it.
BREAK = "<!-- -->"
#: Markdown and HTML syntax characters, as the character references that show them.
REFERENCES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "\\": "&#92;",
    "`": "&#96;",
    "*": "&#42;",
    "_": "&#95;",
    "[": "&#91;",
    "]": "&#93;",
    "|": "&#124;",
    "~": "&#126;",
    "$": "&#36;",
}
_SYNTAX = re.compile(r"(?i:www)(?=\.)|:(?=//)|[@#]|[&<>\"\\`*_\[\]|~$]")
#: What a code span may hold as it is (plan ids and digests).
_PLAIN = re.compile(r"[A-Za-z0-9:._-]+")
DANGER = "⚠️"


def _replace(match: re.Match[str]) -> str:
    text = match.group()
    return REFERENCES.get(text) or text + BREAK


def escape(text: object) -> str:
    """Markdown- and HTML-inert text, on one line, that GitHub links nothing in."""
    return _SYNTAX.sub(_replace, inert(" ".join(str(text).split())))


def code(text: str) -> str:
    """An id or digest as a code span; escaped text if it holds anything else."""
    return f"`{text}`" if _PLAIN.fullmatch(text) else escape(text)


def link_target(url: str) -> str | None:
    """``url`` percent-encoded for a Markdown link destination; None unless http(s)."""
    if not url.startswith(("https://", "http://")):
        return None
    return quote(url, safe="/:#?=%-._~+,")


def source_links(prefix: str, root: str, here: str) -> SourceLink:
    """Links from a step's ``file:line:col`` to ``{prefix}/{path}#L{line}``.

    ``prefix`` is a blob URL up to and including the commit
    (``https://github.com/o/r/blob/abc123``); ``root`` is the repository's
    folder and ``here`` the folder relative sources are relative to, both
    absolute. A source outside the repository gets no link.
    """

    def link(source: str) -> str | None:
        file, _, rest = source.rpartition(":")
        file, _, line = file.rpartition(":") if file else ("", "", "")
        if not file or not line.isdigit() or not rest.isdigit():
            return None
        path = os.path.relpath(os.path.normpath(os.path.join(here, file)), root)
        if path == os.curdir or path.split(os.sep)[0] == os.pardir:
            return None
        return f"{prefix.rstrip('/')}/{PurePath(path).as_posix()}#L{line}"

    return link


def source_cell(source: str | None, link: SourceLink | None) -> str:
    """``file:line`` of a config entry, linked when a link is known."""
    if not source:
        return "–"
    where = source.rsplit(":", 1)[0] if source.count(":") >= 2 else source
    url = link(source) if link else None
    target = link_target(url) if url else None
    return f"[{escape(where)}]({target})" if target else escape(where)


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


def render_step_row(number: int, step: Step, context: Context = NO_CONTEXT) -> str:
    channel = step.channel if step.channel == "api" else f"**{escape(step.channel)}**"
    mark = f"{DANGER} " if dangers(step, context.actor) else ""
    return (
        f"| {number} | {mark}`{symbol(step)}` {escape(title(step))} | {escape(step.user)}"
        f" | {escape(change_words(step))} | {channel} | {escape(step.why)}"
        f" | {source_cell(step.source, context.link)} |"
    )


def render_account(account: AccountPlan, context: Context = NO_CONTEXT) -> list[str]:
    # An account that could not be planned is open: its error is the news.
    opening = "<details open>" if account.error else "<details>"
    lines = [opening, f"<summary>{escape(account_header(account))}</summary>", ""]
    if account.error:
        where = f" (config: {source_cell(account.source, context.link)})" if account.source else ""
        lines += [f"**Cannot plan:** {escape(account.error)}{where}", ""]
    for warning in account.warnings:
        lines.append(f"> ⚠️ {escape(warning)}")
    if account.warnings:
        lines.append("")
    if account.steps:
        lines += [
            "| # | Change | User | Before → after | Channel | Why | Config |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [render_step_row(n, s, context) for n, s in enumerate(account.steps, 1)]
        lines.append("")
    manual = [s for s in account.steps if s.channel != "api"]
    if manual:
        lines += ["**To do by hand:**", ""]
        for step in manual:
            lines.append(f"- [ ] {escape(title(step))}: {escape(step.user)} ({code(step.id)})")
            lines += [f"  {n}. {escape(text)}" for n, text in enumerate(step.instructions, 1)]
        lines.append("")
    if account.seats.freed or account.seats.taken:
        lines += [f"Paid seats: {escape(seat_words(account.seats))}", ""]
    lines += ["</details>", ""]
    return lines


#: The "Needs attention" section lists at most this many steps ...
ATTENTION_LIMIT = 10
#: ... in at most this many characters, then says how many more there are.
ATTENTION_BUDGET = 6_000


def attention_item(item: Attention, link: SourceLink | None) -> str:
    step, account = item.step, item.account
    where = f" ({source_cell(step.source, link)})" if step.source else ""
    return (
        f"- {DANGER} {escape(account.name)} ({account.account}): `{symbol(step)}`"
        f" {escape(title(step))} {escape(step.user)}: {escape(', '.join(item.reasons))}{where}"
    )


def render_attention(plan: Plan, context: Context = NO_CONTEXT) -> list[str]:
    """The steps to look at twice, first; short whatever the plan's size."""
    items = attention(plan, context.actor)
    if not items:
        return []
    lines = [f"**Needs attention ({len(items)}):**", ""]
    used = 0
    for item in items[:ATTENTION_LIMIT]:
        line = attention_item(item, context.link)
        if used + len(line) > ATTENTION_BUDGET:
            break
        lines.append(line)
        used += len(line) + 1
    more = len(items) - (len(lines) - 2)
    if more:
        lines.append(f"- and {more} more (marked {DANGER} in their accounts)")
    return [*lines, ""]


#: GitHub refuses an issue or pull-request comment longer than this, in characters.
COMMENT_LIMIT = 65_536


def render_markdown(plan: Plan, limit: int = COMMENT_LIMIT, context: Context = NO_CONTEXT) -> str:
    """The comment; at most ``limit`` characters.

    Accounts that could not be planned come first. When the whole plan does not
    fit, as many others as fit follow, and a line says how many are not shown
    and where the whole plan is.
    """
    changed = failed_first([a for a in plan.accounts if a.steps or a.error or a.warnings])
    whole = _comment(plan, changed, [], context)
    if len(whole) <= limit:
        return whole
    ordered = sorted(changed, key=lambda a: (a.error is None, a.account))
    sizes = [len("\n".join([_row(a), *render_account(a, context)])) + 2 for a in ordered]
    budget = limit - len(_comment(plan, [], ordered, context))
    shown = 0
    while shown < len(ordered) and sizes[shown] <= budget:
        budget -= sizes[shown]
        shown += 1
    while True:  # the sizes are close estimates; make sure
        text = _comment(plan, ordered[:shown], ordered[shown:], context)
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
        f" | {escape(freed) or '–'} | {escape(taken) or '–'} |"
    )


def _comment(
    plan: Plan, shown: list[AccountPlan], hidden: list[AccountPlan], context: Context
) -> str:
    first, *rest = headline(plan)
    lines = [MARKER, "### reconciler plan", "", f"**{first}.**", ""]
    for sentence in rest:
        lines += [f"{sentence}.", ""]
    lines += render_attention(plan, context)
    lines += fleet_markdown(plan, escape)
    if hidden:
        steps = sum(len(a.steps) for a in hidden)
        lines += [
            f"**{plural(len(hidden), 'more account')} with {plural(steps, 'step')} not shown:**"
            f" GitHub comments hold at most {COMMENT_LIMIT:,} characters. The whole plan is"
            " in the saved plan file (`reconciler plan --out plan.json`, then"
            " `reconciler show plan.json`) or the CI job's artifact.",
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
            lines += render_account(account, context)
    matching = matching_words(plan)
    if matching:
        lines += [matching, ""]
    lines.append(f"<sub>planned against state digest {code(plan.state_digest)}</sub>")
    lines.append("")
    lines.append(f"**Paid seats, all accounts:** {escape(seat_words(plan.seats))}")
    return "\n".join(lines) + "\n"
