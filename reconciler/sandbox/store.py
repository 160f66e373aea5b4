"""The sandbox store: simulated HubSpot accounts in SQLite that refuse what HubSpot refuses.

Every write, whether a plan step or a call from the HTTP server, goes through
one path: inside a single ``BEGIN IMMEDIATE`` transaction it reads the user as
it is, builds the user as it would be, checks the whole rule set against both,
writes, and journals the outcome. A refused write is rolled back and then
journalled as failed in a transaction of its own, so the history records every
attempt and never holds a state that breaks a rule.

Connections are per thread (SQLite connections must not be shared across
threads mid-transaction); WAL lets readers run while one writer writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from reconciler.catalog import Catalogue, load_catalogue
from reconciler.errors import SandboxError
from reconciler.model import (
    ACCESS_KINDS,
    PAID_SEATS,
    PARTNER_ADMIN,
    SEATS,
    Access,
    AccountState,
    Partner,
    Permissions,
    Role,
    Teams,
    User,
    user_key,
)
from reconciler.plan import (
    ACCESS_STEP_TYPES,
    CREATE_USER,
    GRANT_PARTNER_ADMIN,
    MIGRATE_TO_PARTNER_ADMIN,
    PROMOTE_SUPER_ADMIN,
    REMOVE_USER,
    REQUEST_ACCESS,
    SET_NAME,
    SET_PERMISSIONS,
    SET_SEAT,
    SET_TEAMS,
    Step,
)
from reconciler.sandbox.snapshot import snapshot_problems

T = TypeVar("T")

_SEAT_LIST = ", ".join(f"'{s}'" for s in SEATS)
_ACCESS_LIST = ", ".join(f"'{k}'" for k in ACCESS_KINDS)

# Each migration is a list of statements; ``PRAGMA user_version`` counts those applied.
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
)
SCHEMA_VERSION = len(MIGRATIONS)

# Why a write was refused, so the HTTP server can answer with HubSpot's status codes.
NOT_FOUND = "not_found"  # no such account, user or access request
CONFLICT = "conflict"  # the user already exists
STALE = "stale"  # the step was planned against another state
INVALID = "invalid"  # unknown seat, role, team or permission; malformed step
NO_ACCESS = "no_access"  # the actor is not a user of the account
FORBIDDEN = "forbidden"  # the actor lacks the capability
LIMIT = "limit"  # no paid seat of that type left
INVARIANT = "invariant"  # last Super Admin, Partner Admin rules, the actor's own access

APPROVE_ACCESS = "approve_access"
UPDATE_USER = "update_user"
SEED = "seed"


class RefusedError(SandboxError):
    """The sandbox refused a write; ``rule`` is one of the kinds above.

    ``detail`` is the message without its ``account N:`` prefix, for errors that add their own.
    """

    def __init__(self, detail: str, *, rule: str, account: int, user: str | None) -> None:
        super().__init__(f"account {account}: {detail}")
        self.detail = detail
        self.rule = rule
        self.account = account
        self.user = user


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


@dataclass(frozen=True)
class _Account:
    """What the rules need to know about an account besides its users."""

    id: int
    seats_owned: Mapping[str, int]
    roles: dict[str, Role]
    teams: frozenset[str]
    partner: Partner


@dataclass(frozen=True)
class _Entry:
    """The journal row a write will produce."""

    account: int
    step_type: str
    user: str | None
    actor: str | None
    step_id: str | None = None
    channel: str | None = "api"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """The sandbox database. Safe to share between threads; ``close()`` when done."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.catalogue: Catalogue = load_catalogue()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SandboxError(f"cannot create {self.path.parent}: {exc.strerror}") from exc
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections and transactions -------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise SandboxError(f"cannot open sandbox database {self.path}: {exc}") from exc
        with self._lock:
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        """Bring the database to SCHEMA_VERSION; another process may be doing the same."""
        if self.schema_version == SCHEMA_VERSION:
            return
        with self._transaction(immediate=True) as tx:
            version = int(tx.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SandboxError(
                    f"sandbox database {self.path} has schema version {version}; this "
                    f"reconciler reads up to {SCHEMA_VERSION} (upgrade reconciler)"
                )
            for index in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[index]:
                    tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {index + 1}")

    @property
    def schema_version(self) -> int:
        try:
            return int(self._connection().execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise SandboxError(f"sandbox database {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; database errors become SandboxError, anything raised rolls back."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise SandboxError(f"sandbox database {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- seed and export --------------------------------------------------------------

    def seed(self, snapshot: Mapping[str, Any], partner: Partner) -> None:
        """Replace every account the snapshot names (others stay) and set the partner."""
        problems = snapshot_problems(snapshot)
        if problems:
            shown = "; ".join(f"{pointer or '/'}: {message}" for pointer, message in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise SandboxError(f"snapshot is invalid: {shown}{more}")
        accounts = snapshot["accounts"]
        with self._transaction(immediate=True) as tx:
            tx.execute(
                "INSERT OR REPLACE INTO partner VALUES (1, ?, ?, ?, ?)",
                (
                    partner.name,
                    partner.actor,
                    json.dumps(sorted(partner.employee_domains)),
                    json.dumps(sorted(partner.employees)),
                ),
            )
            ids = [account["id"] for account in accounts]
            for table in ("users", "access_requests", "tokens", "roles", "teams", "seats_owned"):
                tx.executemany(f"DELETE FROM {table} WHERE account = ?", [(i,) for i in ids])
            tx.executemany("DELETE FROM accounts WHERE id = ?", [(i,) for i in ids])
            for account in accounts:
                self._seed_account(tx, account)

    def _seed_account(self, tx: sqlite3.Connection, account: Mapping[str, Any]) -> None:
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
                    f"account {account_id}: a token value is already used by account "
                    f"{taken['account']}"
                )
            tx.execute(
                "INSERT INTO tokens VALUES (?, ?, ?)",
                (token["value"], account_id, json.dumps(list(token.get("scopes") or ()))),
            )
        stamp = _now()
        tx.executemany(
            "INSERT INTO access_requests (account, email, email_key, status, requested_at) "
            "VALUES (?, ?, ?, 'pending', ?)",
            [(account_id, e, user_key(e), stamp) for e in account.get("access_requests") or ()],
        )
        users = [User.from_data(data) for data in account.get("users") or ()]
        for user in users:
            _insert_user(tx, account_id, user)
        self._log(
            tx,
            _Entry(account_id, SEED, None, None, channel=None),
            "ok",
            f"seeded {len(users)} users",
        )

    def export(self) -> dict[str, Any]:
        """The whole sandbox as snapshot data, in a deterministic order; ``seed`` takes it back."""
        with self._transaction() as tx:
            ids = [int(r["id"]) for r in tx.execute("SELECT id FROM accounts ORDER BY id")]
            return {"accounts": [self._export_account(tx, i) for i in ids]}

    def _export_account(self, tx: sqlite3.Connection, account_id: int) -> dict[str, Any]:
        state = _read_state(tx, account_id, None)
        tokens = tx.execute(
            "SELECT value, scopes FROM tokens WHERE account = ? ORDER BY value", (account_id,)
        ).fetchall()
        requests = _pending_requests(tx, account_id)
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

    # -- reads ------------------------------------------------------------------------

    def account_ids(self) -> list[int]:
        with self._transaction() as tx:
            return [int(r["id"]) for r in tx.execute("SELECT id FROM accounts ORDER BY id")]

    def has_account(self, account_id: int) -> bool:
        with self._transaction() as tx:
            row = tx.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone()
            return row is not None

    def partner(self) -> Partner | None:
        """The partner set at seed, whose employees alone may hold partner seats."""
        with self._transaction() as tx:
            return _read_partner(tx)

    def read_account(self, account_id: int, actor: str) -> AccountState:
        """The account as HubSpot would show it, and whether ``actor`` has access to it."""
        with self._transaction() as tx:
            return _read_state(tx, account_id, actor)

    def list_users(self, account_id: int) -> list[UserRow]:
        with self._transaction() as tx:
            _require_account(tx, account_id)
            rows = tx.execute(
                "SELECT * FROM users WHERE account = ? ORDER BY id", (account_id,)
            ).fetchall()
            return [_user_row(r) for r in rows]

    def get_user(self, account_id: int, user_id: int) -> UserRow | None:
        with self._transaction() as tx:
            row = tx.execute(
                "SELECT * FROM users WHERE account = ? AND id = ?", (account_id, user_id)
            ).fetchone()
            return _user_row(row) if row is not None else None

    def get_user_by_email(self, account_id: int, email: str) -> UserRow | None:
        with self._transaction() as tx:
            row = _find_user(tx, account_id, email)
            return _user_row(row) if row is not None else None

    def roles(self, account_id: int) -> list[RoleRow]:
        with self._transaction() as tx:
            _require_account(tx, account_id)
            rows = tx.execute(
                "SELECT * FROM roles WHERE account = ? ORDER BY id", (account_id,)
            ).fetchall()
            return [RoleRow(int(r["id"]), account_id, _role(r)) for r in rows]

    def teams(self, account_id: int) -> list[TeamRow]:
        with self._transaction() as tx:
            _require_account(tx, account_id)
            rows = tx.execute(
                "SELECT id, name FROM teams WHERE account = ? ORDER BY id", (account_id,)
            ).fetchall()
            return [TeamRow(int(r["id"]), account_id, str(r["name"])) for r in rows]

    def tokens(self) -> list[TokenRow]:
        with self._transaction() as tx:
            rows = tx.execute("SELECT * FROM tokens ORDER BY account, value").fetchall()
            return [_token_row(r) for r in rows]

    def token(self, value: str) -> TokenRow | None:
        with self._transaction() as tx:
            row = tx.execute("SELECT * FROM tokens WHERE value = ?", (value,)).fetchone()
            return _token_row(row) if row is not None else None

    def journal(self, account_id: int | None = None) -> list[dict[str, Any]]:
        """Every write attempted, oldest first: what, by whom, and whether it was refused."""
        with self._transaction() as tx:
            if account_id is None:
                rows = tx.execute("SELECT * FROM journal ORDER BY seq").fetchall()
            else:
                rows = tx.execute(
                    "SELECT * FROM journal WHERE account = ? ORDER BY seq", (account_id,)
                ).fetchall()
            return [dict(r) for r in rows]

    # -- writes -----------------------------------------------------------------------

    def execute(self, step: Step, actor: str) -> None:
        """Perform one plan step as ``actor``, or refuse it (RefusedError) and change nothing."""
        entry = _Entry(step.account, step.type, step.user, actor, step.id, step.channel)
        self._write(entry, lambda tx: (self._perform(tx, step, actor), None))

    def approve(self, account_id: int, actor: str) -> int:
        """The client approves ``actor``'s access request: it becomes Partner Admin, partner seat.

        Returns the new user's id.
        """
        entry = _Entry(account_id, APPROVE_ACCESS, actor, None, channel="approval")
        return self._write(entry, lambda tx: self._approve(tx, account_id, actor))

    def create_user(self, account_id: int, user: User, actor: str | None) -> int:
        """Create ``user`` (as ``actor``, or unchecked capability when None); its new id."""
        entry = _Entry(account_id, CREATE_USER, user.email, actor)

        def create(tx: sqlite3.Connection) -> tuple[str, int]:
            account = _load_account(tx, account_id)
            self._check_create(tx, account, user, actor, "create")
            return f"created {_describe(user)}", _insert_user(tx, account_id, user)

        return self._write(entry, create)

    def update_user(self, account_id: int, user_id: int, user: User, actor: str | None) -> UserRow:
        """Make user ``user_id`` into ``user`` (same email), every rule checked; the result."""
        entry = _Entry(account_id, UPDATE_USER, self._email_of(account_id, user_id), actor)

        def update(tx: sqlite3.Connection) -> tuple[str, UserRow]:
            account = _load_account(tx, account_id)
            row = _find_user_by_id(tx, account, user_id, "update")
            current = _user_row(row).user
            if current.key != user.key:
                raise _refused(account.id, "update", current.email, INVALID, "emails cannot change")
            self._check(tx, account, int(row["id"]), current, user, actor, "update")
            _update_user(tx, int(row["id"]), user)
            updated = tx.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
            return f"updated {_describe(user)}", _user_row(updated)

        return self._write(entry, update)

    def delete_user(self, account_id: int, user_id: int, actor: str | None) -> None:
        entry = _Entry(account_id, REMOVE_USER, self._email_of(account_id, user_id), actor)

        def delete(tx: sqlite3.Connection) -> tuple[str, None]:
            account = _load_account(tx, account_id)
            row = _find_user_by_id(tx, account, user_id, "remove")
            current = _user_row(row).user
            self._check(tx, account, int(row["id"]), current, None, actor, "remove")
            tx.execute("DELETE FROM users WHERE id = ?", (user_id,))
            return f"removed {current.email}", None

        self._write(entry, delete)

    def _email_of(self, account_id: int, user_id: int) -> str | None:
        """For the journal row of a write by id (the write itself re-reads inside its transaction)."""
        row = self.get_user(account_id, user_id)
        return row.user.email if row is not None else None

    def _write(self, entry: _Entry, op: Callable[[sqlite3.Connection], tuple[str, T]]) -> T:
        """Run ``op`` in one write transaction and journal the outcome either way."""
        try:
            with self._transaction(immediate=True) as tx:
                message, result = op(tx)
                self._log(tx, entry, "ok", message)
            return result
        except SandboxError as exc:
            try:
                with self._transaction(immediate=True) as tx:
                    self._log(tx, entry, "failed", str(exc))
            except SandboxError:
                pass  # the refusal itself is what the caller must see
            raise

    def _log(self, tx: sqlite3.Connection, entry: _Entry, outcome: str, message: str) -> None:
        tx.execute(
            "INSERT INTO journal (time, account, step_id, step_type, user, actor, channel, "
            "outcome, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _now(),
                entry.account,
                entry.step_id,
                entry.step_type,
                entry.user,
                entry.actor,
                entry.channel,
                outcome,
                message,
            ),
        )

    def _perform(self, tx: sqlite3.Connection, step: Step, actor: str) -> str:
        account = _load_account(tx, step.account)
        if step.type == REQUEST_ACCESS:
            return self._request_access(tx, account, step, actor)
        email = step.user or ""
        verb = _VERBS.get(step.type)
        if verb is None:
            raise _refused(account.id, "apply", email, INVALID, f"unknown step type {step.type!r}")
        malformed = _malformed(account.id, verb, email, step.id)
        if step.type == CREATE_USER:
            with malformed:
                user = _created(step)
            self._check_create(tx, account, user, actor, verb)
            _insert_user(tx, account.id, user)
            return f"created {_describe(user)}"
        row = _find_user(tx, account.id, email)
        if row is None:
            raise _refused(account.id, verb, email, NOT_FOUND, "no such user (stale step)")
        current = _user_row(row).user
        if step.type == REMOVE_USER:
            with malformed:
                if step.before is None or step.after is not None:
                    raise ValueError("remove_user has the whole user before and no after")
                before = User.from_data(step.before)
            _expect(account.id, verb, current, before, _USER_FIELDS)
            self._check(tx, account, int(row["id"]), current, None, actor, verb)
            tx.execute("DELETE FROM users WHERE id = ?", (row["id"],))
            return f"removed {current.email}"
        with malformed:
            before, after = _change(step, current)
        _expect(account.id, verb, current, before, _STEP_FIELDS[step.type](step))
        self._check(tx, account, int(row["id"]), current, after, actor, verb)
        _update_user(tx, int(row["id"]), after)
        return _describe_change(current, after)

    def _request_access(
        self, tx: sqlite3.Connection, account: _Account, step: Step, actor: str
    ) -> str:
        verb = "request access for"
        email = step.user or ""
        if user_key(email) != user_key(actor):
            raise _refused(account.id, verb, email, INVALID, f"only {actor} can request for itself")
        status = _partner_access(tx, account.id, actor)
        planned = (step.before or {}).get("partner_access")
        if status != planned:
            raise _refused(
                account.id, verb, email, STALE, f"stale step: access is {status}, not {planned}"
            )
        if (step.after or {}).get("partner_access") != "pending":
            raise _refused(account.id, verb, email, INVALID, "a request makes access pending")
        if not account.partner.is_employee(actor):
            raise _refused(
                account.id, verb, email, INVARIANT, f"not an employee of {account.partner.name}"
            )
        tx.execute(
            "INSERT INTO access_requests (account, email, email_key, status, requested_at) "
            "VALUES (?, ?, ?, 'pending', ?)",
            (account.id, actor, user_key(actor), _now()),
        )
        return f"{actor} requested access"

    def _approve(self, tx: sqlite3.Connection, account_id: int, actor: str) -> tuple[str, int]:
        account = _load_account(tx, account_id)
        request = tx.execute(
            "SELECT id, email FROM access_requests "
            "WHERE account = ? AND email_key = ? AND status = 'pending'",
            (account_id, user_key(actor)),
        ).fetchone()
        if request is None:
            raise _refused(
                account_id, "approve access for", actor, NOT_FOUND, "no pending access request"
            )
        user = User(email=str(request["email"]), access=PARTNER_ADMIN, seat="partner")
        self._check_create(tx, account, user, None, "approve access for")
        user_id = _insert_user(tx, account_id, user)
        tx.execute(
            "UPDATE access_requests SET status = 'approved', approved_at = ? WHERE id = ?",
            (_now(), request["id"]),
        )
        return f"approved access: {_describe(user)}", user_id

    # -- the rules --------------------------------------------------------------------

    def _check_create(
        self,
        tx: sqlite3.Connection,
        account: _Account,
        user: User,
        actor: str | None,
        verb: str,
    ) -> None:
        if "@" not in user.email.strip("@"):
            raise _refused(account.id, verb, user.email, INVALID, "not an email address")
        if _find_user(tx, account.id, user.email) is not None:
            raise _refused(account.id, verb, user.email, CONFLICT, "a user with this email exists")
        self._check(tx, account, None, None, user, actor, verb)

    def _check(
        self,
        tx: sqlite3.Connection,
        account: _Account,
        user_id: int | None,
        current: User | None,
        after: User | None,
        actor: str | None,
        verb: str,
    ) -> None:
        """Refuse the change from ``current`` to ``after`` (None: absent) if any rule forbids it."""
        subject = after or current
        assert subject is not None

        def refuse(rule: str, reason: str) -> RefusedError:
            return _refused(account.id, verb, subject.email, rule, reason)

        actor_user: User | None = None
        if actor is not None:
            actor_row = _find_user(tx, account.id, actor)
            if actor_row is None:
                raise refuse(NO_ACCESS, f"{actor} has no access to the account (request access)")
            actor_user = _user_row(actor_row).user
        if after is not None:
            self._check_valid(account, after, refuse)
        if actor_user is not None:
            self._check_actor(account, actor_user, current, after, refuse)
        self._check_invariants(tx, account, user_id, current, after, refuse)

    def _check_valid(
        self, account: _Account, user: User, refuse: Callable[[str, str], RefusedError]
    ) -> None:
        if user.seat not in SEATS:
            raise refuse(INVALID, f"unknown seat {user.seat!r}")
        if user.access.kind not in ACCESS_KINDS:
            raise refuse(INVALID, f"unknown access {user.access.kind!r}")
        if user.access.kind == "role" and user.access.role not in account.roles:
            raise refuse(INVALID, f"permission set {user.access.role!r} does not exist")
        for team in user.teams.names():
            if team not in account.teams:
                raise refuse(INVALID, f"team {team!r} does not exist")
        for permission in sorted(user.permissions.add | user.permissions.remove):
            if permission not in self.catalogue.ids:
                raise refuse(INVALID, f"unknown permission {permission!r}")

    def _check_actor(
        self,
        account: _Account,
        actor: User,
        current: User | None,
        after: User | None,
        refuse: Callable[[str, str], RefusedError],
    ) -> None:
        """What the actor's own access allows (HubSpot checks the caller, not just the result)."""
        is_super_admin = actor.access.kind == "super_admin"
        granted = self.catalogue.effective(actor, account.roles)
        if not (is_super_admin or "users.write" in granted):
            raise refuse(FORBIDDEN, f"{actor.email} lacks 'users.write' (Add and edit users)")
        was_super = current is not None and current.access.kind == "super_admin"
        is_super = after is not None and after.access.kind == "super_admin"
        if was_super != is_super and not is_super_admin:
            what = "make" if is_super else ("demote" if after is not None else "remove")
            raise refuse(
                FORBIDDEN, f"only a Super Admin can {what} a Super Admin ({actor.email} is not)"
            )
        seat_before = current.seat if current is not None else None
        seat_after = after.seat if after is not None else None
        if (
            after is not None
            and seat_before != seat_after
            and (seat_before in PAID_SEATS or seat_after in PAID_SEATS)
            and not (is_super_admin or {"users.write", "billing.write"} <= granted)
        ):
            raise refuse(
                FORBIDDEN,
                f"{actor.email} cannot assign paid seats (needs Super Admin or "
                "'users.write' and 'billing.write')",
            )
        if current is not None and current.key == actor.key:
            if after is None:
                raise refuse(INVARIANT, "the actor cannot remove itself")
            kept = self.catalogue.effective(after, account.roles)
            if (
                (was_super and not is_super)
                or not granted <= kept
                or (after.seat == "view_only" and current.seat != "view_only")
            ):
                raise refuse(INVARIANT, "the actor cannot reduce its own access")

    def _check_invariants(
        self,
        tx: sqlite3.Connection,
        account: _Account,
        user_id: int | None,
        current: User | None,
        after: User | None,
        refuse: Callable[[str, str], RefusedError],
    ) -> None:
        """HubSpot's own rules on the resulting account, checked only where this change touches."""
        others = user_id if user_id is not None else -1
        if after is not None:
            is_partner_admin = after.access.kind == "partner_admin"
            was_partner_admin = current is not None and current.access.kind == "partner_admin"
            if is_partner_admin and after.seat != "partner":
                if was_partner_admin and current is not None and current.seat == "partner":
                    raise refuse(INVARIANT, "cannot move a Partner Admin off the partner seat")
                raise refuse(INVARIANT, "Partner Admin requires the partner seat")
            gains_partner = (is_partner_admin and not was_partner_admin) or (
                after.seat == "partner" and (current is None or current.seat != "partner")
            )
            if gains_partner and not account.partner.is_employee(after.email):
                raise refuse(
                    INVARIANT,
                    f"partner seat and Partner Admin are only for employees of "
                    f"{account.partner.name}",
                )
            forbidden = sorted(after.permissions.add & self.catalogue.partner_admin_forbidden)
            if is_partner_admin and forbidden:
                raise refuse(INVARIANT, f"a Partner Admin cannot hold {forbidden[0]!r}")
            if after.seat in PAID_SEATS and (current is None or current.seat != after.seat):
                owned = account.seats_owned.get(after.seat, 0)
                used = tx.execute(
                    "SELECT COUNT(*) FROM users WHERE account = ? AND seat = ? AND id != ?",
                    (account.id, after.seat, others),
                ).fetchone()[0]
                if used + 1 > owned:
                    raise refuse(LIMIT, f"no {after.seat} seat left ({owned} owned, {used} in use)")
        was_super = current is not None and current.access.kind == "super_admin"
        if was_super and (after is None or after.access.kind != "super_admin"):
            remaining = tx.execute(
                "SELECT COUNT(*) FROM users WHERE account = ? AND access_kind = 'super_admin' "
                "AND id != ?",
                (account.id, others),
            ).fetchone()[0]
            if remaining == 0:
                raise refuse(INVARIANT, "last Super Admin")


# -- step data ------------------------------------------------------------------------

_VERBS = {
    CREATE_USER: "create",
    REMOVE_USER: "remove",
    PROMOTE_SUPER_ADMIN: "promote",
    GRANT_PARTNER_ADMIN: "grant Partner Admin to",
    MIGRATE_TO_PARTNER_ADMIN: "migrate",
    "set_access": "change access of",
    SET_SEAT: "change seat of",
    SET_PERMISSIONS: "change permissions of",
    SET_TEAMS: "change teams of",
    SET_NAME: "rename",
}
_USER_FIELDS = ("access", "seat", "first_name", "last_name", "teams", "permissions")
_STEP_FIELDS: dict[str, Callable[[Step], Sequence[str]]] = {
    **{t: (lambda step: ("access",)) for t in ACCESS_STEP_TYPES},
    SET_SEAT: lambda step: ("seat",),
    SET_PERMISSIONS: lambda step: ("permissions",),
    SET_TEAMS: lambda step: ("teams",),
    SET_NAME: lambda step: tuple(f for f in ("first_name", "last_name") if f in (step.after or {})),
}
# What an access step type may do: (access before, access after); None: any.
_ACCESS_ROUTES: dict[str, tuple[str | None, str | None]] = {
    PROMOTE_SUPER_ADMIN: (None, "super_admin"),
    GRANT_PARTNER_ADMIN: (None, "partner_admin"),
    MIGRATE_TO_PARTNER_ADMIN: ("super_admin", "partner_admin"),
}


@contextmanager
def _malformed(account: int, verb: str, email: str, step_id: str) -> Iterator[None]:
    """Step data that does not parse is refused as malformed, never a traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = f"step {step_id} is malformed: {exc}"
        raise _refused(account, verb, email, INVALID, reason) from exc


def _created(step: Step) -> User:
    if step.before is not None or not isinstance(step.after, Mapping):
        raise ValueError("create_user has no before and the whole user after")
    user = User.from_data(step.after)
    if user.key != user_key(step.user or ""):
        raise ValueError(f"after is for {user.email}")
    return user


def _change(step: Step, current: User) -> tuple[User, User]:
    """The user as the step expects it to be, and as it will be (only the touched fields differ)."""
    before, after = step.before, step.after
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        raise ValueError("before and after must both be objects")
    values: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    if step.type in ACCESS_STEP_TYPES:
        expected["access"] = Access.parse(before["access"])
        values["access"] = Access.parse(after["access"])
        route_before, route_after = _ACCESS_ROUTES.get(step.type, (None, None))
        if route_after is not None and values["access"].kind != route_after:
            raise ValueError(f"{step.type} must end with access {route_after!r}")
        if route_before is not None and expected["access"].kind != route_before:
            raise ValueError(f"{step.type} must start from access {route_before!r}")
    elif step.type == SET_SEAT:
        expected["seat"], values["seat"] = str(before["seat"]), str(after["seat"])
    elif step.type == SET_PERMISSIONS:
        expected["permissions"] = Permissions.from_data(before["permissions"])
        values["permissions"] = Permissions.from_data(after["permissions"])
    elif step.type == SET_TEAMS:
        expected["teams"] = Teams.from_data(before["teams"])
        values["teams"] = Teams.from_data(after["teams"])
    elif step.type == SET_NAME:
        for name in ("first_name", "last_name"):
            if name in after:
                expected[name], values[name] = before.get(name), after[name]
        if not values:
            raise ValueError("set_name changes first_name or last_name")
    return _replace(current, expected), _replace(current, values)


def _replace(user: User, values: dict[str, Any]) -> User:
    return replace(user, **values)


def _expect(account: int, verb: str, current: User, before: User, fields: Sequence[str]) -> None:
    """Refuse a step planned against another state of the fields it touches."""
    for name in fields:
        is_, was = getattr(current, name), getattr(before, name)
        if is_ != was:
            raise _refused(
                account,
                verb,
                current.email,
                STALE,
                f"stale step: {name} is {_show(is_)}, the plan expected {_show(was)}",
            )


def _show(value: object) -> str:
    if isinstance(value, Access):
        return str(value)
    if isinstance(value, Teams | Permissions):
        return json.dumps(value.to_data(), sort_keys=True)
    return repr(value)


def _describe(user: User) -> str:
    return f"{user.email} ({user.access}, {user.seat} seat)"


def _describe_change(current: User, after: User) -> str:
    changes = [
        f"{name} {_show(getattr(current, name))} -> {_show(getattr(after, name))}"
        for name in _USER_FIELDS
        if getattr(current, name) != getattr(after, name)
    ]
    return f"{current.email}: {', '.join(changes) or 'no change'}"


def _refused(account: int, verb: str, email: str | None, rule: str, reason: str) -> RefusedError:
    return RefusedError(
        f"cannot {verb} {email or '?'}: {reason}",
        rule=rule,
        account=account,
        user=email,
    )


# -- rows -----------------------------------------------------------------------------


def _load_account(tx: sqlite3.Connection, account_id: int) -> _Account:
    _require_account(tx, account_id)
    owned = {
        str(r["seat"]): int(r["count"])
        for r in tx.execute("SELECT seat, count FROM seats_owned WHERE account = ?", (account_id,))
    }
    roles = {
        str(r["name"]): _role(r)
        for r in tx.execute("SELECT * FROM roles WHERE account = ?", (account_id,))
    }
    teams = frozenset(
        str(r["name"])
        for r in tx.execute("SELECT name FROM teams WHERE account = ?", (account_id,))
    )
    partner = _read_partner(tx) or Partner(name="the partner", actor="")
    return _Account(account_id, owned, roles, teams, partner)


def _require_account(tx: sqlite3.Connection, account_id: int) -> None:
    if tx.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone() is None:
        raise RefusedError("not in the sandbox", rule=NOT_FOUND, account=account_id, user=None)


def _read_partner(tx: sqlite3.Connection) -> Partner | None:
    row = tx.execute("SELECT * FROM partner WHERE id = 1").fetchone()
    if row is None:
        return None
    return Partner(
        name=str(row["name"]),
        actor=str(row["actor"]),
        employee_domains=frozenset(json.loads(row["employee_domains"])),
        employees=frozenset(json.loads(row["employees"])),
    )


def _read_state(tx: sqlite3.Connection, account_id: int, actor: str | None) -> AccountState:
    account = _load_account(tx, account_id)
    name = tx.execute("SELECT name FROM accounts WHERE id = ?", (account_id,)).fetchone()["name"]
    rows = tx.execute("SELECT * FROM users WHERE account = ?", (account_id,)).fetchall()
    users = {user.key: user for user in (_user_row(r).user for r in rows)}
    return AccountState(
        id=account_id,
        name=str(name),
        seats_owned=dict(account.seats_owned),
        roles=account.roles,
        teams=account.teams,
        users=users,
        partner_access=_partner_access(tx, account_id, actor) if actor is not None else "none",
    )


def _partner_access(tx: sqlite3.Connection, account_id: int, actor: str) -> str:
    if _find_user(tx, account_id, actor) is not None:
        return "granted"
    pending = tx.execute(
        "SELECT 1 FROM access_requests WHERE account = ? AND email_key = ? AND status = 'pending'",
        (account_id, user_key(actor)),
    ).fetchone()
    return "pending" if pending is not None else "none"


def _pending_requests(tx: sqlite3.Connection, account_id: int) -> list[str]:
    rows = tx.execute(
        "SELECT email FROM access_requests WHERE account = ? AND status = 'pending' "
        "ORDER BY email_key",
        (account_id,),
    )
    return [str(r["email"]) for r in rows]


def _find_user(tx: sqlite3.Connection, account_id: int, email: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = tx.execute(
        "SELECT * FROM users WHERE account = ? AND email_key = ?", (account_id, user_key(email))
    ).fetchone()
    return row


def _find_user_by_id(
    tx: sqlite3.Connection, account: _Account, user_id: int, verb: str
) -> sqlite3.Row:
    row: sqlite3.Row | None = tx.execute(
        "SELECT * FROM users WHERE account = ? AND id = ?", (account.id, user_id)
    ).fetchone()
    if row is None:
        raise _refused(account.id, verb, f"user {user_id}", NOT_FOUND, "no such user")
    return row


def _role(row: sqlite3.Row) -> Role:
    return Role(str(row["name"]), row["seat"], frozenset(json.loads(row["permissions"])))


def _user_row(row: sqlite3.Row) -> UserRow:
    kind = str(row["access_kind"])
    user = User(
        email=str(row["email"]),
        access=Access(kind, row["role"] if kind == "role" else None),
        seat=str(row["seat"]),
        first_name=row["first_name"],
        last_name=row["last_name"],
        teams=Teams(row["primary_team"], tuple(json.loads(row["secondary_teams"]))),
        permissions=Permissions(
            frozenset(json.loads(row["permissions_add"])),
            frozenset(json.loads(row["permissions_remove"])),
        ),
    )
    return UserRow(
        int(row["id"]), int(row["account"]), user, str(row["created_at"]), str(row["updated_at"])
    )


def _token_row(row: sqlite3.Row) -> TokenRow:
    return TokenRow(str(row["value"]), int(row["account"]), tuple(json.loads(row["scopes"])))


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


def _insert_user(tx: sqlite3.Connection, account_id: int, user: User) -> int:
    stamp = _now()
    cursor = tx.execute(
        "INSERT INTO users (account, email, email_key, first_name, last_name, access_kind, "
        "role, seat, primary_team, secondary_teams, permissions_add, permissions_remove, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (account_id, *_user_values(user), stamp, stamp),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _update_user(tx: sqlite3.Connection, user_id: int, user: User) -> None:
    tx.execute(
        "UPDATE users SET email = ?, email_key = ?, first_name = ?, last_name = ?, "
        "access_kind = ?, role = ?, seat = ?, primary_team = ?, secondary_teams = ?, "
        "permissions_add = ?, permissions_remove = ?, updated_at = ? WHERE id = ?",
        (*_user_values(user), _now(), user_id),
    )
