"""What changed in an account since a plan recorded it: the lines a stale plan's refusal shows."""

from __future__ import annotations

import re
from typing import Any

from reconciler.model import AccountState, ReadFailure, User, user_key
from reconciler.plan import AccountPlan
from reconciler.steps import StepType


def drift_lines(account_plan: AccountPlan, state: AccountState | ReadFailure) -> list[str]:
    """What changed, for each user the plan touches, since the plan recorded ``before``."""
    if isinstance(state, ReadFailure):
        return [f"  {account_plan.name} ({account_plan.account}): {state.message}"]
    lines = []
    seen: set[str] = set()
    for step in account_plan.steps:
        if not step.user or step.type == StepType.REQUEST_ACCESS or user_key(step.user) in seen:
            continue
        # A user's first step records the user as it was; later ones, as the plan leaves it.
        seen.add(user_key(step.user))
        user = state.users.get(user_key(step.user))
        before = dict(step.before) if step.before is not None else None
        if user is None:
            now = None
        else:
            data = _fields(user)
            keys = before if before is not None else data
            now = {k: data.get(k) for k in keys}
        if now == before:
            continue
        if before is None:
            what = "now exists"
        elif now is None:
            what = "no longer exists"
        else:
            what = "; ".join(describe_changes(before, now)) or "changed"
        lines.append(f"  {account_plan.account} {step.user}: {what}")
    return sorted(set(lines))


def _fields(user: User) -> dict[str, Any]:
    """Every field of a user, as steps record them (empty teams and permissions included)."""
    return {
        **user.to_data(),
        "teams": user.teams.to_data(),
        "permissions": user.permissions.to_data(),
    }


def describe_changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Field by field, nested ones by path: ``teams.primary was 'Sales', is None``."""
    from deepdiff import DeepDiff  # only a refused plan needs it

    diff = DeepDiff(before, now, verbose_level=2, ignore_order=True)
    changes: list[str] = []
    for kind in ("values_changed", "type_changes"):
        for path, change in diff.get(kind, {}).items():
            changes.append(f"{_path(path)} was {change['old_value']!r}, is {change['new_value']!r}")
    for kind, word in (
        ("dictionary_item_added", "is now"),
        ("iterable_item_added", "now has"),
        ("dictionary_item_removed", "no longer has"),
        ("iterable_item_removed", "no longer has"),
    ):
        for path, value in diff.get(kind, {}).items():
            changes.append(f"{_path(path)} {word} {value!r}")
    return sorted(changes)


def _path(deepdiff_path: str) -> str:
    """DeepDiff's ``root['teams']['primary']`` as ``teams.primary``."""
    parts = re.findall(r"\[(?:'([^']*)'|(\d+))\]", deepdiff_path)
    return ".".join(name or index for name, index in parts) or "value"
