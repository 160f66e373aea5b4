"""What the endpoints read from the store: plain rows, one transaction (or statement) a request.

The store's own reads build model values (``User``, ``Role``) for planning; the
endpoints that list an account's users, roles and teams show a few columns of
each as JSON, and building those values cost more than the rest of the answer.
These reads ask for just those columns, as tuples, and read what one answer
shows in one transaction, so it shows the account at one moment.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from reconciler.model import user_key
from reconciler.sandbox.rows import require_account
from reconciler.sandbox.store import Store

#: A user as the API shows it, as :func:`~reconciler.sandbox.http.shapes.users_text` reads
#: it: id, email, first and last name, then what most users of an account share (access,
#: seat, teams) as one JSON list: five values a row to fetch rather than nine.
USER_COLUMNS = (
    "id, email, first_name, last_name, "
    "json_array(access_kind, role, seat, primary_team, secondary_teams)"
)

#: An account's permission sets (id, name, seat) and teams (id, name), each by id.
Directory = tuple[list[tuple[int, str, str | None]], list[tuple[int, str]]]


def _rows(tx: sqlite3.Connection, query: str, params: Sequence[Any]) -> list[Any]:
    """Rows as plain tuples: read by position, they need no ``sqlite3.Row``."""
    cursor = tx.cursor()
    cursor.row_factory = None
    return cursor.execute(query, params).fetchall()


def _roles(tx: sqlite3.Connection, account: int) -> list[tuple[int, str, str | None]]:
    return _rows(tx, "SELECT id, name, seat FROM roles WHERE account = ? ORDER BY id", (account,))


def _teams(tx: sqlite3.Connection, account: int) -> list[tuple[int, str]]:
    return _rows(tx, "SELECT id, name FROM teams WHERE account = ? ORDER BY id", (account,))


# Each read refuses an account the sandbox lacks (RefusedError), as the store's do.


def roles(store: Store, account: int) -> list[tuple[int, str, str | None]]:
    """The account's permission sets: id, name and the seat each needs (None: none)."""
    with store.reading() as tx:
        require_account(tx, account)
        return _roles(tx, account)


def directory(store: Store, account: int) -> Directory:
    """The account's permission sets and teams."""
    with store.reading() as tx:
        require_account(tx, account)
        return _roles(tx, account), _teams(tx, account)


def users_page(store: Store, account: int, after: int, limit: int) -> tuple[Directory, list[Any]]:
    """The account's directory, and its users after id ``after`` by id, at most ``limit``."""
    query = f"SELECT {USER_COLUMNS} FROM users WHERE account = ? AND id > ? ORDER BY id LIMIT ?"
    with store.reading() as tx:
        require_account(tx, account)
        names = _roles(tx, account), _teams(tx, account)
        return names, _rows(tx, query, (account, after, limit))


def team_groups(store: Store, account: int) -> tuple[list[tuple[int, str]], list[Any]]:
    """The account's teams, and its users grouped by their teams: each group's primary
    team, secondary teams (a JSON list) and user ids (comma-separated, in no order).

    SQLite groups them: a team lists hundreds of users, and a row read into Python
    costs more than SQLite's own work on it.
    """
    query = (
        "SELECT primary_team, secondary_teams, group_concat(id) FROM users "
        "WHERE account = ? GROUP BY primary_team, secondary_teams"
    )
    with store.reading() as tx:
        require_account(tx, account)
        return _teams(tx, account), _rows(tx, query, (account,))


def user_id(store: Store, account: int, email: str) -> int | None:
    """The id of the account's user with this email (compared as HubSpot does), if any."""
    rows = store.read(
        "SELECT id FROM users WHERE account = ? AND email_key = ?", (account, user_key(email))
    )
    return int(rows[0][0]) if rows else None
