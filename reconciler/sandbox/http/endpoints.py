"""The sandbox server's endpoints: HubSpot's users, roles, teams, account details and seats.

Every version of the user provisioning API is served at its own paths
(:data:`~reconciler.providers.hubspot.versions.VERSIONS`), with exactly the
fields that version documents; the seats list only where a version has one.
Each request reads or writes one account's :class:`~reconciler.sandbox.store.Store`
rows: the account whose token the server's gate checked before routing the
request here. Every write goes through the store's rules, acting as the
partner's actor where the actor is a user of the account.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.model import PAID_SEATS, User
from reconciler.providers.hubspot.versions import (
    BILLING_WRITE_SCOPE,
    TOKEN_INFO,
    VERSIONS,
    ApiVersion,
)
from reconciler.sandbox.http.errors import (
    ApiError,
    invalid,
    missing_scope,
    not_found,
    refused,
)
from reconciler.sandbox.http.settings import ServerSettings
from reconciler.sandbox.http.shapes import (
    PARTNER_ADMIN_ROLE_ID,
    READ,
    TEAMS_READ,
    WRITE,
    Names,
    check_body,
    check_email,
    user_from_body,
    user_json,
)
from reconciler.sandbox.rows import TokenRow, UserRow
from reconciler.sandbox.rules import RefusedError
from reconciler.sandbox.store import Store

#: Where the gate puts the checked token for the endpoints.
TOKEN_KEY = "hubspot.token"
MAX_PAGE = 100
#: SQLite's largest integer: no user id or cursor is larger.
MAX_ID = 2**63 - 1
#: The deepest a request body may nest. HubSpot's bodies nest two levels (an object
#: holding lists); a deeper body is refused before any field is read.
MAX_JSON_DEPTH = 32

T = TypeVar("T")


class UserKeyConvertor(Convertor[str]):
    """``{userId}``: the rest of the path, whatever it holds.

    Starlette's ``path`` convertor is ``.*``, which stops at a newline, and a
    route's ``$`` matches before a final one: ``rep@acme.example%0A`` would find
    ``rep@acme.example``. This one takes every character, so the key is checked
    as sent.
    """

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("user_key", UserKeyConvertor())


class Endpoints:
    """The routes of HubSpot's API; ``SandboxAPI`` puts its gate in front of them."""

    def __init__(self, store: Store, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings

    def routes(self) -> list[Route]:
        routes = [Route(TOKEN_INFO, self._token_info, methods=["POST"])]
        details = {api.details for api in VERSIONS.values()}
        routes += [Route(path, self._details, methods=["GET"]) for path in sorted(details)]
        for api in VERSIONS.values():
            users, user = partial(self._users, api), partial(self._user, api)
            routes += [
                Route(api.roles, self._roles, methods=["GET"]),
                Route(api.teams, self._teams, methods=["GET"]),
                Route(api.collection, users, methods=["GET", "POST"]),
            ]
            if api.seats is not None:
                routes.append(Route(api.seats, self._seats, methods=["GET"]))
            routes.append(
                Route(
                    api.users + "/{user_id:user_key}",
                    user,
                    methods=["GET", "PUT", "DELETE"],
                    name=f"{api.name}-user",
                )
            )
        return routes

    # -- reads ------------------------------------------------------------------------

    async def _users(self, api: ApiVersion, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(api, request)
        token = _require(request, READ)
        limit = _limit(request.query_params.get("limit"))
        after = _cursor(request.query_params.get("after"))
        names = self._names(token.account)
        # One more than the page: whether there is a next page.
        rows = self.store.list_users(token.account, after, limit + 1)
        page = rows[:limit]
        body: dict[str, Any] = {"results": [user_json(r, names, api) for r in page]}
        if len(rows) > limit:
            cursor = str(page[-1].id)
            link = request.url.include_query_params(after=cursor, limit=limit)
            body["paging"] = {"next": {"after": cursor, "link": str(link)}}
        return JSONResponse(body)

    async def _user(self, api: ApiVersion, request: Request) -> Response:
        if request.method == "PUT":
            return await self._update(api, request)
        if request.method == "DELETE":
            return self._delete(request)
        token = _require(request, READ)
        row = self._find(request, token)
        return JSONResponse(user_json(row, self._names(token.account), api))

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
        members = self.store.team_members(token.account)
        results = []
        for team in self.store.teams(token.account):
            primary = [str(i) for i, first, _ in members if first == team.name]
            secondary = [str(i) for i, _, others in members if team.name in others]
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
        zone = self.settings.zone(token.account)
        offset = datetime.now(zone).utcoffset() or timedelta()
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        return JSONResponse(
            {
                "portalId": token.account,
                "accountType": "STANDARD",
                "timeZone": str(zone),
                "companyCurrency": "USD",
                "additionalCurrencies": [],
                "utcOffset": f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
                "utcOffsetMilliseconds": minutes * 60_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        )

    async def _token_info(self, request: Request) -> Response:
        """The private app behind a token: its account, app, creator and scopes."""
        body = await _json_object(request)
        key = body.get("tokenKey")
        if not isinstance(key, str) or not key:
            raise invalid("tokenKey is required", "tokenKey", "REQUIRED_FIELD")
        # Most often the request's own token, which the gate has looked up already.
        gate = _token(request)
        token = gate if key == gate.value else self.store.token(key)
        if token is None:
            raise not_found("No private app has this access token")
        actor = self.settings.actor  # the actor's row if it is a user of the account
        row = self.store.get_user_by_email(token.account, actor) if actor else None
        return JSONResponse(
            {
                "userId": row.id if row is not None else 0,
                "hubId": token.account,
                "appId": 1_000_000 + zlib.crc32(key.encode()) % 9_000_000,
                "scopes": sorted(token.scopes),
            }
        )

    async def _seats(self, request: Request) -> Response:
        token = _require(request, frozenset({BILLING_WRITE_SCOPE}))
        owned, used = self.store.seat_counts(token.account)
        results = []
        for seat, name in self.settings.seat_names.items():
            if seat == "none":
                continue
            entry: dict[str, Any] = {"name": name, "description": f"The {name}."}
            if seat in PAID_SEATS:
                entry["remainingSeats"] = max(0, owned.get(seat, 0) - used[seat])
            results.append(entry)
        return JSONResponse({"results": results})

    # -- writes -----------------------------------------------------------------------

    async def _create(self, api: ApiVersion, request: Request) -> Response:
        token = _require(request, WRITE)
        body = await _json_object(request)
        check_body(body, api, creating=True)
        email = body["email"]
        if not email.strip():
            raise invalid("email is required", "email", "REQUIRED_FIELD")
        names = self._names(token.account)
        user = user_from_body(User(email=email.strip()), body, names, token.scopes, creating=True)
        actor = self._actor(token)
        user_id = _write(lambda: self.store.create_user(token.account, user, actor))
        row = self.store.get_user(token.account, user_id)
        assert row is not None
        data = user_json(row, names, api)
        data["sendWelcomeEmail"] = body["sendWelcomeEmail"]
        location = request.url_for(f"{api.name}-user", user_id=str(user_id))
        return JSONResponse(data, status_code=201, headers={"Location": str(location)})

    async def _update(self, api: ApiVersion, request: Request) -> Response:
        token = _require(request, WRITE)
        body = await _json_object(request)
        check_body(body, api, creating=False)
        row = self._find(request, token)
        names = self._names(token.account)
        user = user_from_body(row.user, body, names, token.scopes, creating=False)
        actor = self._actor(token)
        updated = _write(lambda: self.store.update_user(token.account, row.id, user, actor))
        return JSONResponse(user_json(updated, names, api))

    def _delete(self, request: Request) -> Response:
        token = _require(request, WRITE)
        row = self._find(request, token)
        actor = self._actor(token)
        _write(lambda: self.store.delete_user(token.account, row.id, actor))
        return Response(status_code=204)

    # -- what every endpoint needs ----------------------------------------------------

    def _actor(self, token: TokenRow) -> str | None:
        actor = self.settings.actor
        if actor and self.store.get_user_by_email(token.account, actor) is not None:
            return actor
        return None

    def _names(self, account: int) -> Names:
        roles = self.store.roles(account)
        teams = self.store.teams(account)
        return Names(
            role_ids={r.role.name: str(r.id) for r in roles},
            roles={str(r.id): (r.role.name, r.role.seat) for r in roles},
            team_ids={t.name: str(t.id) for t in teams},
            teams={str(t.id): t.name for t in teams},
            seat_names=self.settings.seat_names,
            partner_admin_role=self.settings.partner_admin_role,
        )

    def _find(self, request: Request, token: TokenRow) -> UserRow:
        key = request.path_params["user_id"]
        id_property = request.query_params.get("idProperty", "USER_ID").upper()
        row: UserRow | None
        if id_property == "EMAIL":
            # A key no email can be is a 400, not a 404: the request is wrong, not
            # the user missing, and it is never looked up.
            check_email(key, "userId")
            row = self.store.get_user_by_email(token.account, key)
        elif id_property == "USER_ID":
            user_id = _number(key)
            row = self.store.get_user(token.account, user_id) if user_id is not None else None
        else:
            raise invalid("idProperty must be USER_ID or EMAIL", "idProperty")
        if row is None:
            raise not_found(f"Unable to find user {key} (idProperty {id_property})")
        return row


def _token(request: Request) -> TokenRow:
    token = request.scope.get(TOKEN_KEY)
    assert isinstance(token, TokenRow)
    return token


def _require(request: Request, scopes: frozenset[str]) -> TokenRow:
    """The request's token, if it has one of ``scopes`` (the first is the one named if not)."""
    token = _token(request)
    if not scopes & set(token.scopes):
        raise missing_scope(min(scopes, key=lambda s: (s.startswith("crm."), s)))
    return token


def _write(write: Callable[[], T]) -> T:
    """Run a store write, answering its refusal as HubSpot would."""
    try:
        return write()
    except RefusedError as exc:
        raise refused(exc) from exc


def _limit(value: str | None) -> int:
    if value is None:
        return MAX_PAGE
    number = _number(value)
    if number is None or number < 1:
        raise invalid("limit must be a positive integer", "limit")
    return min(number, MAX_PAGE)


def _cursor(value: str | None) -> int:
    if value is None or value == "":
        return 0
    number = _number(value)
    if number is None:
        raise invalid("after is not a paging cursor this API gave out", "after")
    return number


def _number(value: str) -> int | None:
    """A path or query value as a whole number up to MAX_ID; None if it is not one.

    Not ``isdigit``: int() refuses some digits ("²"), and SQLite larger numbers.
    """
    if not value.isdecimal() or len(value) > len(str(MAX_ID)):
        return None
    number = int(value)
    return number if number <= MAX_ID else None


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; anything else is a 400 ``INVALID_JSON``, never a 500.

    The body is UTF-8 (RFC 8259 8.1: JSON between systems is), holds no ``NaN``
    or ``Infinity`` (not JSON, though Python reads them), no number too large
    for a float, no lone surrogate (SQLite could not store it) and nests at
    most :data:`MAX_JSON_DEPTH` levels. Python's parser recurses per level: a
    body nested past the interpreter's recursion limit raises RecursionError,
    which is answered as the 400 it is.
    """
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad_json(f"the body is not UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError as exc:
        raise _bad_json(f"nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:
        raise _bad_json(str(exc)) from exc
    _check_json(data)
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object", code="INVALID_JSON")
    return data


def _bad_json(reason: str) -> ApiError:
    return invalid(f"Invalid input JSON: {reason}", code="INVALID_JSON")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is too large a number")
    return number


def _check_json(data: Any) -> None:
    """Refuse a parsed body nested too deep or holding a lone surrogate; iterative, so any depth."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _bad_json(f"nested deeper than {MAX_JSON_DEPTH} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise _bad_json(
                    f"a string holds a lone surrogate (U+{ord(value[exc.start]):04X})"
                ) from exc
