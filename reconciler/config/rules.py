"""Business rules that need no current state, checked on schema-valid documents.

The schema says what each file may look like; these rules say what the whole
configuration may mean: one partner, accounts and users declared once, Partner
Admin and the partner seat only for partner employees, no permission Partner
Admin cannot hold, profiles that exist. Each problem is placed at the value
that causes it; when the value comes from a profile, at the user's ``profile``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reconciler.config.characters import describe, differences, skeleton
from reconciler.config.files import is_snapshot_name
from reconciler.config.loader import LoadedDocument, escape_pointer_token
from reconciler.errors import Diagnostic
from reconciler.model import Location, Partner, user_key

#: The fields a profile gives a user; a user's own value replaces the profile's.
PROFILE_FIELDS = ("access", "seat", "teams", "permissions", "first_name", "last_name")


@dataclass(frozen=True)
class Declared:
    """A block of the configuration and where it was written."""

    document: LoadedDocument
    pointer: str
    data: Any

    def diagnostic(self, sub: str, message: str, *, at_key: bool = False) -> Diagnostic:
        return self.document.diagnostic(self.pointer + sub, message, at_key=at_key)

    def location(self, sub: str = "", *, at_key: bool = False) -> Location:
        pointer = self.pointer + sub
        document = self.document
        line, col = document.locate_key(pointer) if at_key else document.locate(pointer)
        return Location(document.file, line, col, pointer)


@dataclass
class Declarations:
    """Every file's blocks, merged, each keeping its place."""

    partner: list[Declared] = field(default_factory=list)
    provider: list[Declared] = field(default_factory=list)
    defaults: list[Declared] = field(default_factory=list)
    seat_prices: list[Declared] = field(default_factory=list)
    profiles: dict[str, Declared] = field(default_factory=dict)
    accounts: list[Declared] = field(default_factory=list)
    #: Profiles declared in files that failed the schema: their users are not
    #: told the profile is unknown (the file's own problems say what is wrong).
    unchecked_profiles: set[str] = field(default_factory=set)


def collect(documents: list[LoadedDocument]) -> tuple[Declarations, list[Diagnostic]]:
    """Merge the files' blocks; a block or name declared twice is an error at the second."""
    found = Declarations()
    diagnostics: list[Diagnostic] = []
    for document in documents:
        data: Mapping[str, Any] = document.data
        for key in ("partner", "provider", "defaults", "seat_prices"):
            if key in data:
                blocks: list[Declared] = getattr(found, key)
                block = Declared(document, f"/{key}", data[key])
                if blocks:
                    message = f"'{key}' is declared twice; {_also(blocks[0], at_key=True)}"
                    diagnostics.append(block.diagnostic("", message, at_key=True))
                blocks.append(block)
        for name, profile in (data.get("profiles") or {}).items():
            block = Declared(document, f"/profiles/{escape_pointer_token(name)}", profile)
            if name in found.profiles:
                first = _also(found.profiles[name], at_key=True)
                message = f"profile '{name}' is declared twice; {first}"
                diagnostics.append(block.diagnostic("", message, at_key=True))
            else:
                found.profiles[name] = block
        for index, account in enumerate(data.get("accounts") or ()):
            found.accounts.append(Declared(document, f"/accounts/{index}", account))
    return found, diagnostics


def check_whole(found: Declarations, root: str) -> list[Diagnostic]:
    """Rules about the configuration as a whole, placed at the path given when nothing is."""
    diagnostics = []
    if not found.partner:
        message = "no 'partner' block: declare the partner (name, actor) in one file"
        diagnostics.append(Diagnostic(root, 1, 1, "", message))
    if not found.accounts:
        message = "no accounts: declare at least one under 'accounts'"
        diagnostics.append(Diagnostic(root, 1, 1, "", message))
    return diagnostics


def check_rules(found: Declarations, forbidden: frozenset[str]) -> list[Diagnostic]:
    """Every business rule that needs no current state; ``forbidden``: Partner Admin's exceptions."""
    partner = partner_of(found.partner[0].data) if found.partner else None
    provider = found.provider[0].data if found.provider else {}
    diagnostics: list[Diagnostic] = []
    for block in found.defaults:
        diagnostics.extend(_check_limits(block))
    for block in found.provider:
        diagnostics.extend(_check_paths(block))
    for name, profile in found.profiles.items():
        diagnostics.extend(_check_profile(name, profile, forbidden))
    seen: dict[int, Declared] = {}
    for account in found.accounts:
        account_id = int(account.data["id"])
        if account_id in seen:
            message = f"account {account_id} is declared twice; {_also(seen[account_id], '/id')}"
            diagnostics.append(account.diagnostic("/id", message))
            continue
        seen[account_id] = account
        diagnostics.extend(_check_account(account, found, partner, forbidden))
        if provider.get("type") == "hubspot" and not account.data.get("token_env"):
            message = (
                f"account {account_id}: the hubspot provider needs 'token_env', the name of the"
                " environment variable that holds this account's token"
            )
            diagnostics.append(account.diagnostic("/id", message))
    return diagnostics


def check_lookalikes(found: Declarations) -> list[Diagnostic]:
    """Warnings, not errors: addresses that differ only in characters that look alike.

    Two users of one account, or a user and a partner employee (by address or by
    domain), whose addresses have the same UTS #39 skeleton but are not the same
    address: ``аna@northwind.agency`` with a Cyrillic ``а`` is not Ana, and would
    not be a partner employee. Compared case-insensitively, as addresses are.
    """
    partner = found.partner[0].data if found.partner else {}
    addresses = (*partner.get("employees", ()), partner.get("actor"))
    exact_employees = {user_key(a) for a in addresses if isinstance(a, str)}
    employees: dict[str, str] = {}  # skeleton -> address
    for address in sorted(exact_employees):
        employees.setdefault(skeleton(address), address)
    domains = {skeleton(d.lower()): d.lower() for d in partner.get("employee_domains", ())}
    exact_domains = set(domains.values())
    domain_skeletons: dict[str, str] = {}
    warnings: list[Diagnostic] = []
    for account in found.accounts:
        seen: dict[str, tuple[str, int]] = {}
        for index, user in enumerate(account.data.get("users") or ()):
            key = user_key(user["email"])
            shape = skeleton(key)
            where = f"/users/{index}/email"
            first = seen.setdefault(shape, (key, index))
            if first[0] != key:
                place = account.location(f"/users/{first[1]}/email")
                message = f"looks like the address at {place} but is another one"
                warnings.append(account.diagnostic(where, message + _told_apart(key, first[0])))
            if key in exact_employees:
                continue
            employee = employees.get(shape)
            if employee is not None:
                message = f"looks like partner employee '{employee}' but is another address"
                warnings.append(account.diagnostic(where, message + _told_apart(key, employee)))
                continue
            domain = key.rpartition("@")[2]
            if domain in exact_domains or not domains:
                continue
            domain_shape = domain_skeletons.get(domain)
            if domain_shape is None:
                domain_shape = domain_skeletons[domain] = skeleton(domain)
            partner_domain = domains.get(domain_shape)
            if partner_domain is not None:
                message = (
                    f"its domain looks like partner domain '{partner_domain}' but is another one"
                )
                warnings.append(
                    account.diagnostic(where, message + _told_apart(domain, partner_domain))
                )
    return warnings


def _told_apart(text: str, other: str) -> str:
    """``: it has U+0430 CYRILLIC SMALL LETTER A where that has U+0061 LATIN SMALL LETTER A``."""
    mine, theirs = differences(text, other)
    if not mine or not theirs:
        return ""
    return (
        f": it has {', '.join(map(describe, mine))}"
        f" where that has {', '.join(map(describe, theirs))}"
    )


def partner_of(data: Mapping[str, Any]) -> Partner:
    return Partner(
        name=data["name"],
        actor=user_key(data["actor"]),
        employee_domains=frozenset(d.lower() for d in data.get("employee_domains", ())),
        employees=frozenset(user_key(e) for e in data.get("employees", ())),
        leavers=tuple(dict.fromkeys(user_key(e) for e in data.get("leavers", ()))),
    )


def effective_user(user: Mapping[str, Any], profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """A user after its profile: the user's own fields replace the profile's, field by field."""
    if profile is None:
        return dict(user)
    merged = {key: profile[key] for key in PROFILE_FIELDS if key in profile}
    merged.update(user)
    return merged


def _check_limits(block: Declared) -> Iterator[Diagnostic]:
    value = block.data.get("max_removals")
    if isinstance(value, str) and float(value[:-1]) > 100:
        yield block.diagnostic("/max_removals", f"'{value}' is more than 100%")


#: Where tokens may go over plain http: this machine (``sandbox serve``).
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_paths(block: Declared) -> Iterator[Diagnostic]:
    for key in ("path", "snapshot"):
        value = block.data.get(key)
        if isinstance(value, str) and "\0" in value:
            yield block.diagnostic(f"/{key}", "a file path cannot contain a NUL character")
    snapshot = block.data.get("snapshot")
    if isinstance(snapshot, str) and "\0" not in snapshot and not is_snapshot_name(snapshot):
        yield block.diagnostic(
            "/snapshot",
            f"{snapshot!r}: name a snapshot snapshot.yaml or *.snapshot.yaml (or .yml), so"
            " that it is never read as configuration",
        )
    url = block.data.get("base_url")
    if isinstance(url, str):
        problem = url_problem(url)
        if problem:
            yield block.diagnostic("/base_url", problem)


def url_problem(url: str) -> str | None:
    """Why tokens must not be sent to ``url``, or None."""
    parsed = urlsplit(url)
    try:
        host = parsed.hostname
    except ValueError:
        host = None
    if host and (parsed.scheme == "https" or (parsed.scheme == "http" and host in LOOPBACK)):
        return None
    return (
        "tokens are sent only over https://, or over http:// to this machine"
        f" ({', '.join(sorted(LOOPBACK))})"
    )


def _check_profile(name: str, profile: Declared, forbidden: frozenset[str]) -> Iterator[Diagnostic]:
    data = profile.data
    if data.get("access") == "partner_admin":
        seat = data.get("seat")
        if seat is not None and seat != "partner":
            yield profile.diagnostic(
                "/seat", f"Partner Admin requires seat 'partner', not '{seat}'"
            )
        yield from _forbidden_added(profile, "", data, forbidden)
    yield from _added_and_removed(profile, "", data)


def _check_account(
    account: Declared, found: Declarations, partner: Partner | None, forbidden: frozenset[str]
) -> Iterator[Diagnostic]:
    yield from _check_limits(account)
    actor = user_key(account.data.get("actor") or (partner.actor if partner else ""))
    emails: dict[str, int] = {}
    for index, user in enumerate(account.data.get("users") or ()):
        sub = f"/users/{index}"
        key = user_key(user["email"])
        if key in emails:
            first = account.location(f"/users/{emails[key]}/email")
            message = f"user '{user['email']}' is declared twice in this account; also declared at {first}"
            yield account.diagnostic(f"{sub}/email", message)
            continue
        emails[key] = index
        yield from check_user(account, sub, user, found, partner, actor, forbidden)


def check_user(
    account: Declared,
    sub: str,
    user: Mapping[str, Any],
    found: Declarations,
    partner: Partner | None,
    actor: str,
    forbidden: frozenset[str],
) -> Iterator[Diagnostic]:
    email = user["email"]
    profile_name = user.get("profile")
    profile: Declared | None = None
    if profile_name is not None:
        profile = found.profiles.get(profile_name)
        if profile is None and profile_name not in found.unchecked_profiles:
            guess = difflib.get_close_matches(profile_name, list(found.profiles), n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            yield account.diagnostic(f"{sub}/profile", f"unknown profile '{profile_name}'{hint}")
    yield from _added_and_removed(account, sub, user)
    if user.get("state") == "absent":
        yield from _absent_problems(account, sub, user, actor)
        return
    merged = effective_user(user, profile.data if profile else None)

    def place(field_name: str) -> str:
        """Where a merged field was written: the user's own key, else the user's profile."""
        return f"{sub}/{field_name}" if field_name in user else f"{sub}/profile"

    def via(field_name: str) -> str:
        return "" if field_name in user else f" (from profile '{profile_name}')"

    for needed, noun in (("access", "an access level"), ("seat", "a seat")):
        if needed not in merged and (profile_name is None or profile is not None):
            message = f"user '{email}' needs {noun}: set '{needed}' or a profile that sets it"
            yield account.diagnostic(sub, message)
    access, seat = merged.get("access"), merged.get("seat")
    eligible = partner is None or partner.is_employee(email)
    if access == "partner_admin" and not eligible:
        message = f"'{email}' is not a partner employee, so cannot be Partner Admin{via('access')}"
        yield account.diagnostic(place("access"), message)
    if seat == "partner" and not eligible:
        message = (
            f"'{email}' is not a partner employee, so cannot have the partner seat{via('seat')}"
        )
        yield account.diagnostic(place("seat"), message)
    own = "access" in user or "seat" in user
    if access == "partner_admin" and seat is not None and seat != "partner" and own:
        where = "seat" if "seat" in user else "access"
        message = f"Partner Admin requires seat 'partner', not '{seat}'{via('seat')}"
        yield account.diagnostic(place(where), message)
    if access == "partner_admin" and ("access" in user or "permissions" in user):
        if "permissions" in user:
            yield from _forbidden_added(account, sub, user, forbidden)
        else:
            yield from _forbidden_added(account, sub, merged, forbidden, at=place("permissions"))


def _absent_problems(
    account: Declared, sub: str, user: Mapping[str, Any], actor: str
) -> Iterator[Diagnostic]:
    """A user declared absent is removed: never the actor, and nothing else to say of it."""
    email = user["email"]
    if user_key(email) == actor:
        message = "the actor cannot be declared absent: the tool never removes its own actor"
        yield account.diagnostic(f"{sub}/state", message)
    for key in ("profile", "access", "seat", "seat_confirmed", "teams", "permissions"):
        if key in user:
            message = f"'{email}' is absent (to be removed), so '{key}' means nothing here"
            yield account.diagnostic(f"{sub}/{key}", message, at_key=True)


def _forbidden_added(
    block: Declared,
    sub: str,
    data: Mapping[str, Any],
    forbidden: frozenset[str],
    at: str | None = None,
) -> Iterator[Diagnostic]:
    added = (data.get("permissions") or {}).get("add") or ()
    for index, permission in enumerate(added):
        if permission in forbidden:
            message = f"Partner Admin cannot hold '{permission}'"
            if at is not None:
                message += " (added by the profile)"
            yield block.diagnostic(at or f"{sub}/permissions/add/{index}", message)


def _added_and_removed(block: Declared, sub: str, data: Mapping[str, Any]) -> Iterator[Diagnostic]:
    permissions = data.get("permissions") or {}
    added = set(permissions.get("add") or ())
    for index, permission in enumerate(permissions.get("remove") or ()):
        if permission in added:
            message = f"'{permission}' is both added and removed"
            yield block.diagnostic(f"{sub}/permissions/remove/{index}", message)


def _also(block: Declared, sub: str = "", *, at_key: bool = False) -> str:
    return f"also declared at {block.location(sub, at_key=at_key)}"
