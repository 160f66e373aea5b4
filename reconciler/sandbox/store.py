"""The sandbox store: simulated HubSpot accounts in SQLite that refuse what HubSpot refuses.

Every write, whether a plan step or a call from the HTTP server, goes through
one path: inside a single ``BEGIN IMMEDIATE`` transaction it reads the user as
it is, builds the user as it would be, checks the whole rule set
(:mod:`~reconciler.sandbox.rules`) against both, writes, and journals the
outcome. A refused write is rolled back and then journalled as failed in a
transaction of its own, so the history records every attempt and never holds a
state that breaks a rule.

Connections are per thread (SQLite connections must not be shared across
threads mid-transaction); WAL lets readers run while one writer writes. The
tables are in :mod:`~reconciler.sandbox.migrations`, how model values sit in
them in :mod:`~reconciler.sandbox.rows`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from reconciler.catalog import Catalogue, load_catalogue
from reconciler.errors import SandboxError
from reconciler.model import PARTNER_ADMIN, AccountState, Partner, User, user_key
from reconciler.plan import Step
from reconciler.render import plural
from reconciler.sandbox.migrations import SCHEMA_VERSION, migrate, schema_version
from reconciler.sandbox.rows import (
    RoleRow,
    TeamRow,
    TokenRow,
    UserRow,
    account_ids,
    add_requests,
    export_account,
    find_user,
    find_user_by_id,
    insert_user,
    now,
    partner_access,
    read_account,
    read_state,
    require_account,
    require_user,
    role_of,
    save_user,
    seat_counts,
    seed_account,
    team_members,
    token_row,
    users_page,
)
from reconciler.sandbox.rules import (
    NOT_FOUND,
    check_request,
    check_write,
    describe,
    describe_write,
    parse_step,
    refused,
)
from reconciler.sandbox.snapshot import snapshot_problems
from reconciler.steps import StepType

T = TypeVar("T")

# Journal step types of writes that are not plan steps.
APPROVE_ACCESS = "approve_access"
UPDATE_USER = "update_user"
SEED = "seed"


@dataclass(frozen=True)
class _Entry:
    """The journal row a write will produce."""

    account: int
    step_type: str
    user: str | None
    actor: str | None
    step_id: str | None = None
    channel: str | None = "api"


class Store:
    """The sandbox database. Safe to share between threads; ``close()`` when done."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writes = 0  # write transactions begun: what the kept tokens were read after
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
            migrate(tx, self.path)

    @property
    def schema_version(self) -> int:
        try:
            return schema_version(self._connection())
        except sqlite3.Error as exc:
            raise SandboxError(f"sandbox database {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; database errors become SandboxError, anything raised rolls back."""
        conn = self._connection()
        if immediate:
            self._writes += 1
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

    def seed(
        self, snapshot: Mapping[str, Any], partner: Partner, source: tuple[str, str] | None = None
    ) -> None:
        """Replace every account the snapshot names (others stay) and set the partner.

        ``source``: the snapshot file's real path and digest, remembered (:meth:`seeded_digest`).
        """
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
            if source is not None:
                tx.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)", (*source, now()))

    def seeded_digest(self, path: str) -> str | None:
        """The digest the snapshot at real ``path`` had when last seeded from (None: never)."""
        with self._transaction() as tx:
            row = tx.execute("SELECT digest FROM snapshots WHERE path = ?", (path,)).fetchone()
            return str(row["digest"]) if row is not None else None

    def _seed_account(self, tx: sqlite3.Connection, account: Mapping[str, Any]) -> None:
        users = seed_account(tx, account)
        entry = _Entry(int(account["id"]), SEED, None, None, channel=None)
        self._log(tx, entry, "ok", f"seeded {plural(users, 'user')}")

    def export(self) -> dict[str, Any]:
        """The whole sandbox as snapshot data, in a deterministic order; ``seed`` takes it back."""
        with self._transaction() as tx:
            return {"accounts": [export_account(tx, i) for i in account_ids(tx)]}

    # -- reads ------------------------------------------------------------------------

    def account_ids(self) -> list[int]:
        with self._transaction() as tx:
            return account_ids(tx)

    def has_account(self, account_id: int) -> bool:
        with self._transaction() as tx:
            row = tx.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone()
            return row is not None

    def read_account(self, account_id: int, actor: str) -> AccountState:
        """The account as HubSpot would show it, and whether ``actor`` has access to it."""
        with self._transaction() as tx:
            return read_state(tx, account_id, actor)

    def list_users(
        self, account_id: int, after: int = 0, limit: int | None = None
    ) -> list[UserRow]:
        """The users by id, those after id ``after``, at most ``limit`` (None: all).

        A page of users is read as a page: not the whole account each time.
        """
        with self._transaction() as tx:
            return users_page(tx, account_id, after, -1 if limit is None else limit)

    def team_members(self, account_id: int) -> list[tuple[int, str | None, tuple[str, ...]]]:
        with self._transaction() as tx:
            return team_members(tx, account_id)

    def seat_counts(self, account_id: int) -> tuple[dict[str, int], dict[str, int]]:
        """Paid seats owned, and held by users (see :func:`~reconciler.sandbox.rows.seat_counts`)."""
        with self._transaction() as tx:
            return seat_counts(tx, account_id)

    def get_user(self, account_id: int, user_id: int) -> UserRow | None:
        with self._transaction() as tx:
            return find_user_by_id(tx, account_id, user_id)

    def get_user_by_email(self, account_id: int, email: str) -> UserRow | None:
        with self._transaction() as tx:
            return find_user(tx, account_id, email)

    def roles(self, account_id: int) -> list[RoleRow]:
        with self._transaction() as tx:
            require_account(tx, account_id)
            rows = tx.execute(
                "SELECT * FROM roles WHERE account = ? ORDER BY id", (account_id,)
            ).fetchall()
            return [RoleRow(int(r["id"]), account_id, role_of(r)) for r in rows]

    def teams(self, account_id: int) -> list[TeamRow]:
        with self._transaction() as tx:
            require_account(tx, account_id)
            rows = tx.execute(
                "SELECT id, name FROM teams WHERE account = ? ORDER BY id", (account_id,)
            ).fetchall()
            return [TeamRow(int(r["id"]), account_id, str(r["name"])) for r in rows]

    def tokens(self) -> list[TokenRow]:
        with self._transaction() as tx:
            rows = tx.execute("SELECT * FROM tokens ORDER BY account, value").fetchall()
            return [token_row(r) for r in rows]

    def token(self, value: str) -> TokenRow | None:
        return self._tokens().get(value)

    def tokens_named(self, values: Collection[str]) -> dict[str, TokenRow]:
        """Those of ``values`` that are tokens of the sandbox: the server asks once a request."""
        tokens = self._tokens()
        return {value: tokens[value] for value in values if value in tokens}

    def _tokens(self) -> dict[str, TokenRow]:
        """Every token, read again only after the database changed: ``PRAGMA data_version``
        moves when another connection commits, ``_writes`` when this store writes."""
        version = (self.read("PRAGMA data_version")[0][0], self._writes)
        kept: tuple[object, dict[str, TokenRow]] | None = getattr(self._local, "tokens", None)
        if kept is None or kept[0] != version:
            rows = self.read("SELECT * FROM tokens")
            kept = self._local.tokens = (version, {r["value"]: token_row(r) for r in rows})
        return kept[1]

    def read(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one statement: atomic by itself, so no explicit transaction around it.

        The server reads this way on every request; BEGIN and COMMIT would treble the cost.
        """
        try:
            return self._connection().execute(query, params).fetchall()
        except sqlite3.Error as exc:
            raise SandboxError(f"sandbox database {self.path}: {exc}") from exc

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """One read transaction, for a reader of several statements that must agree."""
        return self._transaction()

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
        entry = _Entry(account_id, StepType.CREATE_USER, user.email, actor)

        def create(tx: sqlite3.Connection) -> tuple[str, int]:
            account = read_account(tx, account_id, (user.email, actor))
            check_write(account, self.catalogue, None, user, actor=actor, verb="create")
            return describe_write(None, user), insert_user(tx, account_id, user)

        return self._write(entry, create)

    def update_user(self, account_id: int, user_id: int, user: User, actor: str | None) -> UserRow:
        """Make user ``user_id`` into ``user`` (same email), every rule checked; the result."""
        entry = _Entry(account_id, UPDATE_USER, self._email_of(account_id, user_id), actor)

        def update(tx: sqlite3.Connection) -> tuple[str, UserRow]:
            account = read_account(tx, account_id, (actor,))
            current = require_user(tx, account_id, user_id, "update")
            check_write(account, self.catalogue, current, user, actor=actor, verb="update")
            save_user(tx, account_id, current, user)
            updated = find_user_by_id(tx, account_id, user_id)
            assert updated is not None
            return f"updated {describe(user)}", updated

        return self._write(entry, update)

    def delete_user(self, account_id: int, user_id: int, actor: str | None) -> None:
        entry = _Entry(account_id, StepType.REMOVE_USER, self._email_of(account_id, user_id), actor)

        def delete(tx: sqlite3.Connection) -> tuple[str, None]:
            account = read_account(tx, account_id, (actor,))
            current = require_user(tx, account_id, user_id, "remove")
            check_write(account, self.catalogue, current, None, actor=actor, verb="remove")
            save_user(tx, account_id, current, None)
            return describe_write(current, None), None

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
            "INSERT INTO journal (time, account, step_type, user, actor, step_id, channel, "
            "outcome, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now(), *astuple(entry), outcome, message),  # the columns in _Entry's order
        )

    def _perform(self, tx: sqlite3.Connection, step: Step, actor: str) -> str:
        account = read_account(tx, step.account, (step.user, actor))
        if step.type == StepType.REQUEST_ACCESS:
            access = partner_access(tx, account.id, actor, account.users)
            check_request(account, step, actor, access)
            add_requests(tx, account.id, (actor,))
            return f"{actor} requested access"
        verb, current, after = parse_step(account, step)
        check_write(account, self.catalogue, current, after, actor=actor, verb=verb)
        save_user(tx, account.id, current, after)
        return describe_write(current, after)

    def _approve(self, tx: sqlite3.Connection, account_id: int, actor: str) -> tuple[str, int]:
        account = read_account(tx, account_id, (actor,))
        request = tx.execute(
            "SELECT id, email FROM access_requests "
            "WHERE account = ? AND email_key = ? AND status = 'pending'",
            (account_id, user_key(actor)),
        ).fetchone()
        if request is None:
            raise refused(
                account_id, "approve access for", actor, NOT_FOUND, "no pending access request"
            )
        user = User(email=str(request["email"]), access=PARTNER_ADMIN, seat="partner")
        check_write(account, self.catalogue, None, user, actor=None, verb="approve access for")
        user_id = insert_user(tx, account_id, user)
        tx.execute(
            "UPDATE access_requests SET status = 'approved', approved_at = ? WHERE id = ?",
            (now(), request["id"]),
        )
        return f"approved access: {describe(user)}", user_id
