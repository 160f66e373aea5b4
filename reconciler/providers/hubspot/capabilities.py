"""What the hubspot provider can do, per API version and per token.

The planner asks :class:`HubSpotCapabilities` whether each step can go by the
API; what cannot becomes a step for a person, with :meth:`limitation` saying
why in the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.fields import NAMES, NO_FIELDS, as_fields
from reconciler.model import BASIC, PAID_SEATS, AccountState
from reconciler.providers.base import Capabilities
from reconciler.providers.hubspot.mapping import SeatNames
from reconciler.providers.hubspot.versions import (
    BILLING_WRITE_SCOPE,
    CRM_WRITE_SCOPE,
    WRITE_SCOPE,
    ApiVersion,
)
from reconciler.steps import StepType

STEP_TYPES = frozenset(
    {
        StepType.CREATE_USER,
        StepType.REMOVE_USER,
        StepType.SET_ACCESS,
        StepType.SET_TEAMS,
        StepType.SET_NAME,
    }
)


@dataclass(frozen=True)
class HubSpotCapabilities(Capabilities):
    """As :class:`Capabilities`, and what HubSpot's API documents no way to do.

    - A user created with individual permission changes: the API cannot set them.
    - Clearing a permission set (back to no set), a primary team or a name: no
      version documents how (no field is nullable), so a person does it.
    - Per account, the token's scopes: without a user write scope nothing is
      written; without the billing scope no paid seat is assigned or freed.
    """

    def executes(
        self, step_type: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> bool:
        was, will = as_fields(before) or NO_FIELDS, as_fields(after) or NO_FIELDS
        if step_type == StepType.CREATE_USER and will.permissions:
            return False
        if step_type == StepType.SET_ACCESS and will.access == BASIC:
            return False
        primary = [f.teams.primary if f.teams else None for f in (was, will)]
        if step_type == StepType.SET_TEAMS and primary[0] and not primary[1]:
            return False
        if step_type == StepType.SET_NAME and any(
            name in will and will.value(name) is None and was.value(name) is not None
            for name in NAMES
        ):
            return False
        return super().executes(step_type, before, after)

    #: Where narrowed by a token's scopes: the scopes it lacks, and what it was before.
    missing: tuple[str, ...] = ()
    full: Capabilities | None = None

    def for_account(self, state: AccountState) -> Capabilities:
        scopes = state.grants
        if scopes is None:
            return self
        if not scopes & {WRITE_SCOPE, CRM_WRITE_SCOPE}:
            return replace(self, step_types=frozenset(), missing=(WRITE_SCOPE,), full=self)
        if BILLING_WRITE_SCOPE not in scopes:
            seats = self.seats - frozenset(PAID_SEATS)
            return replace(self, seats=seats, missing=(BILLING_WRITE_SCOPE,), full=self)
        return self

    def limitation(
        self, step_type: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> str | None:
        if self.full is not None and self.full.executes(step_type, before, after):
            return f"this account's token does not have the {', '.join(self.missing)} scope"
        return None


def capabilities_of(api: ApiVersion, seats: SeatNames) -> HubSpotCapabilities:
    """What one API version can do: seats only where it has them."""
    if not api.has_seats:
        return HubSpotCapabilities(STEP_TYPES, frozenset(), frozenset({"role", "basic"}))
    return HubSpotCapabilities(
        STEP_TYPES | {StepType.SET_SEAT}, seats.writable(), frozenset({"role", "basic"})
    )
