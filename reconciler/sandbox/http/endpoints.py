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

from reconciler.model import PAID_SEATS, User
from reconciler.providers.hubspot.versions import (
    BILLING_WRITE_SCOPE,
    TOKEN_INFO,
    VERSIONS,
    ApiVersion,
)
from reconciler.sandbox.http import reads
from reconciler.sandbox.http.answer import (
    Answer,
    body_answer,
    empty_answer,
    encode_json,
    json_answer,
)
from reconciler.sandbox.http.errors import (
    ApiError,
    invalid,
    missing_scope,
    not_found,
    refused,
)
from reconciler.sandbox.http.routing import Call, Route, route
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
    user_text,
    users_text,
)
from reconciler.sandbox.rows import TokenRow, UserRow
from reconciler.sandbox.rules import RefusedError
from reconciler.sandbox.store import Store

MAX_PAGE = 100
#: SQLite's largest integer: no user id or cursor is larger.
MAX_ID = 2**63 - 1
#: The deepest a request body may nest. HubSpot's bodies nest two levels (an object
#: holding lists); a deeper body is refused before any field is read.
MAX_JSON_DEPTH = 32

T = TypeVar("T")


class Endpoints:
    """The routes of HubSpot's API; ``SandboxAPI`` puts its gate in front of them."""

    def __init__(self, store: Store, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings
        #: Each account's details as last served: its UTC offset in minutes, and the body.
        self._served_details: dict[int, tuple[int, bytes]] = {}

    def routes(self) -> list[Route]:
        """In the order they are matched (see :mod:`~reconciler.sandbox.http.routing`).

        A user's route is its version's ``users`` path and a slash, then the key:
        every character of the rest of the path, so ``rep@acme.example%0A`` is
        looked up as sent, newline included.
        """
        routes = [route(TOKEN_INFO, self._token_info, ["POST"])]
        details = {api.details for api in VERSIONS.values()}
        routes += [route(path, self._details, ["GET"]) for path in sorted(details)]
        for api in VERSIONS.values():
            users, user = partial(self._users, api), partial(self._user, api)
            routes += [
                route(api.roles, self._roles, ["GET"]),
                route(api.teams, self._teams, ["GET"]),
                route(api.collection, users, ["GET", "POST"]),
            ]
            if api.seats is not None:
                routes.append(route(api.seats, self._seats, ["GET"]))
            routes.append(route(api.users + "/", user, ["GET", "PUT", "DELETE"], prefix=True))
        return routes

    # -- reads ------------------------------------------------------------------------

    async def _users(self, api: ApiVersion, call: Call) -> Answer:
        if call.method == "POST":
            return await self._create(api, call)
        token = _require(call, READ)
        limit = _limit(call.query("limit"))
        after = _cursor(call.query("after"))
        # One more than the page: whether there is a next page.
        directory, rows = reads.users_page(self.store, token.account, after, limit + 1)
        page = rows[:limit]
        body = ['{"results":[', users_text(page, self._names(directory), api), "]"]
        if len(rows) > limit:
            cursor = str(page[-1][0])
            link = call.url().include_query_params(after=cursor, limit=limit)
            paging = {"next": {"after": cursor, "link": str(link)}}
            body += (',"paging":', encode_json(paging))
        body.append("}")
        return body_answer("".join(body).encode("utf-8"))

    async def _user(self, api: ApiVersion, call: Call) -> Answer:
        if call.method == "PUT":
            return await self._update(api, call)
        if call.method == "DELETE":
            return self._delete(call)
        token = _require(call, READ)
        row = self._find(call, token)
        names = self._names(reads.directory(self.store, token.account))
        return body_answer(user_text(row, names, api).encode("utf-8"))

    async def _roles(self, call: Call) -> Answer:
        token = _require(call, READ)
        results = [
            {"id": str(i), "name": name, "requiresBillingWrite": seat in PAID_SEATS}
            for i, name, seat in reads.roles(self.store, token.account)
        ]
        results.append(
            {
                "id": PARTNER_ADMIN_ROLE_ID,
                "name": self.settings.partner_admin_role,
                "requiresBillingWrite": False,
            }
        )
        return json_answer({"results": results})

    async def _teams(self, call: Call) -> Answer:
        token = _require(call, TEAMS_READ)
        teams, groups = reads.team_groups(self.store, token.account)
        primary: dict[str, list[str]] = {name: [] for _, name in teams}
        secondary: dict[str, list[str]] = {name: [] for _, name in teams}
        for first, others, ids in groups:
            members = ids.split(",")
            if first in primary:
                primary[first] += members
            for name in set(json.loads(others)) if others != "[]" else ():
                if name in secondary:
                    secondary[name] += members
        results = [
            {
                "id": str(i),
                "name": name,
                "userIds": sorted(primary[name], key=int),
                "secondaryUserIds": sorted(secondary[name], key=int),
            }
            for i, name in teams
        ]
        return json_answer({"results": results})

    async def _details(self, call: Call) -> Answer:
        token = _token(call)
        zone = self.settings.zone(token.account)
        offset = datetime.now(zone).utcoffset() or timedelta()
        minutes = int(offset.total_seconds()) // 60
        # The same until the account's clocks change: written once, not on every call.
        kept = self._served_details.get(token.account)
        if kept is None or kept[0] != minutes:
            sign = "-" if minutes < 0 else "+"
            details = {
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
            kept = self._served_details[token.account] = (
                minutes,
                encode_json(details).encode("utf-8"),
            )
        return body_answer(kept[1])

    async def _token_info(self, call: Call) -> Answer:
        """The private app behind a token: its account, app, creator and scopes."""
        body = await _json_object(call)
        key = body.get("tokenKey")
        if not isinstance(key, str) or not key:
            raise invalid("tokenKey is required", "tokenKey", "REQUIRED_FIELD")
        # Most often the request's own token, which the gate has looked up already.
        gate = _token(call)
        token = gate if key == gate.value else self.store.token(key)
        if token is None:
            raise not_found("No private app has this access token")
        actor = self.settings.actor  # the actor's id if it is a user of the account
        user_id = reads.user_id(self.store, token.account, actor) if actor else None
        return json_answer(
            {
                "userId": user_id if user_id is not None else 0,
                "hubId": token.account,
                "appId": 1_000_000 + zlib.crc32(key.encode()) % 9_000_000,
                "scopes": sorted(token.scopes),
            }
        )

    async def _seats(self, call: Call) -> Answer:
        token = _require(call, frozenset({BILLING_WRITE_SCOPE}))
        owned, used = self.store.seat_counts(token.account)
        results = []
        for seat, name in self.settings.seat_names.items():
            if seat == "none":
                continue
            entry: dict[str, Any] = {"name": name, "description": f"The {name}."}
            if seat in PAID_SEATS:
                entry["remainingSeats"] = max(0, owned.get(seat, 0) - used[seat])
            results.append(entry)
        return json_answer({"results": results})

    # -- writes -----------------------------------------------------------------------

    async def _create(self, api: ApiVersion, call: Call) -> Answer:
        token = _require(call, WRITE)
        body = await _json_object(call)
        check_body(body, api, creating=True)
        email = body["email"]
        if not email.strip():
            raise invalid("email is required", "email", "REQUIRED_FIELD")
        names = self._names(reads.directory(self.store, token.account))
        user = user_from_body(User(email=email.strip()), body, names, token.scopes, creating=True)
        actor = self._actor(token)
        user_id = _write(lambda: self.store.create_user(token.account, user, actor))
        row = self.store.get_user(token.account, user_id)
        assert row is not None
        text = user_text(row, names, api, welcome=body["sendWelcomeEmail"])
        location = call.url_of(api.user(str(user_id)))
        return body_answer(text.encode("utf-8"), 201, {"Location": location})

    async def _update(self, api: ApiVersion, call: Call) -> Answer:
        token = _require(call, WRITE)
        body = await _json_object(call)
        check_body(body, api, creating=False)
        row = self._find(call, token)
        names = self._names(reads.directory(self.store, token.account))
        user = user_from_body(row.user, body, names, token.scopes, creating=False)
        actor = self._actor(token)
        updated = _write(lambda: self.store.update_user(token.account, row.id, user, actor))
        return body_answer(user_text(updated, names, api).encode("utf-8"))

    def _delete(self, call: Call) -> Answer:
        token = _require(call, WRITE)
        row = self._find(call, token)
        actor = self._actor(token)
        _write(lambda: self.store.delete_user(token.account, row.id, actor))
        return empty_answer(204)

    # -- what every endpoint needs ----------------------------------------------------

    def _actor(self, token: TokenRow) -> str | None:
        actor = self.settings.actor
        if actor and reads.user_id(self.store, token.account, actor) is not None:
            return actor
        return None

    def _names(self, directory: reads.Directory) -> Names:
        roles, teams = directory
        return Names(
            role_ids={name: str(i) for i, name, _ in roles},
            roles={str(i): (name, seat) for i, name, seat in roles},
            team_ids={name: str(i) for i, name in teams},
            teams={str(i): name for i, name in teams},
            seat_names=self.settings.seat_names,
            partner_admin_role=self.settings.partner_admin_role,
        )

    def _find(self, call: Call, token: TokenRow) -> UserRow:
        key = call.key
        asked = call.query("idProperty")
        id_property = ("USER_ID" if asked is None else asked).upper()
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


def _token(call: Call) -> TokenRow:
    token = call.token
    assert token is not None
    return token


def _require(call: Call, scopes: frozenset[str]) -> TokenRow:
    """The request's token, if it has one of ``scopes`` (the first is the one named if not)."""
    token = _token(call)
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


async def _json_object(call: Call) -> dict[str, Any]:
    """The body as a JSON object; anything else is a 400 ``INVALID_JSON``, never a 500.

    The body is UTF-8 (RFC 8259 8.1: JSON between systems is), holds no ``NaN``
    or ``Infinity`` (not JSON, though Python reads them), no number too large
    for a float, no lone surrogate (SQLite could not store it) and nests at
    most :data:`MAX_JSON_DEPTH` levels. Python's parser recurses per level: a
    body nested past the interpreter's recursion limit raises RecursionError,
    which is answered as the 400 it is.
    """
    raw = await call.body()
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
