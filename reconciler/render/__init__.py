"""Renderings of a Plan: pure functions from a Plan value to text.

What every rendering says the same way lives here: the headline
(:func:`headline`, a list of sentences, so a new one is one more item), the
counts by action and by channel, and which steps a reviewer must look at twice
(:func:`dangers`, :func:`attention`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reconciler import plan as p
from reconciler.fields import NAMES, NO_FIELDS
from reconciler.model import PAID_SEATS, Permissions, Teams, User, user_key
from reconciler.plan import AccountPlan, Plan, SeatImpact, Step
from reconciler.steps import KINDS, Effect, StepType

#: Each step type's title, from the table of step types.
TITLES: Mapping[StepType, str] = {t: kind.title for t, kind in KINDS.items()}

#: A step's ``source`` (``file:line:col``) → the URL of that config line, or None.
SourceLink = Callable[[str], str | None]


@dataclass(frozen=True)
class Context:
    """What a rendering may know besides the plan; the CLI finds it at its edge."""

    #: The identity the tool acts as: a change to its own access is marked.
    actor: str | None = None
    #: Links each step to its config line (Markdown only).
    link: SourceLink | None = None


#: A rendering that knows nothing besides the plan.
NO_CONTEXT = Context()


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


#: Accounts a one-line summary names before it counts the rest.
NAMED_IN_SUMMARY = 10


def some_ids(ids: Sequence[int]) -> str:
    """'4410021, 4410022' and, past :data:`NAMED_IN_SUMMARY`, '... and 190 more': one
    line, even when a whole fleet failed (each account's reason is in its own place)."""
    shown = ", ".join(str(i) for i in ids[:NAMED_IN_SUMMARY])
    rest = len(ids) - NAMED_IN_SUMMARY
    return f"{shown} and {rest} more" if rest > 0 else shown


def account_header(account: AccountPlan) -> str:
    """'Acme Corp (4410021): 5 steps (3 api, 2 manual)', '...: no changes' or
    '...: cannot be planned'."""
    title = f"{account.name} ({account.account})"
    if account.error:
        return f"{title}: cannot be planned"
    if not account.steps:
        return f"{title}: no changes"
    return f"{title}: {plural(len(account.steps), 'step')} ({counts_words(account.summary())})"


def plan_summary(plan: Plan) -> str:
    """'22 steps (17 api, 4 manual, 1 approval) in 7 of 8 accounts' or 'No changes: ...'.

    Never "no changes" when an account could not be planned: its changes are unknown.
    """
    total = len(plan.steps)
    accounts = len(plan.accounts)
    failed = sum(1 for a in plan.accounts if a.error)
    cannot = f"{plural(failed, 'account')} cannot be planned" if failed else ""
    if not total:
        if failed:
            matching = accounts - failed
            rest = (
                f"; {plural(matching, 'other account')} {'matches' if matching == 1 else 'match'} the config"
                if matching
                else ""
            )
            return f"Nothing planned: {cannot}{rest}"
        return f"No changes: {'the account matches' if accounts == 1 else f'all {accounts} accounts match'} the config"
    changed = sum(1 for a in plan.accounts if a.steps)
    summary = f"{plural(total, 'step')} ({counts_words(plan.summary())}) in {changed} of {plural(accounts, 'account')}"
    return f"{summary}; {cannot}" if failed else summary


def matching_words(plan: Plan) -> str | None:
    """'3 accounts already match the config.' for the accounts without steps or errors."""
    matching = sum(1 for a in plan.accounts if not a.steps and not a.error)
    if not matching or not plan.steps:
        return None
    verb = "matches" if matching == 1 else "match"
    return f"{plural(matching, 'account')} already {verb} the config."


def symbol(step: Step) -> str:
    return step.kind.symbol


def title(step: Step) -> str:
    return step.kind.title


def value_words(value: object) -> str:
    """A field's value in words: 'Partner Admin', 'core', '+a, -b', 'Sales (+ Support)'."""
    if value is None:
        return "none"
    if isinstance(value, Permissions):
        add = ", ".join(f"+{x}" for x in sorted(value.add))
        remove = ", ".join(f"-{x}" for x in sorted(value.remove))
        return ", ".join(x for x in (add, remove) if x) or "none"
    if isinstance(value, Teams):
        secondary = ", ".join(value.secondary)
        return f"{value.primary or 'none'}" + (f" (+ {secondary})" if secondary else "")
    return str(value)


def user_words(user: User) -> str:
    """'Partner Admin, partner seat, teams Marketing' for a created or removed user."""
    parts = [str(user.access), f"{user.seat} seat"]
    name = " ".join(x for x in (user.first_name, user.last_name) if x)
    if name:
        parts.insert(0, name)
    if user.teams.names():
        parts.append(f"teams {value_words(user.teams)}")
    if user.permissions:
        parts.append(f"permissions {value_words(user.permissions)}")
    return ", ".join(parts)


def change_words(step: Step) -> str:
    """What changes, before → after, in one line."""
    effect = step.kind.effect
    if effect is Effect.CREATE and step.after is not None:
        return user_words(step.after.to_user())
    if effect is Effect.REMOVE and step.before is not None:
        return f"was {user_words(step.before.to_user())}"
    before, after = step.before or NO_FIELDS, step.after or NO_FIELDS
    touched = step.kind.touched(after)
    changed = [f for f in touched if before.value(f) != after.value(f)] or list(touched)
    words = []
    if any(f in NAMES for f in changed):
        was = " ".join(before.value(f) or "" for f in NAMES).strip()
        will = " ".join(after.value(f) or "" for f in NAMES).strip()
        words.append(f"name: {was or 'none'} → {will or 'none'}")
    words += [
        f"{f}: {value_words(before.value(f))} → {value_words(after.value(f))}"
        for f in changed
        if f not in NAMES
    ]
    return "; ".join(words)


def seat_words(impact: SeatImpact) -> str:
    freed = ", ".join(f"{k} {v}" for k, v in sorted(impact.freed.items()) if v)
    taken = ", ".join(f"{k} {v}" for k, v in sorted(impact.taken.items()) if v)
    return f"freed {freed or 'none'}; taken {taken or 'none'}"


def counts_words(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[c]} {c}" for c in p.CHANNELS if counts.get(c))


#: The actions a headline counts, in its order; "request" (access requests) only when any.
ACTIONS: tuple[str, ...] = ("create", "change", "remove", "request")


def action_counts(steps: Sequence[Step]) -> dict[str, int]:
    """How many steps create, change, remove or request (every action present)."""
    counts = dict.fromkeys(ACTIONS, 0)
    for step in steps:
        counts[step.kind.action] += 1
    return counts


def action_words(counts: Mapping[str, int]) -> str:
    """'3 to create, 5 to change, 1 to remove' (and ', 1 access request' when any)."""
    words = [f"{counts.get(a, 0)} to {a}" for a in ACTIONS if a != "request"]
    if counts.get("request"):
        words.append(plural(counts["request"], "access request"))
    return ", ".join(words)


def headline(plan: Plan) -> list[str]:
    """The plan in a few sentences (no final stop), most important first.

    The first is :func:`plan_summary` (never "no changes" when an account failed);
    then the counts by action. A rendering shows every sentence, so a new fact
    for reviewers is one more item here.
    """
    sentences = [plan_summary(plan)]
    if plan.steps:
        sentences.append(action_words(action_counts(plan.steps)))
    return sentences


#: The fields whose change alters what a user may do (a name or team does not).
_ACCESS_FIELDS = ("access", "seat", "permissions")


def dangers(step: Step, actor: str | None = None) -> tuple[str, ...]:
    """Why a reviewer should look twice at ``step`` (empty: an ordinary step).

    Removals, any change to or from Super Admin, Partner Admin granted, a paid
    seat taken, and any change to the access of ``actor`` (the identity the tool
    acts as, when known). A step type the kinds table marks dangerous is never
    left unmarked.
    """
    kind = step.kind
    before, after = step.before or NO_FIELDS, step.after or NO_FIELDS
    found: list[str] = []
    if kind.effect is Effect.REMOVE:
        found.append("removes a user")
    kinds = {a.kind for a in (before.access, after.access) if a is not None}
    if "super_admin" in kinds:
        found.append("Super Admin change")
    granted = after.access is not None and after.access.kind == "partner_admin"
    if granted and (before.access is None or before.access.kind != "partner_admin"):
        found.append("grants Partner Admin")
    if after.seat in PAID_SEATS and after.seat != before.seat:
        found.append(f"takes a paid {after.seat} seat")
    own = actor is not None and step.user is not None and user_key(step.user) == user_key(actor)
    if own and kind.effect is not Effect.REQUEST:
        touched = kind.effect in (Effect.CREATE, Effect.REMOVE) or any(
            f in after for f in _ACCESS_FIELDS
        )
        if touched:
            found.append("the actor's own access")
    if kind.dangerous and not found:
        found.append(kind.title)
    return tuple(found)


@dataclass(frozen=True)
class Attention:
    """One step a reviewer should look at twice, and why."""

    account: AccountPlan
    step: Step
    reasons: tuple[str, ...]


def attention(plan: Plan, actor: str | None = None) -> list[Attention]:
    """Every dangerous step, in plan order (accounts that could not be planned have none)."""
    return [
        Attention(account, step, reasons)
        for account in plan.accounts
        for step in account.steps
        if (reasons := dangers(step, actor))
    ]


def failed_first(accounts: Sequence[AccountPlan]) -> list[AccountPlan]:
    """The accounts that could not be planned first, each group in plan order."""
    return [a for a in accounts if a.error] + [a for a in accounts if not a.error]
