"""What a person does in HubSpot's settings for a step the tool cannot do itself.

Pure text from step data; the next ``plan`` verifies the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler import plan as p
from reconciler.model import UNKNOWN_SEAT, Access

SEAT_LABELS: Mapping[str, str] = {
    "partner": "Partner",
    "core": "Core",
    "sales": "Sales Hub",
    "service": "Service Hub",
    "view_only": "View-only",
    "none": "no seat",
}


def access_words(data: Any) -> str:
    access = Access.parse(data)
    if access.kind == "super_admin":
        return "turn on Super Admin (Make Super Admin)"
    if access.kind == "partner_admin":
        return "turn off Super Admin if it is on, then Apply permission set › Partner Admin"
    if access.kind == "role":
        return f"turn off Super Admin if it is on, then Apply permission set › {access.role}"
    return "turn off Super Admin and remove the permission set, leaving no permissions"


def manual_instructions(step: p.Step, account_name: str) -> tuple[str, ...]:
    """The exact clicks, in order, ending with how the result is checked."""
    account = f"{account_name} ({step.account})"
    user = step.user or ""
    before: Mapping[str, Any] = step.before or {}
    after: Mapping[str, Any] = step.after or {}
    open_user = (
        f"In HubSpot account {account}, click the settings icon › Users & Teams, then click {user}."
    )
    verify = "Run reconciler plan again: it verifies the change and drops this step."
    if step.type == p.REQUEST_ACCESS:
        return (
            f"Unless reconciler apply reports it sent one, send the client an access request for"
            f" {user} (HubSpot partner portal › Manage clients › {account} › Request access), or"
            " share the access link.",
            f"A Super Admin of {account} approves it; HubSpot then creates {user} as Partner"
            " Admin with a partner seat.",
            "Run reconciler plan again after the approval to plan everything else.",
        )
    if step.type == p.CREATE_USER:
        lines = [
            f"In HubSpot account {account}, click the settings icon › Users & Teams › Create user.",
            f"Enter the email {user} and click Next.",
            f"Permissions: {access_words(after.get('access', 'basic'))}.",
            f"Seats: assign the {SEAT_LABELS.get(str(after.get('seat')), after.get('seat'))} seat.",
        ]
        perms = after.get("permissions") or {}
        if perms.get("add") or perms.get("remove"):
            lines.append(
                f"Permissions: on top of that, turn on: {', '.join(perms.get('add') or []) or 'nothing'};"
                f" turn off: {', '.join(perms.get('remove') or []) or 'nothing'}."
            )
        teams = after.get("teams")
        if teams:
            lines.append(
                f"Teams: primary team {teams.get('primary') or 'none'}; secondary teams"
                f" {', '.join(teams.get('secondary') or []) or 'none'}."
            )
        lines += ["Click Create user (send the welcome email).", verify]
        return tuple(lines)
    if step.type == p.REMOVE_USER:
        return (open_user, "Click Actions › Remove user and confirm.", verify)
    if step.type in p.ACCESS_STEP_TYPES:
        return (
            open_user,
            f"On the Permissions tab, {access_words(after['access'])}; save.",
            verify,
        )
    if step.type == p.SET_SEAT:
        seat_after = SEAT_LABELS.get(str(after.get("seat")), after.get("seat"))
        if before.get("seat") == UNKNOWN_SEAT:
            # The API cannot read this seat: the person's word is what ends the step.
            return (
                open_user,
                f"On the Seats tab (or Permissions › Seat), check the seat is {seat_after};"
                " if not, change it and save.",
                f"Where the API version cannot show seats (v3, 2026-03), add seat_confirmed:"
                f" {after.get('seat')} to {step.user} in the config and commit; the next plan"
                " drops this step. Elsewhere, run reconciler plan again: it verifies the seat.",
            )
        seat_before = SEAT_LABELS.get(str(before.get("seat")), before.get("seat"))
        return (
            open_user,
            f"On the Seats tab (or Permissions › Seat), change the seat from {seat_before} to"
            f" {seat_after}; save.",
            verify,
        )
    if step.type == p.SET_PERMISSIONS:
        perms = after.get("permissions") or {}
        on = ", ".join(perms.get("add") or []) or "nothing"
        off = ", ".join(perms.get("remove") or []) or "nothing"
        return (
            open_user,
            f"On the Permissions tab, on top of the access level turn on: {on}; turn off: {off}; save.",
            verify,
        )
    if step.type == p.SET_TEAMS:
        teams = after.get("teams") or {}
        return (
            open_user,
            f"Click Edit teams: primary team {teams.get('primary') or 'none'}, additional teams"
            f" {', '.join(teams.get('secondary') or []) or 'none'}; save.",
            verify,
        )
    if step.type == p.SET_NAME:
        return (
            open_user,
            f"Edit the user's name to {after.get('first_name') or ''} {after.get('last_name') or ''}"
            "; save.",
            verify,
        )
    return (open_user, f"Make the change: {step.type} to {dict(after)}.", verify)
