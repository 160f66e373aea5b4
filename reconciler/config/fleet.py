"""Fleet-wide declarations: leavers, people in every account, seat prices.

``partner.leavers`` and ``partner.users`` are written once and mean something in
every account; these rules check them against the accounts (and each other),
and :func:`expand_account` turns them into each account's desired users, each
keeping the line of the partner-level entry it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from reconciler.config.rules import Declarations, Declared, check_user, partner_of
from reconciler.errors import Diagnostic
from reconciler.model import (
    LEAVERS,
    PAID_SEATS,
    PARTNER_USERS,
    Config,
    DesiredUser,
    Location,
    user_key,
)


def check_fleet(found: Declarations, forbidden: frozenset[str], complete: bool) -> list[Diagnostic]:
    """Every rule about ``partner.leavers`` and ``partner.users``.

    ``complete``: every file loaded and passed the schema, so an account id not
    declared is truly unknown (not declared in a file that failed).
    """
    if not found.partner:
        return []
    block = found.partner[0]
    partner = partner_of(block.data)
    diagnostics = list(_check_users(block, found, forbidden, complete))
    leavers = _leavers(block, diagnostics)
    people = {user_key(u["email"]): i for i, u in enumerate(block.data.get("users") or ())}
    actors = {partner.actor: block.location("/actor")}
    for account in found.accounts:
        if account.data.get("actor"):
            actors.setdefault(user_key(account.data["actor"]), account.location("/actor"))
    for key, index in leavers.items():
        where = f"/leavers/{index}"
        if key in actors:
            message = f"the actor '{key}' cannot be a leaver (it acts at {actors[key]})"
            diagnostics.append(block.diagnostic(where, message))
        if key in people:
            place = block.location(f"/users/{people[key]}/email")
            message = f"leaver '{key}' is also declared in partner.users at {place}"
            diagnostics.append(block.diagnostic(where, message))
    for account in found.accounts:
        for index, user in enumerate(account.data.get("users") or ()):
            key = user_key(user["email"])
            if key in leavers and user.get("state", "present") == "present":
                place = block.location(f"/leavers/{leavers[key]}")
                message = (
                    f"account {account.data['id']}: '{user['email']}' is a leaver"
                    f" (partner.leavers at {place}) but is declared present here"
                )
                diagnostics.append(account.diagnostic(f"/users/{index}/email", message))
    return diagnostics


def _leavers(block: Declared, diagnostics: list[Diagnostic]) -> dict[str, int]:
    """Each leaver's index in ``partner.leavers``; one listed twice is an error at the second."""
    leavers: dict[str, int] = {}
    for index, email in enumerate(block.data.get("leavers") or ()):
        key = user_key(email)
        if key in leavers:
            place = block.location(f"/leavers/{leavers[key]}")
            message = f"leaver '{email}' is listed twice; also listed at {place}"
            diagnostics.append(block.diagnostic(f"/leavers/{index}", message))
        else:
            leavers[key] = index
    return leavers


def _check_users(
    block: Declared, found: Declarations, forbidden: frozenset[str], complete: bool
) -> Iterator[Diagnostic]:
    """Each ``partner.users`` entry: as an account's user, once, excepting declared accounts."""
    partner = partner_of(block.data)
    ids = {int(account.data["id"]) for account in found.accounts}
    seen: dict[str, int] = {}
    for index, user in enumerate(block.data.get("users") or ()):
        sub = f"/users/{index}"
        key = user_key(user["email"])
        if key in seen:
            place = block.location(f"/users/{seen[key]}/email")
            message = (
                f"'{user['email']}' is declared twice in partner.users; also declared at {place}"
            )
            yield block.diagnostic(f"{sub}/email", message)
            continue
        seen[key] = index
        yield from check_user(block, sub, user, found, partner, partner.actor, forbidden)
        for position, account_id in enumerate(user.get("except") or ()):
            if complete and int(account_id) not in ids:
                message = (
                    f"'{user['email']}': account {account_id} in 'except' is not a declared account"
                )
                yield block.diagnostic(f"{sub}/except/{position}", message)


def check_prices(found: Declarations) -> list[Diagnostic]:
    """Warnings: a paid seat type without a price is counted as free."""
    warnings = []
    for block in found.seat_prices:
        monthly: Mapping[str, Any] = block.data.get("monthly") or {}
        missing = [seat for seat in PAID_SEATS if seat not in monthly]
        if missing:
            message = (
                f"no price for the paid seat type{'s' if len(missing) > 1 else ''}"
                f" {', '.join(missing)}: plans count {'them' if len(missing) > 1 else 'it'} as free"
            )
            warnings.append(block.diagnostic("/monthly", message, at_key=True))
    return warnings


class FleetUsers:
    """``partner.users`` and ``partner.leavers`` as desired users, built once for every account."""

    def __init__(
        self, block: Declared, build: Callable[[Mapping[str, Any], Location], DesiredUser]
    ):
        self.people: list[tuple[DesiredUser, frozenset[int]]] = []
        for index, user in enumerate(block.data.get("users") or ()):
            desired = build(user, block.location(f"/users/{index}"))
            self.people.append((desired, frozenset(int(i) for i in user.get("except") or ())))
        self.leavers: list[DesiredUser] = []
        seen: set[str] = set()
        for index, email in enumerate(block.data.get("leavers") or ()):
            if user_key(email) not in seen:
                seen.add(user_key(email))
                source = block.location(f"/leavers/{index}")
                self.leavers.append(DesiredUser(email=email.strip(), state="absent", source=source))

    def expand(self, account_id: int, users: dict[str, DesiredUser]) -> None:
        """Add to one account's ``users`` whom it does not declare itself: its own entry wins."""
        for person, excepted in self.people:
            if account_id not in excepted:
                users.setdefault(person.key, person)
        for leaver in self.leavers:
            users.setdefault(leaver.key, leaver)


def origins(config: Config | None) -> dict[str, int]:
    """How many effective users each part of the config gives: accounts, partner.users, leavers."""
    counts = dict.fromkeys(("accounts", PARTNER_USERS, LEAVERS), 0)
    for account in config.accounts if config is not None else ():
        for user in account.users.values():
            counts[user.origin] += 1
    return counts


def origin_words(counts: Mapping[str, int]) -> str:
    """' (3 from partner.users, 2 from partner.leavers)', or nothing without fleet-wide users."""
    fleet = [f"{counts[key]} from {key}" for key in (PARTNER_USERS, LEAVERS) if counts.get(key)]
    return f" ({', '.join(fleet)})" if fleet else ""
