"""Renderings of a Plan: pure functions from a Plan value to text."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from reconciler import plan as p
from reconciler.model import Access
from reconciler.plan import AccountPlan, Plan, SeatImpact, Step

SYMBOLS: Mapping[str, str] = {
    p.CREATE_USER: "+",
    p.REMOVE_USER: "-",
    p.REQUEST_ACCESS: "?",
}

TITLES: Mapping[str, str] = {
    p.REQUEST_ACCESS: "request access",
    p.CREATE_USER: "create user",
    p.REMOVE_USER: "remove user",
    p.PROMOTE_SUPER_ADMIN: "promote to Super Admin",
    p.GRANT_PARTNER_ADMIN: "grant Partner Admin",
    p.MIGRATE_TO_PARTNER_ADMIN: "migrate Super Admin → Partner Admin",
    p.SET_ACCESS: "set access",
    p.SET_SEAT: "change seat",
    p.SET_PERMISSIONS: "set permissions",
    p.SET_TEAMS: "set teams",
    p.SET_NAME: "set name",
}


def inert(text: str) -> str:
    """Text safe for a terminal: control, format (bidi) and line-separator characters escaped.

    Names, emails and roles come from config and from client accounts; an ESC,
    CR, NUL or U+202E in them must show as what it is (``\\x1b``, ``\\u202e``),
    not clear the screen, set the window title, overwrite a line or reverse text.
    """
    if text.isprintable():
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _escape(char: str) -> str:
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def plural(count: int, noun: str) -> str:
    """'1 step', '2 steps', '1 account', '0 accounts'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def account_header(account: AccountPlan) -> str:
    """'Acme Corp (4410021): 5 steps (3 api, 2 manual)' or '...: no changes'."""
    title = f"{account.name} ({account.account})"
    if not account.steps:
        return f"{title}: no changes"
    return f"{title}: {plural(len(account.steps), 'step')} ({counts_words(account.summary())})"


def plan_summary(plan: Plan) -> str:
    """'22 steps (17 api, 4 manual, 1 approval) in 7 of 8 accounts' or 'No changes: ...'."""
    total = len(plan.steps)
    accounts = len(plan.accounts)
    if not total:
        return f"No changes: {'the account matches' if accounts == 1 else f'all {accounts} accounts match'} the config"
    changed = sum(1 for a in plan.accounts if a.steps)
    return f"{plural(total, 'step')} ({counts_words(plan.summary())}) in {changed} of {plural(accounts, 'account')}"


def matching_words(plan: Plan) -> str | None:
    """'3 accounts already match the config.' for the accounts without steps or errors."""
    matching = sum(1 for a in plan.accounts if not a.steps and not a.error)
    if not matching or not plan.steps:
        return None
    verb = "matches" if matching == 1 else "match"
    return f"{plural(matching, 'account')} already {verb} the config."


def symbol(step: Step) -> str:
    return SYMBOLS.get(step.type, "~")


def value_words(key: str, value: Any) -> str:
    if value is None:
        return "none"
    if key == "access":
        return str(Access.parse(value))
    if key == "permissions":
        add = ", ".join(f"+{x}" for x in value.get("add") or [])
        remove = ", ".join(f"-{x}" for x in value.get("remove") or [])
        return ", ".join(x for x in (add, remove) if x) or "none"
    if key == "teams":
        primary = value.get("primary") or "none"
        secondary = ", ".join(value.get("secondary") or [])
        return f"{primary}" + (f" (+ {secondary})" if secondary else "")
    return str(value)


def user_words(data: Mapping[str, Any]) -> str:
    """'Partner Admin, partner seat, teams Marketing' for a created or removed user."""
    parts = [str(Access.parse(data.get("access", "basic"))), f"{data.get('seat', 'none')} seat"]
    name = " ".join(x for x in (data.get("first_name"), data.get("last_name")) if x)
    if name:
        parts.insert(0, name)
    if data.get("teams"):
        parts.append(f"teams {value_words('teams', data['teams'])}")
    if data.get("permissions"):
        parts.append(f"permissions {value_words('permissions', data['permissions'])}")
    return ", ".join(parts)


def change_words(step: Step) -> str:
    """What changes, before → after, in one line."""
    if step.type == p.CREATE_USER:
        return user_words(step.after or {})
    if step.type == p.REMOVE_USER:
        return f"was {user_words(step.before or {})}"
    before, after = step.before or {}, step.after or {}
    keys = [k for k in after if before.get(k) != after.get(k)] or list(after)
    if step.type == p.SET_NAME:
        words_before = " ".join(
            str(before.get(k) or "") for k in ("first_name", "last_name")
        ).strip()
        words_after = " ".join(str(after.get(k) or "") for k in ("first_name", "last_name")).strip()
        return f"name: {words_before or 'none'} → {words_after or 'none'}"
    return "; ".join(
        f"{k}: {value_words(k, before.get(k))} → {value_words(k, after.get(k))}" for k in keys
    )


def seat_words(impact: SeatImpact) -> str:
    freed = ", ".join(f"{k} {v}" for k, v in sorted(impact.freed.items()) if v)
    taken = ", ".join(f"{k} {v}" for k, v in sorted(impact.taken.items()) if v)
    return f"freed {freed or 'none'}; taken {taken or 'none'}"


def counts_words(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[c]} {c}" for c in p.CHANNELS if counts.get(c))
