"""``sandbox serve``: HubSpot's shapes, paging, errors, scopes, rate limits and fault switches."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.model import Partner
from reconciler.sandbox.server import (
    PARTNER_ADMIN_ROLE_ID,
    Faults,
    RateLimits,
    SandboxAPI,
    ServedSandbox,
    ServerSettings,
)
from reconciler.sandbox.store import Store
from tests.served import ACTOR, SCOPES, rich_fleet, token_for

ACCOUNT = 9100
TOKEN = token_for(ACCOUNT)
READ_ONLY = token_for(ACCOUNT + 1)
NO_BILLING = token_for(ACCOUNT + 2)
USERS = "/settings/v3/users/"
RATE_HEADERS = {
    "x-hubspot-ratelimit-daily",
    "x-hubspot-ratelimit-daily-remaining",
    "x-hubspot-ratelimit-interval-milliseconds",
    "x-hubspot-ratelimit-max",
    "x-hubspot-ratelimit-remaining",
    "x-hubspot-ratelimit-secondly",
    "x-hubspot-ratelimit-secondly-remaining",
}
PARTNER = Partner("Northwind Digital", ACTOR, frozenset({"northwind.agency"}))


def snapshot(staff: int = 3) -> dict[str, Any]:
    return {
        "accounts": [
            {
                "id": ACCOUNT,
                "name": "Acme",
                "seats_owned": {"core": 3, "sales": 1, "service": 0},
                "roles": [
                    {"name": "Viewer", "permissions": ["reports.view"]},
                    {"name": "Sales Rep", "seat": "sales", "permissions": ["sales.access"]},
                ],
                "teams": ["Sales", "Support"],
                "tokens": [
                    {"value": TOKEN, "scopes": SCOPES},
                    {"value": READ_ONLY, "scopes": ["settings.users.read"]},
                    {"value": NO_BILLING, "scopes": SCOPES[:3]},
                ],
                "users": [
                    {"email": ACTOR, "access": "super_admin", "seat": "core", "first_name": "Bot"},
                    {"email": "pa@northwind.agency", "access": "partner_admin", "seat": "partner"},
                    {
                        "email": "rep@acme.example",
                        "access": {"role": "Sales Rep"},
                        "seat": "sales",
                        "teams": {"primary": "Sales", "secondary": ["Support"]},
                    },
                    *(
                        {"email": f"staff{n:03d}@acme.example", "access": "basic", "seat": "none"}
                        for n in range(staff)
                    ),
                ],
            }
        ]
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "sandbox.db") as opened:
        opened.seed(snapshot(staff=250), PARTNER)
        yield opened


def served(store: Store, **settings: Any) -> ServedSandbox:
    """The API over ``store``, to serve as ``with served(store) as server:``."""
    return ServedSandbox(SandboxAPI(store, ServerSettings(actor=ACTOR, **settings)))


@pytest.fixture
def server(store: Store) -> Iterator[ServedSandbox]:
    with served(store) as running:
        yield running


def client(server: ServedSandbox, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def hubspot_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["message"]
    uuid.UUID(body["correlationId"])
    return body


def test_users_are_paged_with_a_cursor_and_the_last_page_has_no_paging(
    server: ServedSandbox,
) -> None:
    with client(server) as http:
        emails: list[str] = []
        response = http.get(USERS, params={"limit": 100})
        pages = 1
        while "paging" in response.json():
            body = response.json()
            assert len(body["results"]) == 100
            emails += [u["email"] for u in body["results"]]
            link = body["paging"]["next"]["link"]
            assert f"after={body['paging']['next']['after']}" in link
            response = http.get(link)
            pages += 1
        emails += [u["email"] for u in response.json()["results"]]
        over = http.get(USERS, params={"limit": 500})
        assert len(over.json()["results"]) == 100
        hubspot_error(http.get(USERS, params={"limit": 0}), 400, "VALIDATION_ERROR")
        hubspot_error(http.get(USERS, params={"after": "xyz"}), 400, "VALIDATION_ERROR")
        # Digits int() cannot read and numbers too large for SQLite are refused, never a 500.
        for number in ("²", str(2**64), "9" * 5000):
            hubspot_error(http.get(USERS, params={"limit": number}), 400, "VALIDATION_ERROR")
            hubspot_error(http.get(USERS, params={"after": number}), 400, "VALIDATION_ERROR")
            hubspot_error(http.get(f"{USERS}{number}"), 404, "OBJECT_NOT_FOUND")
    assert pages == 3
    assert len(emails) == len(set(emails)) == 253


def test_users_have_hubspots_shape(server: ServedSandbox) -> None:
    with client(server) as http:
        roles = {r["name"]: r for r in http.get(f"{USERS}roles").json()["results"]}
        teams = {t["name"]: t for t in http.get(f"{USERS}teams").json()["results"]}
        rep = http.get(f"{USERS}rep@acme.example", params={"idProperty": "EMAIL"}).json()
        admin = http.get(f"{USERS}{ACTOR.replace('@', '%40')}?idProperty=EMAIL").json()
        partner_admin = http.get(f"{USERS}pa@northwind.agency?idProperty=EMAIL").json()
        by_id = http.get(f"{USERS}{rep['id']}").json()
    assert roles["Sales Rep"]["requiresBillingWrite"] is True
    assert roles["Viewer"]["requiresBillingWrite"] is False
    assert roles["Partner Admin"]["id"] == PARTNER_ADMIN_ROLE_ID
    assert rep == by_id
    assert rep["id"].isdigit()
    assert rep["roleId"] == roles["Sales Rep"]["id"] and rep["roleIds"] == [rep["roleId"]]
    assert rep["superAdmin"] is False
    assert rep["primaryTeamId"] == teams["Sales"]["id"]
    assert rep["secondaryTeamIds"] == [teams["Support"]["id"]]
    assert rep["seatNames"] == ["Sales Hub Seat"]
    assert teams["Sales"]["userIds"] == [rep["id"]]
    assert teams["Support"]["secondaryUserIds"] == [rep["id"]]
    assert admin["superAdmin"] is True and admin["roleIds"] == [] and "roleId" not in admin
    assert admin["firstName"] == "Bot" and admin["lastName"] is None
    assert partner_admin["roleId"] == PARTNER_ADMIN_ROLE_ID
    assert partner_admin["seatNames"] == ["Partner Seat"]


def test_create_update_delete_round_trip(server: ServedSandbox) -> None:
    with client(server) as http:
        roles = {r["name"]: r["id"] for r in http.get(f"{USERS}roles").json()["results"]}
        teams = {t["name"]: t["id"] for t in http.get(f"{USERS}teams").json()["results"]}
        created = http.post(
            USERS,
            json={
                "email": "New.Person+x@acme.example",
                "sendWelcomeEmail": True,
                "firstName": "New",
                "roleId": roles["Viewer"],
                "primaryTeamId": teams["Support"],
                "seatNames": ["View-only Seat"],
            },
        )
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["sendWelcomeEmail"] is True
        assert user["roleId"] == roles["Viewer"]
        path = f"{USERS}new.person%2Bx%40acme.example"
        updated = http.put(
            path,
            params={"idProperty": "EMAIL"},
            json={"roleId": None, "lastName": "Person", "seatNames": ["Core Seat"]},
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["roleIds"] == []
        assert updated.json()["lastName"] == "Person"
        assert updated.json()["firstName"] == "New"
        assert updated.json()["seatNames"] == ["Core Seat"]
        assert updated.json()["primaryTeamId"] == teams["Support"]
        assert http.get(f"{USERS}{user['id']}").json()["email"] == "New.Person+x@acme.example"
        assert http.delete(f"{USERS}{user['id']}").status_code == 204
        hubspot_error(http.get(f"{USERS}{user['id']}"), 404, "OBJECT_NOT_FOUND")
        hubspot_error(http.delete(path, params={"idProperty": "EMAIL"}), 404, "OBJECT_NOT_FOUND")


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"roleId": "777"}, "Role with id 777 does not exist"),
        ({"primaryTeamId": "777"}, "Team with id 777 does not exist"),
        ({"seatNames": ["Gold Seat"]}, "Seat 'Gold Seat' does not exist"),
        ({"seatNames": ["Partner Seat"]}, "cannot be assigned through this API"),
        ({"roleId": PARTNER_ADMIN_ROLE_ID}, "Partner Admin permission set cannot be applied"),
        ({"seatNames": ["Service Hub Seat"]}, "no service seat left"),
        ({"seatNames": ["Core Seat", "Sales Hub Seat"]}, "one seat"),
        ({"email": "not-an-email"}, "not an email address"),
        ({"email": ""}, "email is required"),
    ],
)
def test_invalid_writes_are_400_validation_errors(
    server: ServedSandbox, body: dict[str, Any], fragment: str
) -> None:
    with client(server) as http:
        response = http.post(USERS, json={"email": "x@acme.example", **body})
    error = hubspot_error(response, 400, "VALIDATION_ERROR")
    assert fragment in error["message"]
    assert error["errors"][0]["message"] == error["message"]


def test_a_duplicate_email_is_a_409_conflict(server: ServedSandbox) -> None:
    with client(server) as http:
        response = http.post(USERS, json={"email": "REP@acme.example"})
    assert "exists" in hubspot_error(response, 409, "CONFLICT")["message"]


def test_super_admin_is_read_only(server: ServedSandbox) -> None:
    with client(server) as http:
        response = http.put(f"{USERS}{ACTOR}?idProperty=EMAIL", json={"roleId": None})
        ignored = http.put(f"{USERS}rep@acme.example?idProperty=EMAIL", json={"superAdmin": True})
    assert "Super Admin" in hubspot_error(response, 400, "VALIDATION_ERROR")["message"]
    assert ignored.json()["superAdmin"] is False


def test_tokens_and_scopes(server: ServedSandbox) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        hubspot_error(anonymous.get(USERS), 401, "INVALID_AUTHENTICATION")
        bad = anonymous.get(USERS, headers={"Authorization": "Bearer pat-na1-unknown"})
        hubspot_error(bad, 401, "INVALID_AUTHENTICATION")
        assert not RATE_HEADERS & set(bad.headers)
    with client(server, READ_ONLY) as http:
        assert http.get(USERS).status_code == 200
        denied = http.post(USERS, json={"email": "x@acme.example"})
        body = hubspot_error(denied, 403, "MISSING_SCOPES")
        assert body["errors"][0]["context"]["requiredGranularScopes"] == ["settings.users.write"]
        teams = hubspot_error(http.get(f"{USERS}teams"), 403, "MISSING_SCOPES")
        assert teams["errors"][0]["context"]["requiredGranularScopes"] == [
            "settings.users.teams.read"
        ]
        assert http.get("/account-info/v3/details").json()["portalId"] == ACCOUNT
    with client(server, NO_BILLING) as http:
        paid_role = http.post(USERS, json={"email": "x@acme.example", "roleId": "2"})
        assert "billing-write" in hubspot_error(paid_role, 400, "VALIDATION_ERROR")["message"]
        paid_seat = http.post(USERS, json={"email": "x@acme.example", "seatNames": ["Core Seat"]})
        assert "billing-write" in hubspot_error(paid_seat, 400, "VALIDATION_ERROR")["message"]
        assert http.post(USERS, json={"email": "x@acme.example"}).status_code == 201


def test_unknown_paths_and_methods_answer_in_hubspots_shape(server: ServedSandbox) -> None:
    with client(server) as http:
        hubspot_error(http.get("/crm/v3/objects/contacts"), 404, "OBJECT_NOT_FOUND")
        hubspot_error(http.patch(USERS), 405, "VALIDATION_ERROR")
        hubspot_error(http.get(f"{USERS}1?idProperty=NAME"), 400, "VALIDATION_ERROR")
        hubspot_error(
            http.post(USERS, content=b"{not json", headers={"Content-Type": "application/json"}),
            400,
            "VALIDATION_ERROR",
        )


def test_seats_and_account_details(server: ServedSandbox) -> None:
    with client(server) as http:
        seats = {
            s["name"]: s for s in http.get("/settings/users/2026-09-beta/seats").json()["results"]
        }
        details = http.get("/account-info/v3/details").json()
    assert seats["Core Seat"]["remainingSeats"] == 2
    assert seats["Sales Hub Seat"]["remainingSeats"] == 0
    assert "remainingSeats" not in seats["Partner Seat"]
    assert details["portalId"] == ACCOUNT
    assert details["accountType"] == "STANDARD"


def test_every_answer_carries_the_rate_limit_headers(server: ServedSandbox) -> None:
    with client(server) as http:
        answers = [
            http.get(USERS),
            http.get(f"{USERS}404"),
            http.post(USERS, json={}),
            http.get("/account-info/v3/details"),
        ]
    for answer in answers:
        assert set(answer.headers) >= RATE_HEADERS
        assert answer.headers["x-hubspot-ratelimit-max"] == "100"
        assert answer.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    remaining = [int(a.headers["x-hubspot-ratelimit-remaining"]) for a in answers]
    assert remaining == [99, 98, 97, 96]


@pytest.mark.parametrize("retry_after", [True, False])
def test_the_rolling_window_answers_429_ten_secondly(store: Store, retry_after: bool) -> None:
    with served(
        store, limits=RateLimits(max_requests=3, interval_ms=60_000, retry_after=retry_after)
    ) as server:
        with client(server) as http:
            statuses = [http.get(USERS).status_code for _ in range(3)]
            limited = http.get(USERS)
        with client(server, READ_ONLY) as http:
            other = http.get(USERS)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    body = limited.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert limited.headers["x-hubspot-ratelimit-remaining"] == "0"
    if retry_after:
        assert 1 <= int(limited.headers["retry-after"]) <= 60
    else:
        assert "retry-after" not in limited.headers
    assert other.status_code == 200  # limits are per token


def test_the_daily_limit_answers_429_daily(store: Store) -> None:
    with served(store, limits=RateLimits(daily=2)) as server, client(server) as http:
        answers = [http.get(USERS) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["policyName"] == "DAILY"
    assert answers[2].headers["x-hubspot-ratelimit-daily-remaining"] == "0"


@pytest.mark.parametrize(
    "faults,expected",
    [
        (Faults(error_rate=1.0), {500, 503}),
        (Faults(throttle_rate=1.0), {429}),
        (Faults(latency=0.01), {200}),
        (Faults(error_rate=1.0, methods=frozenset({"POST"})), {200}),
    ],
)
def test_fault_switches(store: Store, faults: Faults, expected: set[int]) -> None:
    with served(store, faults=faults) as server, client(server) as http:
        answers = [http.get(USERS) for _ in range(6)]
    assert {a.status_code for a in answers} <= expected
    for answer in answers:
        if answer.status_code == 429:
            assert answer.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        if answer.status_code >= 500:
            hubspot_error(answer, answer.status_code, answer.json()["category"])


def test_dropped_connections_get_no_answer_and_are_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with served(store, faults=Faults(drop_rate=1.0, seed=3, methods=frozenset({"POST"}))) as server:
        with client(server) as http:
            for n in range(6):
                # No answer: the client sees the connection closed, or reset.
                with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                    http.post(USERS, json={"email": f"drop{n}@acme.example"})
            assert http.get(USERS, params={"limit": 1}).status_code == 200
        log = server.api.requests()
        created = [u for u in store.list_users(ACCOUNT) if u.user.email.startswith("drop")]
    posts = [r for r in log if r.method == "POST"]
    assert len(posts) == 6 and all(r.dropped and r.status == 0 for r in posts)
    # Some writes happened before their connection was dropped, some never did.
    assert 0 < len(created) < 6
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_the_request_log_is_served_and_cleared(server: ServedSandbox) -> None:
    with client(server) as http:
        http.get(USERS, params={"limit": 5})
        http.get(f"{USERS}roles")
        logged = httpx.get(f"{server.url}/__sandbox/requests").json()["requests"]
        assert httpx.delete(f"{server.url}/__sandbox/requests").status_code == 204
        assert httpx.get(f"{server.url}/__sandbox/requests").json() == {"requests": []}
    assert logged == [
        {
            "method": "GET",
            "path": USERS,
            "query": "limit=5",
            "status": 200,
            "account": ACCOUNT,
            "dropped": False,
        },
        {
            "method": "GET",
            "path": f"{USERS}roles",
            "query": "",
            "status": 200,
            "account": ACCOUNT,
            "dropped": False,
        },
    ]
    assert TOKEN not in str(logged)


def test_the_serve_command_listens_on_a_free_loopback_port(tmp_path: Path) -> None:
    files = rich_fleet().write(tmp_path / "fleet")
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "serve", str(files.served), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"serving on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        assert int(match.group(2)) > 0
        headers = {"Authorization": f"Bearer {token_for(5001)}"}
        details = httpx.get(f"{match.group(1)}/account-info/v3/details", headers=headers)
        assert details.json()["portalId"] == 5001
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
