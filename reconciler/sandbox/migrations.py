"""The sandbox database's tables, built by migrations that are only ever appended.

``PRAGMA user_version`` counts the migrations a database has had, so a newer
reconciler upgrades an older sandbox in place and an older one refuses a newer
sandbox rather than misread it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from reconciler.errors import SandboxError
from reconciler.model import ACCESS_KINDS, SEATS

_SEAT_LIST = ", ".join(f"'{s}'" for s in SEATS)
_ACCESS_LIST = ", ".join(f"'{k}'" for k in ACCESS_KINDS)

# Each migration is a list of statements.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE partner (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            name TEXT NOT NULL,
            actor TEXT NOT NULL,
            employee_domains TEXT NOT NULL,
            employees TEXT NOT NULL
        )""",
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        """CREATE TABLE seats_owned (
            account INTEGER NOT NULL REFERENCES accounts (id),
            seat TEXT NOT NULL CHECK (seat IN ('core', 'sales', 'service')),
            count INTEGER NOT NULL CHECK (count >= 0),
            PRIMARY KEY (account, seat)
        )""",
        f"""CREATE TABLE roles (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account INTEGER NOT NULL REFERENCES accounts (id),
            name TEXT NOT NULL,
            seat TEXT CHECK (seat IS NULL OR seat IN ({_SEAT_LIST})),
            permissions TEXT NOT NULL,
            UNIQUE (account, name)
        )""",
        """CREATE TABLE teams (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account INTEGER NOT NULL REFERENCES accounts (id),
            name TEXT NOT NULL,
            UNIQUE (account, name)
        )""",
        f"""CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account INTEGER NOT NULL REFERENCES accounts (id),
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            first_name TEXT,
            last_name TEXT,
            access_kind TEXT NOT NULL CHECK (access_kind IN ({_ACCESS_LIST})),
            role TEXT,
            seat TEXT NOT NULL CHECK (seat IN ({_SEAT_LIST})),
            primary_team TEXT,
            secondary_teams TEXT NOT NULL,
            permissions_add TEXT NOT NULL,
            permissions_remove TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (account, email_key),
            CHECK ((access_kind = 'role') = (role IS NOT NULL)),
            FOREIGN KEY (account, role) REFERENCES roles (account, name),
            FOREIGN KEY (account, primary_team) REFERENCES teams (account, name)
        )""",
        "CREATE INDEX users_by_seat ON users (account, seat)",
        "CREATE INDEX users_by_access ON users (account, access_kind)",
        """CREATE TABLE access_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account INTEGER NOT NULL REFERENCES accounts (id),
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved')),
            requested_at TEXT NOT NULL,
            approved_at TEXT
        )""",
        """CREATE UNIQUE INDEX access_requests_pending
            ON access_requests (account, email_key) WHERE status = 'pending'""",
        """CREATE TABLE tokens (
            value TEXT PRIMARY KEY,
            account INTEGER NOT NULL REFERENCES accounts (id),
            scopes TEXT NOT NULL
        )""",
        """CREATE TABLE journal (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            account INTEGER,
            step_id TEXT,
            step_type TEXT NOT NULL,
            user TEXT,
            actor TEXT,
            channel TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
            message TEXT NOT NULL
        )""",
        "CREATE INDEX journal_by_account ON journal (account, seq)",
    ),
    # The snapshots seeded from, by real path, with their digest then: a snapshot edited
    # after the database was made from it is noticed.
    (
        """CREATE TABLE snapshots (
            path TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            seeded_at TEXT NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(tx: sqlite3.Connection, path: Path) -> None:
    """Apply the migrations ``tx``'s database lacks, inside ``tx`` (a write transaction)."""
    version = schema_version(tx)
    if version > SCHEMA_VERSION:
        raise SandboxError(
            f"sandbox database {path} has schema version {version}; this "
            f"reconciler reads up to {SCHEMA_VERSION} (upgrade reconciler)"
        )
    for index in range(version, SCHEMA_VERSION):
        for statement in MIGRATIONS[index]:
            tx.execute(statement)
        tx.execute(f"PRAGMA user_version = {index + 1}")
