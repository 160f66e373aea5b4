"""The sandbox's rows as model values: how accounts, users and access requests sit in SQLite.

Every function runs inside a transaction the store holds, and none commits.
Users are found by ``email_key`` (the lower-cased email, unique per account),
as HubSpot compares emails.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from reconciler.errors import SandboxError
from reconciler.model import (
    PAID_SEATS,
    Access,
    AccountState,
    Partner,
    Permissions,
    Role,
    Teams,
    User,
    user_key,
)
from reconciler.sandbox.rules import NOT_FOUND, Account, RefusedError, refused

# Whose employees nobody is: the partner of a sandbox seeded without one.
_NO_PARTNER = Partner(name="the partner", actor="")


@dataclass(frozen=True)
class UserRow:
    """A stored user with its numeric id (HubSpot serves it as a string)."""

    id: int
    account: int
    user: User
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class RoleRow:
    id: int
    account: int
    role: Role


@dataclass(frozen=True)
class TeamRow:
    id: int
    account: int
    name: str


@dataclass(frozen=True)
class TokenRow:
    value: str
    account: int
    scopes: tuple[str, ...]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- accounts -------------------------------------------------------------------------


def account_ids(tx: sqlite3.Connection) -> list[int]:
    return [int(r["id"]) for r in tx.execute("SELECT id FROM accounts ORDER BY id")]


def require_account(tx: sqlite3.Connection, account_id: int) -> str:
    """The account's name, or the refusal of an account the sandbox lacks."""
    row = tx.execute("SELECT name FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        raise RefusedError("not in the sandbox", rule=NOT_FOUND, account=account_id, user=None)
    return str(row["name"])


def read_state(tx: sqlite3.Connection, account_id: int, actor: str | None) -> AccountState:
    """The whole account, and (when ``actor`` is given) whether the actor has access to it."""
    name = require_account(tx, account_id)
    rows = tx.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE account = ?", (account_id,)
    ).fetchall()
    users = {user.key: user for user in map(_user_of, rows)}
    access = "none" if actor is None else partner_access(tx, account_id, actor, users)
    return AccountState(
        id=account_id,
        name=name,
        seats_owned=_seats_owned(tx, account_id),
        roles=_roles(tx, account_id),
        teams=_teams(tx, account_id),
        users=users,
        partner_access=access,
    )


def read_account(tx: sqlite3.Connection, account_id: int, emails: Iterable[str | None]) -> Account:
    """What the rules need for a write that names ``emails`` (its subject and its actor)."""
    require_account(tx, account_id)
    used = _seats_used(tx, account_id)
    super_admins = tx.execute(
        "SELECT COUNT(*) FROM users WHERE account = ? AND access_kind = 'super_admin'",
        (account_id,),
    ).fetchone()[0]
    users: dict[str, User] = {}
    for email in emails:
        row = find_user(tx, account_id, email) if email is not None else None
        if row is not None:
            users[row.user.key] = row.user
    return Account(
        id=account_id,
        seats_owned=_seats_owned(tx, account_id),
        seats_used=used,
        super_admins=int(super_admins),
        roles=_roles(tx, account_id),
        teams=_teams(tx, account_id),
        partner=read_partner(tx) or _NO_PARTNER,
        users=users,
    )


def _seats_owned(tx: sqlite3.Connection, account_id: int) -> dict[str, int]:
    rows = tx.execute("SELECT seat, count FROM seats_owned WHERE account = ?", (account_id,))
    return {str(r["seat"]): int(r["count"]) for r in rows}


def _roles(tx: sqlite3.Connection, account_id: int) -> dict[str, Role]:
    rows = tx.execute("SELECT * FROM roles WHERE account = ?", (account_id,))
    return {str(r["name"]): role_of(r) for r in rows}


def _teams(tx: sqlite3.Connection, account_id: int) -> frozenset[str]:
    rows = tx.execute("SELECT name FROM teams WHERE account = ?", (account_id,))
    return frozenset(str(r["name"]) for r in rows)


def seat_counts(tx: sqlite3.Connection, account_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """The paid seats the account owns and those its users hold, counted by SQLite.

    What :func:`read_state` and ``AccountState.seats_used`` give, without
    building every user: the seats list asks for nothing else.
    """
    require_account(tx, account_id)
    return _seats_owned(tx, account_id), _seats_used(tx, account_id)


def _seats_used(tx: sqlite3.Connection, account_id: int) -> dict[str, int]:
    """How many of the account's users hold each paid seat."""
    used = dict.fromkeys(PAID_SEATS, 0)
    rows = tx.execute(
        "SELECT seat, COUNT(*) FROM users WHERE account = ? GROUP BY seat", (account_id,)
    )
    for seat, count in rows:
        if seat in used:
            used[seat] = int(count)
    return used


def team_members(
    tx: sqlite3.Connection, account_id: int
) -> list[tuple[int, str | None, tuple[str, ...]]]:
    """Each user's id, primary team and secondary teams, by id: what the teams list shows."""
    require_account(tx, account_id)
    rows = tx.execute(
        "SELECT id, primary_team, secondary_teams FROM users WHERE account = ? ORDER BY id",
        (account_id,),
    )
    return [(int(i), primary, tuple(_strings(secondary))) for i, primary, secondary in rows]


def read_partner(tx: sqlite3.Connection) -> Partner | None:
    row = tx.execute("SELECT * FROM partner WHERE id = 1").fetchone()
    if row is None:
        return None
    return Partner(
        name=str(row["name"]),
        actor=str(row["actor"]),
        employee_domains=frozenset(json.loads(row["employee_domains"])),
        employees=frozenset(json.loads(row["employees"])),
    )


def role_of(row: sqlite3.Row) -> Role:
    return Role(str(row["name"]), row["seat"], frozenset(json.loads(row["permissions"])))


def token_row(row: sqlite3.Row) -> TokenRow:
    return TokenRow(str(row["value"]), int(row["account"]), _scopes(row["scopes"]))


@lru_cache(maxsize=256)
def _scopes(text: str) -> tuple[str, ...]:
    """A token's stored scopes: read on every request, and the same few lists each time."""
    return tuple(json.loads(text))


# -- access requests ------------------------------------------------------------------


def partner_access(
    tx: sqlite3.Connection, account_id: int, actor: str, users: Mapping[str, User]
) -> str:
    """None, pending or granted; ``users`` (by key) holds the actor if it is a user already."""
    if user_key(actor) in users:
        return "granted"
    pending = tx.execute(
        "SELECT 1 FROM access_requests WHERE account = ? AND email_key = ? AND status = 'pending'",
        (account_id, user_key(actor)),
    ).fetchone()
    return "pending" if pending is not None else "none"


def pending_requests(tx: sqlite3.Connection, account_id: int) -> list[str]:
    rows = tx.execute(
        "SELECT email FROM access_requests WHERE account = ? AND status = 'pending' "
        "ORDER BY email_key",
        (account_id,),
    )
    return [str(r["email"]) for r in rows]


def add_requests(tx: sqlite3.Connection, account_id: int, emails: Iterable[str]) -> None:
    stamp = now()
    tx.executemany(
        "INSERT INTO access_requests (account, email, email_key, status, requested_at) "
        "VALUES (?, ?, ?, 'pending', ?)",
        [(account_id, email, user_key(email), stamp) for email in emails],
    )


# -- users ----------------------------------------------------------------------------


def find_user(tx: sqlite3.Connection, account_id: int, email: str) -> UserRow | None:
    row = tx.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE account = ? AND email_key = ?",
        (account_id, user_key(email)),
    ).fetchone()
    return user_row(row) if row is not None else None


def find_user_by_id(tx: sqlite3.Connection, account_id: int, user_id: int) -> UserRow | None:
    row = tx.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE account = ? AND id = ?", (account_id, user_id)
    ).fetchone()
    return user_row(row) if row is not None else None


def users_page(tx: sqlite3.Connection, account_id: int, after: int, limit: int) -> list[UserRow]:
    """The users by id after id ``after``, at most ``limit`` of them (-1: all)."""
    require_account(tx, account_id)
    rows = tx.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE account = ? AND id > ? ORDER BY id LIMIT ?",
        (account_id, after, limit),
    )
    return [user_row(r) for r in rows]


def require_user(tx: sqlite3.Connection, account_id: int, user_id: int, verb: str) -> User:
    """User ``user_id``, or the refusal to ``verb`` a user the account lacks."""
    row = find_user_by_id(tx, account_id, user_id)
    if row is None:
        raise refused(account_id, verb, f"user {user_id}", NOT_FOUND, "no such user")
    return row.user


#: A user's columns, in the order :func:`user_row` reads them: by position, as a
#: ``sqlite3.Row`` read by name compares the name with every column's.
USER_COLUMNS = (
    "id, account, email, access_kind, role, seat, first_name, last_name, primary_team, "
    "secondary_teams, permissions_add, permissions_remove, created_at, updated_at"
)


def user_row(row: Sequence[Any]) -> UserRow:
    """A user read as :data:`USER_COLUMNS`."""
    return UserRow(int(row[0]), int(row[1]), _user_of(row), str(row[12]), str(row[13]))


def _user_of(row: Sequence[Any]) -> User:
    kind = str(row[3])
    return User(
        email=str(row[2]),
        access=_access(kind, row[4] if kind == "role" else None),
        seat=str(row[5]),
        first_name=row[6],
        last_name=row[7],
        teams=teams_of(row[8], row[9]),
        permissions=_permissions(row[10], row[11]),
    )


# A user's access, teams and permissions are frozen values that most users of an account
# share: built once per distinct stored value, not for every user of every page read.


@lru_cache(maxsize=1024)
def _access(kind: str, role: str | None) -> Access:
    return Access(kind, role)


@lru_cache(maxsize=4096)
def teams_of(primary: str | None, secondary: str) -> Teams:
    """Teams as stored: a primary team's name and the secondary teams' as a JSON list."""
    return Teams(primary, tuple(_strings(secondary)))


@lru_cache(maxsize=1024)
def _permissions(add: str, remove: str) -> Permissions:
    return Permissions(frozenset(_strings(add)), frozenset(_strings(remove)))


def _strings(text: str) -> list[str]:
    """A stored JSON list. Most are empty: not parsing those saves a quarter of a read."""
    if text == "[]":
        return []
    strings: list[str] = json.loads(text)
    return strings


def insert_user(tx: sqlite3.Connection, account_id: int, user: User) -> int:
    """Store ``user`` as new; its id."""
    stamp = now()
    cursor = tx.execute(
        "INSERT INTO users (account, email, email_key, first_name, last_name, access_kind, "
        "role, seat, primary_team, secondary_teams, permissions_add, permissions_remove, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (account_id, *_user_values(user), stamp, stamp),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def save_user(
    tx: sqlite3.Connection, account_id: int, current: User | None, after: User | None
) -> None:
    """Store user ``current`` (None: absent) as ``after`` (None: removed)."""
    if current is None:
        assert after is not None
        insert_user(tx, account_id, after)
    elif after is None:
        tx.execute(
            "DELETE FROM users WHERE account = ? AND email_key = ?", (account_id, current.key)
        )
    else:
        tx.execute(
            "UPDATE users SET email = ?, email_key = ?, first_name = ?, last_name = ?, "
            "access_kind = ?, role = ?, seat = ?, primary_team = ?, secondary_teams = ?, "
            "permissions_add = ?, permissions_remove = ?, updated_at = ? "
            "WHERE account = ? AND email_key = ?",
            (*_user_values(after), now(), account_id, current.key),
        )


def _user_values(user: User) -> tuple[Any, ...]:
    return (
        user.email,
        user.key,
        user.first_name,
        user.last_name,
        user.access.kind,
        user.access.role if user.access.kind == "role" else None,
        user.seat,
        user.teams.primary,
        json.dumps(list(user.teams.secondary)),
        json.dumps(sorted(user.permissions.add)),
        json.dumps(sorted(user.permissions.remove)),
    )


def seed_account(tx: sqlite3.Connection, account: Mapping[str, Any]) -> int:
    """Insert one snapshot account (its old rows already deleted); the users it holds."""
    account_id = int(account["id"])
    tx.execute("INSERT INTO accounts VALUES (?, ?)", (account_id, account.get("name", "")))
    owned = account.get("seats_owned") or {}
    tx.executemany(
        "INSERT INTO seats_owned VALUES (?, ?, ?)",
        [(account_id, seat, int(owned.get(seat, 0))) for seat in PAID_SEATS],
    )
    tx.executemany(
        "INSERT INTO roles (account, name, seat, permissions) VALUES (?, ?, ?, ?)",
        [
            (account_id, r["name"], r.get("seat"), json.dumps(sorted(r.get("permissions", ()))))
            for r in account.get("roles") or ()
        ],
    )
    tx.executemany(
        "INSERT INTO teams (account, name) VALUES (?, ?)",
        [(account_id, name) for name in account.get("teams") or ()],
    )
    for token in account.get("tokens") or ():
        taken = tx.execute(
            "SELECT account FROM tokens WHERE value = ?", (token["value"],)
        ).fetchone()
        if taken is not None:
            raise SandboxError(
                f"account {account_id}: a token value is already used by account {taken['account']}"
            )
        tx.execute(
            "INSERT INTO tokens VALUES (?, ?, ?)",
            (token["value"], account_id, json.dumps(list(token.get("scopes") or ()))),
        )
    add_requests(tx, account_id, account.get("access_requests") or ())
    users = [User.from_data(data) for data in account.get("users") or ()]
    for user in users:
        insert_user(tx, account_id, user)
    return len(users)


def export_account(tx: sqlite3.Connection, account_id: int) -> dict[str, Any]:
    """One account as snapshot data, in a deterministic order (``seed_account`` takes it back)."""
    state = read_state(tx, account_id, None)
    tokens = tx.execute(
        "SELECT value, scopes FROM tokens WHERE account = ? ORDER BY value", (account_id,)
    ).fetchall()
    requests = pending_requests(tx, account_id)
    data: dict[str, Any] = {
        "id": account_id,
        "name": state.name,
        "seats_owned": {seat: state.seats_owned.get(seat, 0) for seat in PAID_SEATS},
        "roles": [state.roles[name].to_data() for name in sorted(state.roles)],
        "teams": sorted(state.teams),
        "tokens": [{"value": t["value"], "scopes": json.loads(t["scopes"])} for t in tokens],
    }
    if requests:
        data["access_requests"] = requests
    data["users"] = [state.users[key].to_data() for key in sorted(state.users)]
    return data
