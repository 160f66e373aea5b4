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
from types import TracebackType
from typing import Any, Protocol, Self

from reconciler.fields import as_fields
from reconciler.model import SUPER_ADMIN, UNKNOWN_SEAT, AccountState, DesiredAccount
from reconciler.plan import Step
from reconciler.steps import Effect, kind_of


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

        ``before`` and ``after`` are the step's :class:`~reconciler.steps.Fields` (or
        their JSON). Taking away counts: turning off Super Admin or moving a user off
        the partner seat is as far beyond HubSpot's public API as granting them. A
        removal only needs the API to be able to remove a user of that access level.
        """
        if step_type not in self.step_types:
            return False
        was, will = as_fields(before), as_fields(after)
        if kind_of(step_type).effect is Effect.REMOVE:
            access = was.access if was is not None else None
            return access != SUPER_ADMIN or "super_admin" in self.access
        for fields in (was, will):
            if fields is None:
                continue
            seat = fields.seat
            # An unknown seat is one the step neither chooses nor takes away.
            if seat is not None and seat != UNKNOWN_SEAT and seat not in self.seats:
                return False
            if fields.access is not None and fields.access.kind not in self.access:
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


class Provider(Protocol):
    """Opened from a config, used in ``with`` (which closes it), shared by the engine's threads."""

    name: str
    capabilities: Capabilities
    #: How many accounts the engine reads or applies at once (at least 1). Whoever opens
    #: the provider may set it before use (``--parallelism``); an HTTP provider sizes its
    #: connection pool from it, so it takes it as it is opened.
    parallelism: int

    def read_account(self, account: DesiredAccount) -> AccountState:
        """The current state of one account (raises ProviderError)."""
        ...

    def execute(self, step: Step, account: DesiredAccount) -> None:
        """Perform one ``api`` step (raises ProviderError or SandboxError)."""
        ...

    def close(self) -> None:
        """Release its connections or database; the provider is not used again."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close it, whatever ended the ``with`` block (never swallows the exception)."""
        ...
