"""What a person does in HubSpot's settings for a step the tool cannot do itself.

Pure text from step data; the next ``plan`` verifies the result.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler import plan as p
from reconciler.fields import NAMES, NO_FIELDS
from reconciler.model import UNKNOWN_SEAT, Access, User
from reconciler.steps import Effect

SEAT_LABELS: Mapping[str, str] = {
    "partner": "Partner",
    "core": "Core",
    "sales": "Sales Hub",
    "service": "Service Hub",
    "view_only": "View-only",
    "none": "no seat",
}
VERIFY = "Run reconciler plan again: it verifies the change and drops this step."


def access_words(access: Access) -> str:
    if access.kind == "super_admin":
        return "turn on Super Admin (Make Super Admin)"
    if access.kind == "partner_admin":
        return "turn off Super Admin if it is on, then Apply permission set › Partner Admin"
    if access.kind == "role":
        return f"turn off Super Admin if it is on, then Apply permission set › {access.role}"
    return "turn off Super Admin and remove the permission set, leaving no permissions"


def seat_label(seat: str | None) -> str:
    return SEAT_LABELS.get(str(seat), str(seat))


def manual_instructions(step: p.Step, account_name: str) -> tuple[str, ...]:
    """The exact clicks, in order, ending with how the result is checked."""
    account = f"{account_name} ({step.account})"
    user = step.user or ""
    effect = step.kind.effect
    if effect is Effect.REQUEST:
        return (
            f"Unless reconciler apply reports it sent one, send the client an access request for"
            f" {user} (HubSpot partner portal › Manage clients › {account} › Request access), or"
            " share the access link.",
            f"A Super Admin of {account} approves it; HubSpot then creates {user} as Partner"
            " Admin with a partner seat.",
            "Run reconciler plan again after the approval to plan everything else.",
        )
    if effect is Effect.CREATE and step.after is not None:
        return create_instructions(user, step.after.to_user(), account)
    open_user = (
        f"In HubSpot account {account}, click the settings icon › Users & Teams, then click {user}."
    )
    if effect is Effect.REMOVE:
        return (open_user, "Click Actions › Remove user and confirm.", VERIFY)
    return (open_user, *update_instructions(step))


def create_instructions(email: str, user: User, account: str) -> tuple[str, ...]:
    lines = [
        f"In HubSpot account {account}, click the settings icon › Users & Teams › Create user.",
        f"Enter the email {email} and click Next.",
        f"Permissions: {access_words(user.access)}.",
        f"Seats: assign the {seat_label(user.seat)} seat.",
    ]
    perms = user.permissions
    if perms:
        lines.append(
            f"Permissions: on top of that, turn on: {', '.join(sorted(perms.add)) or 'nothing'};"
            f" turn off: {', '.join(sorted(perms.remove)) or 'nothing'}."
        )
    teams = user.teams
    if teams.names():
        lines.append(
            f"Teams: primary team {teams.primary or 'none'}; secondary teams"
            f" {', '.join(teams.secondary) or 'none'}."
        )
    return (*lines, "Click Create user (send the welcome email).", VERIFY)


def update_instructions(step: p.Step) -> list[str]:
    """What to change on the user's page, field by field the step sets, and how it is checked."""
    before, after = step.before or NO_FIELDS, step.after or NO_FIELDS
    touched = step.kind.touched(after)
    lines: list[str] = []
    ending = VERIFY
    if after.access is not None:
        lines.append(f"On the Permissions tab, {access_words(after.access)}; save.")
    if after.seat is not None and before.seat == UNKNOWN_SEAT:
        # The API cannot read this seat: the person's word is what ends the step.
        lines.append(
            f"On the Seats tab (or Permissions › Seat), check the seat is"
            f" {seat_label(after.seat)}; if not, change it and save."
        )
        ending = (
            f"Where the API version cannot show seats (v3, 2026-03), add seat_confirmed:"
            f" {after.seat} to {step.user} in the config and commit; the next plan"
            " drops this step. Elsewhere, run reconciler plan again: it verifies the seat."
        )
    elif after.seat is not None:
        lines.append(
            f"On the Seats tab (or Permissions › Seat), change the seat from"
            f" {seat_label(before.seat)} to {seat_label(after.seat)}; save."
        )
    if after.permissions is not None:
        on = ", ".join(sorted(after.permissions.add)) or "nothing"
        off = ", ".join(sorted(after.permissions.remove)) or "nothing"
        lines.append(
            f"On the Permissions tab, on top of the access level turn on: {on}; turn off: {off}; save."
        )
    if after.teams is not None:
        lines.append(
            f"Click Edit teams: primary team {after.teams.primary or 'none'}, additional teams"
            f" {', '.join(after.teams.secondary) or 'none'}; save."
        )
    if any(name in touched for name in NAMES):
        lines.append(
            f"Edit the user's name to {after.first_name or ''} {after.last_name or ''}; save."
        )
    return [*lines, ending]
