"""Plan and Step: pure data, built once, then rendered, saved, hashed and applied unchanged.

Apply branches on ``Step.type`` alone (and the ``after`` data), never on the reason
or a rendering. What each type is and does: :mod:`reconciler.steps`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.cost import SeatPrices
from reconciler.errors import PlanError
from reconciler.fields import Fields
from reconciler.fleet import fleet_data
from reconciler.steps import KINDS, StepKind, StepType, kind_of

FORMAT_VERSION = 2
#: How a plan file joins a manual step's ``manual_reason`` to its ``reason``: the file
#: keeps one ``reason`` text (what a reviewer reads); in memory they are two fields.
MANUAL_MARK = "; manual: "

CHANNELS: tuple[str, ...] = ("api", "manual", "approval")


@dataclass(frozen=True)
class Step:
    """One change to one account. ``before``/``after`` hold only the fields it touches.

    They are :class:`~reconciler.steps.Fields`, parsed once here: a step built from
    plain JSON (a plan file, a test) is read as its type holds it, or refused with
    ValueError. ``type`` is always a :class:`~reconciler.steps.StepType`.
    """

    id: str
    account: int
    type: StepType
    user: str | None
    before: Fields | None
    after: Fields | None
    reason: str
    channel: str = "api"
    depends_on: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()
    source: str | None = None
    #: Why a ``manual`` step is left to a person (the API cannot, or the actor may not).
    manual_reason: str | None = None

    def __post_init__(self) -> None:
        try:
            kind = kind_of(self.type)
            before, after = kind.parse(self.before, self.after)
        except ValueError as exc:
            raise ValueError(f"step {self.id}: {exc}") from exc
        object.__setattr__(self, "type", kind.type)
        object.__setattr__(self, "before", before)
        object.__setattr__(self, "after", after)

    @property
    def kind(self) -> StepKind:
        return KINDS[self.type]

    @property
    def why(self) -> str:
        """The reason as shown, with why a person must do it when they must."""
        if self.manual_reason is None:
            return self.reason
        return f"{self.reason}{MANUAL_MARK}{self.manual_reason}"

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account,
            "type": self.type.value,
            "user": self.user,
            "before": self.before.to_data() if self.before is not None else None,
            "after": self.after.to_data() if self.after is not None else None,
            "reason": self.why,
            "channel": self.channel,
            "depends_on": list(self.depends_on),
            "instructions": list(self.instructions),
            "source": self.source,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Step:
        reason, mark, manual = str(data.get("reason", "")).rpartition(MANUAL_MARK)
        if not mark:
            reason, manual_reason = manual, None
        else:
            manual_reason = manual
        return cls(
            id=data["id"],
            account=int(data["account"]),
            type=data["type"],
            user=data.get("user"),
            before=data.get("before"),
            after=data.get("after"),
            reason=reason,
            channel=data.get("channel", "api"),
            depends_on=tuple(data.get("depends_on") or ()),
            instructions=tuple(data.get("instructions") or ()),
            source=data.get("source"),
            manual_reason=manual_reason,
        )


@dataclass(frozen=True)
class SeatImpact:
    """Paid seats freed and taken, per seat type."""

    freed: Mapping[str, int] = field(default_factory=dict)
    taken: Mapping[str, int] = field(default_factory=dict)

    def to_data(self) -> dict[str, dict[str, int]]:
        return {
            "freed": {k: v for k, v in sorted(self.freed.items()) if v},
            "taken": {k: v for k, v in sorted(self.taken.items()) if v},
        }

    @classmethod
    def total(cls, impacts: Sequence[SeatImpact]) -> SeatImpact:
        freed: dict[str, int] = {}
        taken: dict[str, int] = {}
        for impact in impacts:
            for k, v in impact.freed.items():
                freed[k] = freed.get(k, 0) + v
            for k, v in impact.taken.items():
                taken[k] = taken.get(k, 0) + v
        return cls(freed, taken)


@dataclass(frozen=True)
class AccountPlan:
    """The plan for one account: its steps, or the error that stopped it from planning."""

    account: int
    name: str
    steps: tuple[Step, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()
    removals: int = 0
    removal_limit: int | None = None
    seats: SeatImpact = SeatImpact()
    state_digest: str = ""
    #: Where the account is declared (``file:line:col``); kept for an account that failed.
    source: str | None = None

    @property
    def over_removal_limit(self) -> bool:
        return self.removal_limit is not None and self.removals > self.removal_limit

    def summary(self) -> dict[str, int]:
        return channel_counts(self.steps)

    def to_data(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "name": self.name,
            "state_digest": self.state_digest,
            "error": self.error,
            "warnings": list(self.warnings),
            "summary": {
                **self.summary(),
                "steps": len(self.steps),
                "removals": self.removals,
                "removal_limit": self.removal_limit,
            },
            "seats": self.seats.to_data(),
            "steps": [s.to_data() for s in self.steps],
            **({"source": self.source} if self.source is not None else {}),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AccountPlan:
        summary = data.get("summary") or {}
        seats = data.get("seats") or {}
        return cls(
            account=int(data["account"]),
            name=data.get("name", ""),
            steps=tuple(Step.from_data(s) for s in data.get("steps") or ()),
            error=data.get("error"),
            warnings=tuple(data.get("warnings") or ()),
            removals=int(summary.get("removals", 0)),
            removal_limit=summary.get("removal_limit"),
            seats=SeatImpact(dict(seats.get("freed") or {}), dict(seats.get("taken") or {})),
            state_digest=str(data.get("state_digest", "")),
            source=data.get("source"),
        )


@dataclass(frozen=True)
class Plan:
    """Every account's plan, and the digest of the current state it was planned against."""

    accounts: tuple[AccountPlan, ...]
    state_digest: str
    config_digest: str = ""
    config_path: str = ""
    #: The config's ``seat_prices``: the plan then shows what it changes in seat cost.
    seat_prices: SeatPrices | None = None

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(step for account in self.accounts for step in account.steps)

    @property
    def has_changes(self) -> bool:
        return any(account.steps or account.error for account in self.accounts)

    @property
    def seats(self) -> SeatImpact:
        return SeatImpact.total([a.seats for a in self.accounts])

    def summary(self) -> dict[str, int]:
        return channel_counts(self.steps)

    def to_data(self) -> dict[str, Any]:
        """The plan as data, sealed by ``digest`` over everything else in it."""
        body = self._body()
        return {"digest": digest(body), **body}

    def _body(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "state_digest": self.state_digest,
            "config_digest": self.config_digest,
            "config_path": self.config_path,
            "summary": {
                **self.summary(),
                "steps": len(self.steps),
                "accounts": len(self.accounts),
                "accounts_changed": sum(1 for a in self.accounts if a.steps),
                "accounts_failed": sum(1 for a in self.accounts if a.error),
            },
            "seats": self.seats.to_data(),
            "accounts": [a.to_data() for a in self.accounts],
            **fleet_data(self),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_data(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Plan:
        """A plan from data of this format version (:mod:`reconciler.planfile` checks it)."""
        try:
            plan = cls(
                accounts=tuple(AccountPlan.from_data(a) for a in data["accounts"]),
                state_digest=str(data["state_digest"]),
                config_digest=str(data.get("config_digest", "")),
                config_path=str(data.get("config_path", "")),
                seat_prices=SeatPrices.from_data(data["seat_prices"])
                if "seat_prices" in data
                else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"plan file is malformed: {exc}; nothing was changed") from exc
        # Sealed: the file must be exactly what plan wrote, to the last byte of data.
        body = {k: v for k, v in data.items() if k != "digest"}
        if data.get("digest") != digest(body) or plan._body() != body:
            raise PlanError(
                "the plan file was edited after plan made it (its digest does not match its"
                " content); nothing was changed; make a new plan"
            )
        return plan


def channel_counts(steps: Sequence[Step]) -> dict[str, int]:
    """How many steps go by each channel (every channel present, zero or not)."""
    counts = dict.fromkeys(CHANNELS, 0)
    for step in steps:
        counts[step.channel] += 1
    return counts


#: What :func:`digest` hashes: ``json.dumps`` with these options, built once.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(data: Any) -> str:
    """A stable sha256 of JSON-able data (``sort_keys`` so dict order never matters)."""
    text = _CANONICAL.encode(data)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def step_id(account: int, type_: str, user: str | None, after: Any) -> str:
    """Stable: the same change to the same user gets the same id in every plan."""
    short = digest([account, str(type_), user, after])[7:17]
    return f"{account}-{type_}-{short}"
