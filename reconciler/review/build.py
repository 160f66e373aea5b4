"""The access review as data: every person, in every account, compared with the config.

Pure: built from the config and the accounts as read, in one pass over them;
the renderers turn it into text, Markdown, CSV, JSON or an HTML page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from reconciler.cost import SeatPrices
from reconciler.model import (
    LEAVERS,
    UNKNOWN_SEAT,
    AccountState,
    Config,
    DesiredAccount,
    Partner,
    ReadFailure,
    User,
)

# What the config says about a user present in an account.
DECLARED = "declared"
UNDECLARED = "undeclared"
ABSENT_BUT_PRESENT = "absent-but-present"

# Flags, in the order they are listed.
EMPLOYEE_SUPER_ADMIN = "employee-super-admin"
NON_EMPLOYEE_PARTNER_SEAT = "non-employee-partner-seat"
NON_EMPLOYEE_PARTNER_ADMIN = "non-employee-partner-admin"
SINGLE_SUPER_ADMIN = "single-super-admin"
UNDECLARED_USER = "undeclared-user"
UNREADABLE = "unreadable-account"
FLAGS: tuple[str, ...] = (
    UNREADABLE,
    EMPLOYEE_SUPER_ADMIN,
    NON_EMPLOYEE_PARTNER_SEAT,
    NON_EMPLOYEE_PARTNER_ADMIN,
    SINGLE_SUPER_ADMIN,
    UNDECLARED_USER,
)
#: HubSpot's page on Partner Admin, "designed as an alternative to a super admin" for
#: partner employees, and on migrating a partner employee from Super Admin to it.
PARTNER_ADMIN_DOC = (
    "https://knowledge.hubspot.com/partner-tools/grant-partner-admin-access-to-partner-employees"
)
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Flag:
    """Something a reviewer should look at, in one account (and for one user, if any)."""

    code: str
    account: int
    account_name: str
    user: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Cell:
    """One person in one account, as the account shows them."""

    account: int
    access: str  # super_admin, partner_admin, role, basic or unknown
    role: str | None
    seat: str
    primary_team: str | None
    secondary_teams: tuple[str, ...]
    config: str  # DECLARED, UNDECLARED or ABSENT_BUT_PRESENT
    monthly_cost: Decimal | None
    flags: tuple[str, ...]

    def __reduce__(self) -> tuple[type[Cell], tuple[object, ...]]:
        # Its fields in order: a fleet's cells cross from the processes that read the
        # accounts, and this pickles in half the bytes of the default.
        return Cell, tuple(getattr(self, name) for name in self.__slots__)

    @property
    def access_label(self) -> str:
        labels = {"super_admin": "Super Admin", "partner_admin": "Partner Admin"}
        if self.access == "role":
            return f"role {self.role}"
        return labels.get(self.access, self.access)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone present in at least one account; keyed by lower-cased email."""

    key: str
    email: str
    name: str
    employee: bool
    cells: tuple[Cell, ...]
    monthly_cost: Decimal | None

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(code for code in FLAGS if any(code in cell.flags for cell in self.cells))


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """One account: its counts and spend, or why it could not be read."""

    id: int
    name: str
    error: str | None
    partner_access: str
    users: int
    super_admins: int
    seats: tuple[tuple[str, int], ...]
    monthly_cost: Decimal | None


@dataclass(frozen=True, slots=True)
class Review:
    """The whole review. People: partner employees first, then by email."""

    partner: str
    currency: str | None
    accounts: tuple[AccountSummary, ...]
    people: tuple[Person, ...]
    flags: tuple[Flag, ...]
    monthly_cost: Decimal | None

    @property
    def unreadable(self) -> tuple[AccountSummary, ...]:
        return tuple(a for a in self.accounts if a.error is not None)

    def account_names(self) -> dict[int, str]:
        return {a.id: a.name for a in self.accounts}

    def flags_by_code(self) -> list[tuple[str, tuple[Flag, ...]]]:
        """The flags that were raised, grouped by code in the order of :data:`FLAGS`."""
        groups: dict[str, list[Flag]] = {}
        for flag in self.flags:
            groups.setdefault(flag.code, []).append(flag)
        return [(code, tuple(groups[code])) for code in FLAGS if code in groups]

    def flag_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(FLAGS, 0)
        for flag in self.flags:
            counts[flag.code] += 1
        return counts


Read = tuple[DesiredAccount, AccountState | ReadFailure]


@dataclass(frozen=True, slots=True)
class AccountReview:
    """One account's part of the review, made as soon as it is read (its state let go)."""

    summary: AccountSummary
    flags: tuple[Flag, ...]
    #: (user key, cell) for every user of the account, and those users.
    cells: tuple[tuple[str, Cell], ...] = ()
    #: Each user's email and name, as the account shows them (what a person row needs).
    users: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def build_review(config: Config, reads: Sequence[Read]) -> Review:
    """The review of these accounts as read, against ``config``; reads in any order."""
    return assemble_review(config, [review_account(config, d, s) for d, s in reads])


def review_account(
    config: Config, desired: DesiredAccount, state: AccountState | ReadFailure
) -> AccountReview:
    """One account's summary, flags and cells."""
    name = (state.name if isinstance(state, AccountState) else "") or desired.name or ""
    if isinstance(state, ReadFailure):
        summary = AccountSummary(desired.id, name, state.message, "unknown", 0, 0, (), None)
        return AccountReview(summary, (Flag(UNREADABLE, desired.id, name, None, state.message),))
    cells, flags, summary = _review_account(
        desired, state, name, config.partner, config.seat_prices
    )
    users = {key: _names(state.users[key]) for key, _ in cells}
    return AccountReview(summary, tuple(flags), tuple(cells), users)


def assemble_review(config: Config, parts: Sequence[AccountReview]) -> Review:
    """The review of the accounts' parts, in any order: people across accounts, totals."""
    prices = config.seat_prices
    partner = config.partner
    cells: dict[str, list[Cell]] = {}
    users: dict[str, tuple[str, str]] = {}
    summaries: list[AccountSummary] = []
    flags: list[Flag] = []
    for part in sorted(parts, key=lambda part: part.summary.id):
        summaries.append(part.summary)
        flags += part.flags
        for key, cell in part.cells:
            cells.setdefault(key, []).append(cell)
            users.setdefault(key, part.users[key])
    people = [
        _person(key, users[key], tuple(found), partner, prices) for key, found in cells.items()
    ]
    people.sort(key=lambda p: (not p.employee, p.key))
    total = _sum(a.monthly_cost for a in summaries) if prices is not None else None
    flags.sort(key=lambda f: (FLAGS.index(f.code), f.account, f.user or ""))
    return Review(
        partner=partner.name,
        currency=prices.currency if prices is not None else None,
        accounts=tuple(summaries),
        people=tuple(people),
        flags=tuple(flags),
        monthly_cost=total,
    )


def _review_account(
    desired: DesiredAccount,
    state: AccountState,
    name: str,
    partner: Partner,
    prices: SeatPrices | None,
) -> tuple[list[tuple[str, Cell]], list[Flag], AccountSummary]:
    found: list[tuple[str, Cell]] = []
    flags: list[Flag] = []
    super_admins = [u for k, u in state.users.items() if _access(k, u, state) == "super_admin"]
    seats: dict[str, int] = {}
    for key in sorted(state.users):
        user = state.users[key]
        cell = _cell(desired, state, key, user, partner, prices)
        seats[cell.seat] = seats.get(cell.seat, 0) + 1
        found.append((key, cell))
        if cell.flags:
            leaver = key in desired.users and desired.users[key].origin == LEAVERS
            flags += [
                Flag(code, desired.id, name, user.email, _message(code, user, cell, leaver))
                for code in cell.flags
            ]
    if len(super_admins) == 1 and not any(f"{k}.access" in state.unknown for k in state.users):
        only = super_admins[0].email
        message = (
            f"{only} is the only Super Admin: nobody else can add Super Admins or manage billing"
        )
        flags.append(Flag(SINGLE_SUPER_ADMIN, desired.id, name, only, message))
    cost = _sum(cell.monthly_cost for _, cell in found) if prices is not None else None
    summary = AccountSummary(
        id=desired.id,
        name=name,
        error=None,
        partner_access=state.partner_access,
        users=len(state.users),
        super_admins=len(super_admins),
        seats=tuple(sorted(seats.items())),
        monthly_cost=cost,
    )
    return found, flags, summary


def _access(key: str, user: User, state: AccountState) -> str:
    return UNKNOWN if f"{key}.access" in state.unknown else user.access.kind


def _cell(
    desired: DesiredAccount,
    state: AccountState,
    key: str,
    user: User,
    partner: Partner,
    prices: SeatPrices | None,
) -> Cell:
    access = _access(key, user, state)
    seat = UNKNOWN if f"{key}.seat" in state.unknown or user.seat == UNKNOWN_SEAT else user.seat
    declared = desired.users.get(key)
    if declared is None:
        config = UNDECLARED
    elif declared.state == "absent":
        config = ABSENT_BUT_PRESENT
    else:
        config = DECLARED
    employee = partner.is_employee(user.email)
    flags = []
    if employee and access == "super_admin":
        flags.append(EMPLOYEE_SUPER_ADMIN)
    if not employee and seat == "partner":
        flags.append(NON_EMPLOYEE_PARTNER_SEAT)
    if not employee and access == "partner_admin":
        flags.append(NON_EMPLOYEE_PARTNER_ADMIN)
    if config != DECLARED:
        flags.append(UNDECLARED_USER)
    teams_known = f"{key}.teams" not in state.unknown
    return Cell(
        account=desired.id,
        access=access,
        role=user.access.role if access == "role" else None,
        seat=seat,
        primary_team=user.teams.primary if teams_known else None,
        secondary_teams=user.teams.secondary if teams_known else (),
        config=config,
        monthly_cost=None if prices is None else prices.price(None if seat == UNKNOWN else seat),
        flags=tuple(flags),
    )


def _message(code: str, user: User, cell: Cell, leaver: bool) -> str:
    if code == EMPLOYEE_SUPER_ADMIN:
        return (
            f"{user.email} is a partner employee and still Super Admin: HubSpot recommends"
            f" migrating partner employees to Partner Admin ({PARTNER_ADMIN_DOC})"
        )
    if code == NON_EMPLOYEE_PARTNER_SEAT:
        return f"{user.email} holds a partner seat but is not a partner employee"
    if code == NON_EMPLOYEE_PARTNER_ADMIN:
        return f"{user.email} is Partner Admin but is not a partner employee"
    if cell.config == ABSENT_BUT_PRESENT and leaver:
        return f"{user.email} is a leaver (partner.leavers) but is still present"
    if cell.config == ABSENT_BUT_PRESENT:
        return f"{user.email} is declared absent in the config but is present"
    return f"{user.email} is present but the config does not declare them"


def _names(user: User) -> tuple[str, str]:
    return user.email, " ".join(part for part in (user.first_name, user.last_name) if part)


def _person(
    key: str,
    names: tuple[str, str],
    cells: tuple[Cell, ...],
    partner: Partner,
    prices: SeatPrices | None,
) -> Person:
    email, name = names
    return Person(
        key=key,
        email=email,
        name=name,
        employee=partner.is_employee(email),
        cells=cells,
        monthly_cost=_sum(c.monthly_cost for c in cells) if prices is not None else None,
    )


def _sum(amounts: Iterable[Decimal | None]) -> Decimal:
    return sum((a for a in amounts if a is not None), Decimal(0))
