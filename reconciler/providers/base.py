"""The provider interface: read current state, execute one step, say what the API can do.

.. important::

   A provider is an adapter. It translates between its backend and the model
   and maps the backend's errors to :class:`~reconciler.errors.ProviderError`
   (``raise ... from exc``). It never decides *what* changes: the planner does,
   from the :class:`Capabilities` the provider declares. Rules:

   - ``read_account`` returns the whole current state of one account, users
     keyed by lower-cased email. What it cannot read goes in
     ``AccountState.unknown`` rather than being guessed.
   - ``execute`` performs exactly one ``api`` step and either succeeds or
     raises; it never half-applies a step it could have refused up front.
   - Messages never include a token, only the name of its variable.
   - Instances may be used from several threads, one account per thread at a
     time; steps within an account are always executed in plan order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.model import UNKNOWN_SEAT, AccountState, DesiredAccount
from reconciler.plan import REMOVE_USER, Step


@dataclass(frozen=True)
class Capabilities:
    """What the provider's API executes; every other step becomes ``manual``.

    ``step_types``: step types it can execute at all. ``seats`` and ``access``:
    the seats and access kinds it can *assign* (HubSpot's public API cannot
    assign the partner seat or make anyone Super Admin or Partner Admin).
    """

    step_types: frozenset[str]
    seats: frozenset[str]
    access: frozenset[str]

    def executes(
        self, step_type: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> bool:
        """Whether the API can do this step: every seat and access it sets *or takes away*.

        Taking away counts: turning off Super Admin or moving a user off the partner
        seat is as far beyond HubSpot's public API as granting them. A removal only
        needs the API to be able to remove a user of that access level.
        """
        if step_type not in self.step_types:
            return False
        if step_type == REMOVE_USER:
            return not (before and self._access_kind(before) == "super_admin") or (
                "super_admin" in self.access
            )
        for data in (before, after):
            if not data:
                continue
            seat = data.get("seat")
            # An unknown seat is one the step neither chooses nor takes away.
            if seat is not None and seat != UNKNOWN_SEAT and seat not in self.seats:
                return False
            kind = self._access_kind(data)
            if kind is not None and kind not in self.access:
                return False
        return True

    def for_account(self, state: AccountState) -> Capabilities:
        """What the API can do in one account (a provider may narrow it per account)."""
        return self

    def limitation(
        self, step_type: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> str | None:
        """Why this account cannot do a step the API itself can (None: the API cannot)."""
        return None

    @staticmethod
    def _access_kind(data: Mapping[str, Any]) -> str | None:
        access = data.get("access")
        if access is None:
            return None
        return "role" if isinstance(access, Mapping) else str(access)


class Provider(Protocol):
    name: str
    capabilities: Capabilities

    def read_account(self, account: DesiredAccount) -> AccountState:
        """The current state of one account (raises ProviderError)."""
        ...

    def execute(self, step: Step, account: DesiredAccount) -> None:
        """Perform one ``api`` step (raises ProviderError or SandboxError)."""
        ...

    def close(self) -> None: ...
