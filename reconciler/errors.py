"""The exception tree. the ``cli`` package turns every one of them into a message and an exit code.

    ReconcilerError
    ├── ConfigError        bad input, with the places it is about (Diagnostic list)
    ├── PlanError          an unsafe or impossible plan, a stale saved plan
    ├── ProviderError      a backend failed (provider, account, retryable)
    │   └── RateLimitError the backend said 429 and the budget ran out
    ├── SandboxError       the simulated HubSpot refused a write, as HubSpot would
    └── ApplyError         apply finished with failed accounts

Messages never contain tokens: providers raise with the variable name, never its value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place: ``file:line:col: /pointer: message``."""

    file: str
    line: int
    col: int
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.pointer or '/'}: {self.message}"

    def to_data(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "pointer": self.pointer,
            "message": self.message,
        }


class ReconcilerError(Exception):
    """Base of every error the tool raises on purpose."""


class ConfigError(ReconcilerError):
    """The configuration (or a snapshot) is invalid; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        first = str(self.diagnostics[0]) if self.diagnostics else "invalid configuration"
        super().__init__(first)


class PlanError(ReconcilerError):
    """A plan cannot be made or used safely (invariant, stale plan, bad plan file)."""


class ProviderError(ReconcilerError):
    """A provider could not read or write an account."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        account: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.provider = provider
        self.account = account
        self.retryable = retryable
        where = f"account {account}: " if account is not None else ""
        super().__init__(f"{where}{message}")


class RateLimitError(ProviderError):
    """The backend kept answering 429 (or its daily limit is spent)."""


class SandboxError(ReconcilerError):
    """The sandbox refused a write, as HubSpot would (the message says which rule)."""


class ApplyError(ReconcilerError):
    """Apply finished, but some accounts failed."""
