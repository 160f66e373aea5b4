"""What ``sandbox serve`` writes, byte for byte: users and the request log as ``json.dumps``
writes the same fields, and answers' headers in the order Starlette's responses gave them.

The server writes a user's JSON and the log's field by field (an encoder cost most of a
page's time); these tests hold those writers to the encoder on any values, and the
answers to the responses the server sent when it was built on Starlette.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from reconciler.model import Access, Teams, User
from reconciler.providers.hubspot.versions import VERSIONS, ApiVersion
from reconciler.sandbox.http.answer import body_answer, empty_answer, internal_error, json_answer
from reconciler.sandbox.http.errors import invalid, server_error
from reconciler.sandbox.http.ratelimit import TEN_SECONDLY, rate_limited
from reconciler.sandbox.http.reads import USER_COLUMNS
from reconciler.sandbox.http.request_log import LoggedRequest, RequestLog, target
from reconciler.sandbox.http.shapes import PARTNER_ADMIN_ROLE_ID, Names, user_text, users_text
from reconciler.sandbox.rows import UserRow


def dumps(data: Any) -> str:
    """How the server wrote JSON before: Starlette's JSONResponse."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def user_json(user_id: int, user: User, names: Names, api: ApiVersion, welcome: bool) -> str:
    """A user as the API shows it, as a dictionary given to ``json.dumps``: the specification."""
    kind = user.access.kind
    role_id: str | None = None
    if kind == "role":
        role_id = names.role_ids.get(user.access.role or "")
    elif kind == "partner_admin":
        role_id = PARTNER_ADMIN_ROLE_ID
    primary, secondary = user.teams.primary, user.teams.secondary
    data: dict[str, Any] = {
        "id": str(user_id),
        "email": user.email,
        "roleIds": [role_id] if role_id else [],
        "superAdmin": kind == "super_admin",
        "secondaryTeamIds": [names.team_ids[t] for t in secondary] if secondary else [],
        "sendWelcomeEmail": welcome,
    }
    if api.has_seats:
        seat = user.seat
        data["seatNames"] = [names.seat_names.get(seat, seat)] if seat != "none" else []
    if role_id:
        data["roleId"] = role_id
    if primary:
        data["primaryTeamId"] = names.team_ids[primary]
    data["firstName"] = user.first_name
    data["lastName"] = user.last_name
    return dumps(data)


texts = st.text(max_size=12)
TEAMS = ["Sales", 'Sup"port', "Ünï\ncode", "\\back", "\u2028"]
ROLES = ["Viewer", 'Ré "quoted"', "\t"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, User, Names, ApiVersion, bool]:
    kind = draw(st.sampled_from(["super_admin", "partner_admin", "basic", "role"]))
    role = draw(st.sampled_from([*ROLES, "Gone"])) if kind == "role" else None
    primary = draw(st.sampled_from([None, "", *TEAMS]))
    secondary = draw(st.lists(st.sampled_from(TEAMS), max_size=4))
    user = User(
        email=draw(texts),
        access=Access(kind, role),
        seat=draw(st.sampled_from(["none", "partner", "core", "sales", "view_only", "odd"])),
        first_name=draw(st.none() | texts),
        last_name=draw(st.none() | texts),
        teams=Teams(primary, tuple(secondary)),
    )
    seat_names = {"partner": "Partner Seat", "core": 'Cœur "seat"', "sales": "Tab\tSales"}
    names = Names(
        role_ids={name: str(i) for i, name in enumerate(ROLES, 1)},
        roles={},
        team_ids={name: str(i) for i, name in enumerate(TEAMS, 7)},
        teams={},
        seat_names=draw(st.sampled_from([seat_names, {}])),
        partner_admin_role="Partner Admin",
    )
    user_id = draw(st.integers(1, 2**63 - 1))
    return user_id, user, names, draw(st.sampled_from(list(VERSIONS.values()))), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_a_user_is_written_as_json_dumps_writes_it(
    case: tuple[int, User, Names, ApiVersion, bool],
) -> None:
    user_id, user, names, api, welcome = case
    row = UserRow(user_id, 1, user, "", "")
    assert user_text(row, names, api, welcome) == user_json(user_id, user, names, api, welcome)


@settings(max_examples=100, deadline=None)
@given(batch=st.lists(cases(), min_size=1, max_size=6))
def test_a_page_of_users_from_sqlite_is_written_as_json_dumps_writes_it(
    batch: list[tuple[int, User, Names, ApiVersion, bool]],
) -> None:
    """Rows as the server reads them: SQLite's ``json_array`` holds what users share."""
    _, _, names, api, _ = batch[0]
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email, first_name, last_name, access_kind, "
        "role, seat, primary_team, secondary_teams)"
    )
    for n, (_, user, _, _, _) in enumerate(batch, 1):
        names_of_user = (n, user.email, user.first_name, user.last_name)
        access = (user.access.kind, user.access.role, user.seat)
        teams = (user.teams.primary, json.dumps(list(user.teams.secondary)))
        db.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*names_of_user, *access, *teams),
        )
    rows = db.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY id").fetchall()
    expected = [user_json(n, user, names, api, False) for n, (_, user, *_) in enumerate(batch, 1)]
    assert users_text(rows, names, api) == ",".join(expected)


def test_the_request_log_is_written_as_json_dumps_writes_it() -> None:
    log = RequestLog(limit=3)
    asked = target('/settings/users/2026-03/"é"\n', b"a=%22b")
    for status, account, dropped in [(200, 7, False), (0, None, True), (429, 2**40, False)]:
        log.record("GET", asked, {}, status, account, dropped)
    log.record("POST", target("/x", b""), {}, 201, 7)
    expected = {"requests": [e.to_data() for e in log.entries()], "discarded": 1}
    assert log.json() == dumps(expected)
    assert LoggedRequest("GET", "/", "", 200, None).to_data()["account"] is None


def test_answers_carry_the_headers_starlettes_responses_did() -> None:
    content = {"results": [{"name": "Ré", "n": 1.5}], "ok": True}
    answer, response = json_answer(content), JSONResponse(content)
    assert (answer.headers, answer.body) == (response.raw_headers, response.body)
    located = body_answer(b"{}", 201, {"Location": "http://h/x"})
    assert located.headers == JSONResponse({}, 201, {"Location": "http://h/x"}).raw_headers
    limited = rate_limited(TEN_SECONDLY, 2.5, with_retry_after=True)
    for error in (invalid("bad", "email"), server_error(503), limited):
        ours = error.answer()  # a fresh correlationId: compared with itself, re-rendered
        theirs = JSONResponse(json.loads(ours.body), error.status, error.headers)
        assert (ours.status, ours.headers, ours.body) == (
            error.status,
            theirs.raw_headers,
            theirs.body,
        )
    assert limited.answer().headers[0] == (b"retry-after", b"3")
    assert empty_answer(204).headers == Response(status_code=204).raw_headers
    redirect = RedirectResponse("http://h/a/")
    assert empty_answer(307, [(b"location", b"http://h/a/")]).headers == redirect.raw_headers
    failed = PlainTextResponse("Internal Server Error", 500)
    assert (internal_error().headers, internal_error().body) == (failed.raw_headers, failed.body)
