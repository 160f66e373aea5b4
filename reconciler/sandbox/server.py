"""``reconciler sandbox serve``: the sandbox over HTTP, as a HubSpot-compatible API.

It answers the calls of HubSpot's Settings User Provisioning API v3 (users,
roles, teams), ``/account-info/v3/details`` and the dated beta seats list,
with HubSpot's JSON shapes, cursor paging, error bodies, scopes and rate
limits, so the hubspot provider (and any HubSpot client, the official SDK
included) is tested end to end over a real socket. Every write goes through
the same :class:`~reconciler.sandbox.store.Store` rules as the sandbox
provider's, acting as the partner's actor where the actor is a user of the
account.

What the public API does not name, the server presents the way a real account
does: Partner Admin is a permission set (``partner_admin_role``) and seats are
``seatNames`` (``seat_names``). It refuses what the public API cannot do:
making or unmaking Super Admins, applying Partner Admin, assigning the partner
seat.

Fault switches (a seeded share of 5xx answers, of 429s, of dropped
connections, and added latency) exercise a client's retry paths; a request
log (method, path, status) lets tests count calls. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from reconciler.errors import ReconcilerError, SandboxError
from reconciler.model import BASIC, PAID_SEATS, Access, Teams, User
from reconciler.sandbox.store import CONFLICT, NOT_FOUND, RefusedError, Store, TokenRow, UserRow

#: HubSpot's names for the seats, as ``seatNames`` and the seats list show them.
DEFAULT_SEAT_NAMES: Mapping[str, str] = {
    "partner": "Partner Seat",
    "core": "Core Seat",
    "sales": "Sales Hub Seat",
    "service": "Service Hub Seat",
    "view_only": "View-only Seat",
}
DEFAULT_PARTNER_ADMIN_ROLE = "Partner Admin"
#: The id of the Partner Admin permission set. Stored permission sets are numbered
#: from 1, so this never names one of them.
PARTNER_ADMIN_ROLE_ID = "0"
#: The dated beta that lists seats (the v3 API has no seats endpoint).
SEATS_PATH = "/settings/users/2026-09-beta/seats"
ADMIN_PREFIX = "/__sandbox/"

READ = "settings.users.read"
WRITE = "settings.users.write"
TEAMS_READ = "settings.users.teams.read"
#: Paid seats, and permission sets that carry one, need this scope as well.
BILLING_WRITE = "billing-write"

_log = logging.getLogger(__name__)

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
MAX_PAGE = 100


@dataclass(frozen=True)
class RateLimits:
    """Per token: a rolling window (HubSpot: 100 per 10 s, 190 on higher tiers) and a day."""

    max_requests: int = 100
    interval_ms: int = 10_000
    daily: int = 250_000
    retry_after: bool = True


@dataclass(frozen=True)
class Faults:
    """Switches for tests; each rate is a share of API requests, drawn from ``seed``.

    ``error_rate``: answered 500 or 503 before being handled. ``throttle_rate``:
    answered 429 TEN_SECONDLY_ROLLING whatever the window holds. ``drop_rate``:
    the connection is closed without an answer, half of the time before the
    request is handled and half of the time after (the write happened, its
    answer is lost). ``latency``: seconds added before every answer.
    ``methods``: only requests with these methods meet faults (empty: all).
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    latency: float = 0.0
    seed: int = 0
    methods: frozenset[str] = frozenset()

    def apply_to(self, method: str) -> bool:
        return not self.methods or method in self.methods


@dataclass(frozen=True)
class ServerSettings:
    limits: RateLimits = RateLimits()
    faults: Faults = Faults()
    partner_admin_role: str = DEFAULT_PARTNER_ADMIN_ROLE
    seat_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SEAT_NAMES))
    #: Writes act as this user where it is a user of the account (the partner's
    #: actor: the identity that authorised the app); elsewhere only the account's
    #: own rules apply.
    actor: str | None = None


@dataclass(frozen=True)
class LoggedRequest:
    """One API request as the server saw it; ``status`` 0 when the connection was dropped."""

    method: str
    path: str
    query: str
    status: int
    account: int | None
    dropped: bool = False

    def to_data(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "account": self.account,
            "dropped": self.dropped,
        }


class ApiError(Exception):
    """An error answer in HubSpot's shape: ``status, message, correlationId, category, errors``."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def invalid(message: str, field_name: str | None = None, code: str = "INVALID") -> ApiError:
    detail: dict[str, Any] = {"message": message, "code": code}
    if field_name:
        detail["in"] = field_name
    return ApiError(400, "VALIDATION_ERROR", message, errors=[detail])


def not_found(message: str) -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", message)


@dataclass
class _Bucket:
    """One token's use: accepted request times in the window, and the day's count."""

    times: deque[float] = field(default_factory=deque)
    day: str = ""
    used_today: int = 0


@dataclass(frozen=True)
class _Admission:
    policy: str | None
    retry_after: float
    headers: dict[str, str]


class _Limiter:
    """HubSpot's limits per token; only requests it admits count against them."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}

    def admit(self, token: str) -> _Admission:
        limits = self.limits
        now = self.clock()
        window = limits.interval_ms / 1000
        bucket = self.buckets.setdefault(token, _Bucket())
        while bucket.times and bucket.times[0] <= now - window:
            bucket.times.popleft()
        today = datetime.now(UTC).date().isoformat()
        if bucket.day != today:
            bucket.day, bucket.used_today = today, 0
        policy: str | None = None
        retry_after = 0.0
        if bucket.used_today >= limits.daily:
            policy = DAILY
            tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            retry_after = (tomorrow + timedelta(days=1) - datetime.now(UTC)).total_seconds()
        elif len(bucket.times) >= limits.max_requests:
            policy = TEN_SECONDLY
            retry_after = bucket.times[0] + window - now
        else:
            bucket.times.append(now)
            bucket.used_today += 1
        secondly = max(1, math.ceil(limits.max_requests * 1000 / limits.interval_ms))
        in_last_second = sum(1 for t in bucket.times if t > now - 1)
        headers = {
            "X-HubSpot-RateLimit-Daily": str(limits.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, limits.daily - bucket.used_today)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(limits.interval_ms),
            "X-HubSpot-RateLimit-Max": str(limits.max_requests),
            "X-HubSpot-RateLimit-Remaining": str(max(0, limits.max_requests - len(bucket.times))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - in_last_second)),
        }
        return _Admission(policy, retry_after, headers)


@dataclass(frozen=True)
class _Names:
    """An account's permission sets and teams by id and by name, for one request."""

    role_ids: Mapping[str, str]
    roles: Mapping[str, tuple[str, str | None]]
    team_ids: Mapping[str, str]
    teams: Mapping[str, str]


class SandboxAPI:
    """The ASGI application: HubSpot's API over one sandbox store.

    Use it in-process (``ServedSandbox``) or from ``reconciler sandbox serve``.
    ``requests()`` is the request log; ``GET /__sandbox/requests`` serves it too
    (``DELETE`` clears it).
    """

    def __init__(self, store: Store, settings: ServerSettings | None = None) -> None:
        self.store = store
        self.settings = settings or ServerSettings()
        self._limiter = _Limiter(self.settings.limits)
        self._random = random.Random(self.settings.faults.seed)
        self._log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._seat_by_name = {name: seat for seat, name in self.settings.seat_names.items()}
        users = self._users_collection
        user = self._user_item
        routes = [
            Route("/settings/v3/users/roles", self._roles, methods=["GET"]),
            Route("/settings/v3/users/teams", self._teams, methods=["GET"]),
            Route("/settings/v3/users/", users, methods=["GET", "POST"]),
            Route("/settings/v3/users", users, methods=["GET", "POST"]),
            Route("/settings/v3/users/{user_id:path}", user, methods=["GET", "PUT", "DELETE"]),
            Route("/account-info/v3/details", self._details, methods=["GET"]),
            Route(SEATS_PATH, self._seats, methods=["GET"]),
            Route(ADMIN_PREFIX + "requests", self._admin_requests, methods=["GET", "DELETE"]),
        ]
        self.app = Starlette(
            routes=routes,
            exception_handlers={
                ApiError: self._api_error,
                HTTPException: self._http_error,
            },
        )

    # -- the request log --------------------------------------------------------------

    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def _record(self, scope: Scope, status: int, account: int | None, dropped: bool) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        entry = LoggedRequest(scope["method"], scope["path"], query, status, account, dropped)
        with self._log_lock:
            self._log.append(entry)

    # -- the gate: token, limits, faults ----------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        faults = self.settings.faults
        if not faults.apply_to(scope["method"]):
            faults = Faults()
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        headers: dict[str, str] = {}
        token: TokenRow | None = None
        messages: list[Message] = []
        try:
            token = self._authenticate(scope)
            admission = self._limiter.admit(token.value)
            headers = admission.headers
            if admission.policy is not None:
                raise self._rate_limited(admission.policy, admission.retry_after)
            if self._random.random() < faults.throttle_rate:
                raise self._rate_limited(TEN_SECONDLY, 1.0)
            if self._random.random() < faults.error_rate:
                status = self._random.choice((500, 503))
                category = "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
                raise ApiError(status, category, "The server could not handle the request.")
        except ApiError as exc:
            response = exc.response()
            response.headers.update(headers)
            self._record(scope, response.status_code, token.account if token else None, False)
            await response(scope, receive, send)
            return
        drop = self._random.random() < faults.drop_rate
        drop_after = drop and self._random.random() < 0.5
        if drop and not drop_after:
            self._record(scope, 0, token.account, True)
            await _drop_connection(send, receive)
            return
        scope["hubspot.token"] = token

        async def keep(message: Message) -> None:
            messages.append(message)

        try:
            await self.app(scope, receive, keep)
        except Exception:
            # Starlette has answered 500 already when it could; otherwise answer it here.
            _log.exception("sandbox API request failed: %s %s", scope["method"], scope["path"])
            if not any(m["type"] == "http.response.start" for m in messages):
                failure = ApiError(
                    500, "INTERNAL_ERROR", "The server could not handle the request."
                )
                await failure.response()(scope, receive, keep)
        if drop_after:
            self._record(scope, 0, token.account, True)
            await _drop_connection(send, receive)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        for index, message in enumerate(messages):
            if message["type"] == "http.response.start":
                messages[index] = {**message, "headers": [*message.get("headers", []), *extra]}
                # Logged before the answer leaves, so a client that has its answer
                # always finds its request in the log.
                self._record(scope, int(message["status"]), token.account, False)
        for message in messages:
            await send(message)

    def _authenticate(self, scope: Scope) -> TokenRow:
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
        scheme, _, value = header.partition(" ")
        token = self.store.token(value.strip()) if scheme.lower() == "bearer" and value else None
        if token is None:
            raise ApiError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        return token

    def _rate_limited(self, policy: str, retry_after: float) -> ApiError:
        headers = {}
        if self.settings.limits.retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return ApiError(
            429,
            "RATE_LIMITS",
            f"You have reached your {policy.lower()} limit.",
            extra={"errorType": "RATE_LIMIT", "policyName": policy, "requestId": str(uuid.uuid4())},
            headers=headers,
        )

    async def _api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return not_found(f"No API at {request.url.path}").response()
        category = "VALIDATION_ERROR" if exc.status_code < 500 else "INTERNAL_ERROR"
        return ApiError(exc.status_code, category, str(exc.detail)).response()

    # -- reads ------------------------------------------------------------------------

    async def _users_collection(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        token = _require(request, READ)
        limit = _limit(request.query_params.get("limit"))
        after = _cursor(request.query_params.get("after"))
        names = self._names(token.account)
        rows = [r for r in self.store.list_users(token.account) if r.id > after]
        page = rows[:limit]
        body: dict[str, Any] = {"results": [self._user_json(r, names) for r in page]}
        if len(rows) > limit:
            cursor = str(page[-1].id)
            link = request.url.include_query_params(after=cursor, limit=limit)
            body["paging"] = {"next": {"after": cursor, "link": str(link)}}
        return JSONResponse(body)

    async def _user_item(self, request: Request) -> Response:
        if request.method == "PUT":
            return await self._update(request)
        if request.method == "DELETE":
            return self._delete(request)
        token = _require(request, READ)
        row = self._find(request, token)
        return JSONResponse(self._user_json(row, self._names(token.account)))

    async def _roles(self, request: Request) -> Response:
        token = _require(request, READ)
        results = [
            {
                "id": str(row.id),
                "name": row.role.name,
                "requiresBillingWrite": row.role.seat in PAID_SEATS,
            }
            for row in self.store.roles(token.account)
        ]
        results.append(
            {
                "id": PARTNER_ADMIN_ROLE_ID,
                "name": self.settings.partner_admin_role,
                "requiresBillingWrite": False,
            }
        )
        return JSONResponse({"results": results})

    async def _teams(self, request: Request) -> Response:
        token = _require(request, TEAMS_READ)
        rows = self.store.list_users(token.account)
        results = []
        for team in self.store.teams(token.account):
            primary = [str(r.id) for r in rows if r.user.teams.primary == team.name]
            secondary = [str(r.id) for r in rows if team.name in r.user.teams.secondary]
            results.append(
                {
                    "id": str(team.id),
                    "name": team.name,
                    "userIds": primary,
                    "secondaryUserIds": secondary,
                }
            )
        return JSONResponse({"results": results})

    async def _details(self, request: Request) -> Response:
        token = _token(request)
        return JSONResponse(
            {
                "portalId": token.account,
                "accountType": "STANDARD",
                "timeZone": "US/Eastern",
                "companyCurrency": "USD",
                "additionalCurrencies": [],
                "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18_000_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        )

    async def _seats(self, request: Request) -> Response:
        token = _require(request, READ)
        state = self.store.read_account(token.account, self.settings.actor or "")
        used = state.seats_used()
        results = []
        for seat, name in self.settings.seat_names.items():
            if seat == "none":
                continue
            entry: dict[str, Any] = {"name": name, "description": f"The {name}."}
            if seat in PAID_SEATS:
                entry["remainingSeats"] = max(0, state.seats_owned.get(seat, 0) - used[seat])
            results.append(entry)
        return JSONResponse({"results": results})

    async def _admin_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_requests()
            return Response(status_code=204)
        return JSONResponse({"requests": [r.to_data() for r in self.requests()]})

    # -- writes -----------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        token = _require(request, WRITE)
        body = await _json_object(request)
        email = body.get("email")
        if not isinstance(email, str) or not email.strip():
            raise invalid("email is required", "email", "REQUIRED_FIELD")
        names = self._names(token.account)
        user = self._apply_body(User(email=email.strip()), body, names, token, creating=True)
        user_id = self._write(
            lambda: self.store.create_user(token.account, user, self._actor(token))
        )
        row = self.store.get_user(token.account, user_id)
        assert row is not None
        data = self._user_json(row, names)
        data["sendWelcomeEmail"] = bool(body.get("sendWelcomeEmail", False))
        return JSONResponse(data, status_code=201)

    async def _update(self, request: Request) -> Response:
        token = _require(request, WRITE)
        body = await _json_object(request)
        row = self._find(request, token)
        names = self._names(token.account)
        user = self._apply_body(row.user, body, names, token, creating=False)
        updated = self._write(
            lambda: self.store.update_user(token.account, row.id, user, self._actor(token))
        )
        return JSONResponse(self._user_json(updated, names))

    def _delete(self, request: Request) -> Response:
        token = _require(request, WRITE)
        row = self._find(request, token)
        self._write(lambda: self.store.delete_user(token.account, row.id, self._actor(token)))
        return Response(status_code=204)

    def _apply_body(
        self,
        current: User,
        body: Mapping[str, Any],
        names: _Names,
        token: TokenRow,
        *,
        creating: bool,
    ) -> User:
        """The user as the request body makes it; absent fields stay as they are."""
        user = current
        billing = BILLING_WRITE in token.scopes
        role_seat: str | None = None
        if "roleId" in body:
            user, role_seat = self._with_role(user, body["roleId"], names, billing)
        if "seatNames" in body:
            user = replace(user, seat=self._seat(body["seatNames"]))
        elif creating and role_seat is not None:
            user = replace(user, seat=role_seat)
        paid = user.seat in PAID_SEATS or current.seat in PAID_SEATS
        if user.seat != current.seat and paid and not billing:
            raise invalid(
                f"Assigning or removing a paid seat needs the {BILLING_WRITE} scope",
                "seatNames",
                "MISSING_BILLING_WRITE",
            )
        primary, secondary = current.teams.primary, current.teams.secondary
        if "primaryTeamId" in body:
            primary = self._team(body["primaryTeamId"], names, "primaryTeamId")
        if "secondaryTeamIds" in body:
            ids = body["secondaryTeamIds"]
            if ids is None:
                ids = []
            if not isinstance(ids, list):
                raise invalid("secondaryTeamIds must be a list of team ids", "secondaryTeamIds")
            secondary = tuple(
                name
                for name in (self._team(i, names, "secondaryTeamIds") for i in ids)
                if name is not None
            )
        user = replace(user, teams=Teams(primary, secondary))
        first, last = user.first_name, user.last_name
        if "firstName" in body:
            first = _name(body["firstName"], "firstName")
        if "lastName" in body:
            last = _name(body["lastName"], "lastName")
        return replace(user, first_name=first, last_name=last)

    def _with_role(
        self, user: User, role_id: Any, names: _Names, billing: bool
    ) -> tuple[User, str | None]:
        """Apply ``roleId`` (null or "" removes the permission set); the role's seat, if any."""
        if role_id is not None and not isinstance(role_id, str | int):
            raise invalid("roleId must be a string", "roleId")
        role_id = str(role_id) if role_id is not None else ""
        if user.access.kind == "super_admin":
            raise invalid(
                "The permission set of a Super Admin cannot be changed through this API; "
                "turn off Super Admin in the account's settings first",
                "roleId",
                "SUPER_ADMIN_READ_ONLY",
            )
        if role_id == PARTNER_ADMIN_ROLE_ID:
            if user.access.kind == "partner_admin":
                return user, None
            raise invalid(
                f"The {self.settings.partner_admin_role} permission set cannot be applied "
                "through this API",
                "roleId",
                "PARTNER_ADMIN_NOT_ASSIGNABLE",
            )
        if not role_id:
            return replace(user, access=BASIC), None
        found = names.roles.get(role_id)
        if found is None:
            raise invalid(f"Role with id {role_id} does not exist", "roleId", "INVALID_ROLE")
        name, seat = found
        if seat in PAID_SEATS and not billing:
            raise invalid(
                f"Role {name} has a paid seat attached and needs the {BILLING_WRITE} scope",
                "roleId",
                "MISSING_BILLING_WRITE",
            )
        return replace(user, access=Access("role", name)), seat

    def _seat(self, value: Any) -> str:
        if value is None:
            return "none"
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid("seatNames must be a list of seat names", "seatNames")
        if not value:
            return "none"
        if len(value) > 1:
            raise invalid("A user holds one seat in this account", "seatNames", "TOO_MANY_SEATS")
        seat = self._seat_by_name.get(value[0])
        if seat is None:
            known = ", ".join(sorted(self._seat_by_name)) or "none"
            raise invalid(
                f"Seat {value[0]!r} does not exist (seats: {known})", "seatNames", "INVALID_SEAT"
            )
        if seat == "partner":
            raise invalid(
                f"The {value[0]} cannot be assigned through this API",
                "seatNames",
                "PARTNER_SEAT_NOT_ASSIGNABLE",
            )
        return seat

    def _team(self, team_id: Any, names: _Names, field_name: str) -> str | None:
        if team_id is None or team_id == "":
            return None
        if not isinstance(team_id, str | int):
            raise invalid(f"{field_name} must hold team ids", field_name)
        name = names.teams.get(str(team_id))
        if name is None:
            raise invalid(f"Team with id {team_id} does not exist", field_name, "INVALID_TEAM")
        return name

    def _write(self, write: Callable[[], Any]) -> Any:
        """Run a store write, answering its refusal as HubSpot would."""
        try:
            return write()
        except RefusedError as exc:
            if exc.rule == NOT_FOUND:
                raise not_found(_sentence(exc.detail)) from exc
            if exc.rule == CONFLICT:
                raise ApiError(409, "CONFLICT", _sentence(exc.detail)) from exc
            raise invalid(_sentence(exc.detail), code=exc.rule.upper()) from exc

    # -- helpers ----------------------------------------------------------------------

    def _actor(self, token: TokenRow) -> str | None:
        actor = self.settings.actor
        if actor and self.store.get_user_by_email(token.account, actor) is not None:
            return actor
        return None

    def _names(self, account: int) -> _Names:
        roles = self.store.roles(account)
        teams = self.store.teams(account)
        return _Names(
            role_ids={r.role.name: str(r.id) for r in roles},
            roles={str(r.id): (r.role.name, r.role.seat) for r in roles},
            team_ids={t.name: str(t.id) for t in teams},
            teams={str(t.id): t.name for t in teams},
        )

    def _find(self, request: Request, token: TokenRow) -> UserRow:
        key = request.path_params["user_id"]
        id_property = request.query_params.get("idProperty", "USER_ID").upper()
        row: UserRow | None
        if id_property == "EMAIL":
            row = self.store.get_user_by_email(token.account, key)
        elif id_property == "USER_ID":
            row = self.store.get_user(token.account, int(key)) if key.isdigit() else None
        else:
            raise invalid("idProperty must be USER_ID or EMAIL", "idProperty")
        if row is None:
            raise not_found(f"Unable to find user {key} (idProperty {id_property})")
        return row

    def _user_json(self, row: UserRow, names: _Names) -> dict[str, Any]:
        user = row.user
        role_id: str | None = None
        if user.access.kind == "role":
            role_id = names.role_ids.get(user.access.role or "")
        elif user.access.kind == "partner_admin":
            role_id = PARTNER_ADMIN_ROLE_ID
        data: dict[str, Any] = {
            "id": str(row.id),
            "email": user.email,
            "roleIds": [role_id] if role_id else [],
            "superAdmin": user.access.kind == "super_admin",
            "secondaryTeamIds": [names.team_ids[t] for t in user.teams.secondary],
            "seatNames": (
                [self.settings.seat_names.get(user.seat, user.seat)] if user.seat != "none" else []
            ),
            "sendWelcomeEmail": False,
        }
        if role_id:
            data["roleId"] = role_id
        if user.teams.primary:
            data["primaryTeamId"] = names.team_ids[user.teams.primary]
        data["firstName"] = user.first_name
        data["lastName"] = user.last_name
        return data


def _token(request: Request) -> TokenRow:
    token = request.scope.get("hubspot.token")
    assert isinstance(token, TokenRow)
    return token


def _require(request: Request, scope: str) -> TokenRow:
    token = _token(request)
    if scope not in token.scopes:
        raise ApiError(
            403,
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call. "
            "Read more about required scopes here: https://developers.hubspot.com/scopes.",
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": [scope]},
                }
            ],
            extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}},
        )
    return token


def _limit(value: str | None) -> int:
    if value is None:
        return MAX_PAGE
    if not value.isdigit() or int(value) < 1:
        raise invalid("limit must be a positive integer", "limit")
    return min(int(value), MAX_PAGE)


def _cursor(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit():
        raise invalid("after is not a paging cursor this API gave out", "after")
    return int(value)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise invalid(f"Invalid input JSON: {exc}", code="INVALID_JSON") from exc
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object", code="INVALID_JSON")
    return data


def _name(value: Any, key: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string", key)
    return value


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


async def _drop_connection(send: Send, receive: Receive) -> None:
    """Close the socket without an answer.

    Under uvicorn, ``send`` is bound to the request cycle, which holds the
    transport: closing it is a dropped connection, and waiting for the
    disconnect tells uvicorn nobody is left to answer. Elsewhere, an answer
    that starts and never finishes makes the server close the connection too.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        return
    transport.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while (await receive())["type"] != "http.disconnect":
                pass


# -- running it ---------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ReconcilerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _uvicorn_server(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> Any:
    import uvicorn

    # log_config=None: leave the process's logging alone (uvicorn's warnings still
    # reach stderr through the root logger); no access log, which would list requests.
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


def serve(api: SandboxAPI, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until Ctrl-C (or SIGTERM); ``on_ready`` gets the URL once the socket listens."""
    sock = listen(host, port)
    try:
        server = _uvicorn_server(api)
        on_ready(url_of(sock))
        # uvicorn shuts down gracefully on the signal, then raises it again.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()


class ServedSandbox:
    """The API on a real loopback socket in a background thread, for tests and benchmarks.

    ``with ServedSandbox(api) as served: ... served.url ...``
    """

    def __init__(self, api: SandboxAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self._sock = listen(host, port)
        self.url = url_of(self._sock)
        self._server = _uvicorn_server(api)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="sandbox-serve",
            daemon=True,
        )

    def start(self) -> ServedSandbox:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxError("the sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> ServedSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
