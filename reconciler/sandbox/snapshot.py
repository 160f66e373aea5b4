"""The snapshot format (``schemas/snapshot.schema.json``): current state as YAML, checked.

A snapshot must be valid against the schema *and* consistent (roles and teams
that users name exist, emails unique, seats within those owned, a Super Admin
in every account), because the sandbox only ever holds states HubSpot itself
could be in. Problems are ``(pointer, message)`` pairs so that the YAML loader
can place each one at its ``file:line:col``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.catalog import Catalogue, load_catalogue
from reconciler.config.files import find_yaml_files
from reconciler.config.loader import LoadedDocument, load_yaml_documents
from reconciler.config.schema import validate_documents
from reconciler.errors import ConfigError, Diagnostic
from reconciler.model import PAID_SEATS, user_key

SCHEMA_NAME = "snapshot"

Problem = tuple[str, str]


def schema_problems(data: Any) -> list[Problem]:
    """Schema errors for data that did not come from a file (``Store.seed`` of a dict)."""
    document = LoadedDocument("snapshot", data)
    return [(d.pointer, d.message) for d in validate_documents([document], SCHEMA_NAME)]


def consistency_problems(data: Mapping[str, Any]) -> list[Problem]:
    """What the schema cannot say: cross-references, uniqueness, counts. ``data`` is schema-valid."""
    problems: list[Problem] = []
    account_ids: dict[int, int] = {}
    token_values: set[str] = set()
    for index, account in enumerate(data.get("accounts") or ()):
        where = f"/accounts/{index}"
        first = account_ids.setdefault(account["id"], index)
        if first != index:
            problems.append((f"{where}/id", f"account {account['id']} is listed twice"))
        for t, token in enumerate(account.get("tokens") or ()):
            if token["value"] in token_values:
                problems.append((f"{where}/tokens/{t}/value", "token value is listed twice"))
            token_values.add(token["value"])
        problems.extend(_account_problems(account, where))
    return problems


def _account_problems(account: Mapping[str, Any], where: str) -> Iterator[Problem]:
    catalogue = load_catalogue()
    roles: dict[str, int] = {}
    for r, role in enumerate(account.get("roles") or ()):
        if roles.setdefault(role["name"], r) != r:
            yield (f"{where}/roles/{r}/name", f"permission set {role['name']!r} is listed twice")
        for p, permission in enumerate(role.get("permissions") or ()):
            if permission not in catalogue.ids:
                yield (f"{where}/roles/{r}/permissions/{p}", f"unknown permission {permission!r}")
    teams = set(account.get("teams") or ())
    emails: dict[str, int] = {}
    super_admins = 0
    used = dict.fromkeys(PAID_SEATS, 0)
    users = account.get("users") or ()
    for u, user in enumerate(users):
        at = f"{where}/users/{u}"
        key = user_key(user["email"])
        if emails.setdefault(key, u) != u:
            yield (
                f"{at}/email",
                f"{user['email']} is listed twice (emails compare case-insensitively)",
            )
        access = user["access"]
        if isinstance(access, Mapping) and access["role"] not in roles:
            yield (
                f"{at}/access/role",
                f"permission set {access['role']!r} does not exist in account {account['id']}",
            )
        if access == "super_admin":
            super_admins += 1
        if user["seat"] in used:
            used[user["seat"]] += 1
        if access == "partner_admin" and user["seat"] != "partner":
            yield (f"{at}/seat", f"a Partner Admin holds the partner seat, not {user['seat']!r}")
        yield from _team_problems(user.get("teams") or {}, teams, f"{at}/teams", account["id"])
        yield from _permission_problems(user, f"{at}/permissions", catalogue)
    owned = account.get("seats_owned") or {}
    for seat in PAID_SEATS:
        if used[seat] > owned.get(seat, 0):
            pointer = f"{where}/seats_owned/{seat}" if seat in owned else f"{where}/id"
            yield (
                pointer,
                f"{_users(used[seat])} a {seat} seat but the account owns {owned.get(seat, 0)}",
            )
    if super_admins == 0:
        pointer = f"{where}/users" if "users" in account else f"{where}/id"
        yield (pointer, f"account {account['id']} has no Super Admin; it needs at least one")
    for q, email in enumerate(account.get("access_requests") or ()):
        if user_key(email) in emails:
            yield (f"{where}/access_requests/{q}", f"{email} is already a user of the account")


def _permission_problems(
    user: Mapping[str, Any], where: str, catalogue: Catalogue
) -> Iterator[Problem]:
    """Unknown permissions, and those a Partner Admin cannot hold."""
    permissions = user.get("permissions") or {}
    for part in ("add", "remove"):
        for p, permission in enumerate(permissions.get(part) or ()):
            pointer = f"{where}/{part}/{p}"
            if permission not in catalogue.ids:
                yield (pointer, f"unknown permission {permission!r}")
            elif (
                part == "add"
                and user["access"] == "partner_admin"
                and permission in catalogue.partner_admin_forbidden
            ):
                yield (pointer, f"a Partner Admin cannot hold {permission!r}")


def _team_problems(
    teams: Mapping[str, Any], existing: set[str], where: str, account: int
) -> Iterator[Problem]:
    def missing(name: str) -> str:
        return f"team {name!r} does not exist in account {account}"

    primary = teams.get("primary")
    if primary is not None and primary not in existing:
        yield (f"{where}/primary", missing(primary))
    for s, name in enumerate(teams.get("secondary") or ()):
        if name not in existing:
            yield (f"{where}/secondary/{s}", missing(name))


def snapshot_problems(data: Any) -> list[Problem]:
    """Every problem with snapshot data: schema errors first; consistency only once it is valid."""
    problems = schema_problems(data)
    return problems or consistency_problems(data)


def load_snapshot(path: str | Path) -> dict[str, Any]:
    """Read a snapshot file (or directory of them), raising ConfigError with every problem placed.

    Several documents merge their ``accounts``; each problem is reported in the
    document it is about.
    """
    documents = load_yaml_documents(path)
    diagnostics: list[Diagnostic] = list(validate_documents(documents, SCHEMA_NAME))
    if diagnostics:
        raise ConfigError(diagnostics)
    accounts: list[Any] = []
    owners: list[tuple[int, LoadedDocument]] = []
    for document in documents:
        data = document.data if isinstance(document.data, Mapping) else {}
        for index, account in enumerate(data.get("accounts") or ()):
            owners.append((index, document))
            accounts.append(account)
    for pointer, message in consistency_problems({"accounts": accounts}):
        diagnostics.append(_place(pointer, message, owners))
    if diagnostics:
        raise ConfigError(diagnostics)
    return {"accounts": accounts}


def snapshot_digest(path: str | Path) -> str:
    """The digest of a snapshot's bytes (a directory: its YAML files' names and bytes).

    Recorded when seeding, so that an edit of the snapshot afterwards is noticed;
    cheap enough to take on every run, unlike parsing the snapshot.
    """
    files, _ = find_yaml_files(path, snapshots=True)
    base = str(path) if os.path.isdir(path) else os.path.dirname(str(path))
    hasher = hashlib.sha256()
    for file in sorted(files):
        hasher.update(os.path.relpath(file, base).encode("utf-8") + b"\0")
        with contextlib.suppress(OSError), open(file, "rb") as stream:  # gone: it differs
            for chunk in iter(lambda: stream.read(1 << 20), b""):  # never the whole file
                hasher.update(chunk)
        hasher.update(b"\0")
    return "sha256:" + hasher.hexdigest()


def _place(pointer: str, message: str, owners: Sequence[tuple[int, LoadedDocument]]) -> Diagnostic:
    """Map a pointer into the merged accounts back to its document's own pointer and place."""
    parts = pointer.split("/")
    index, document = owners[int(parts[2])]
    return document.diagnostic("/".join(["", "accounts", str(index), *parts[3:]]), message)


def _users(count: int) -> str:
    return "1 user holds" if count == 1 else f"{count} users hold"
