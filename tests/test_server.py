"""``sandbox serve``: HubSpot's shapes, paging, errors, scopes, rate limits and fault switches."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from reconciler.model import Access, Partner, Permissions
from reconciler.providers.hubspot.versions import (
    DETAILS_FIELDS,
    SEAT_FIELDS,
    SEPTEMBER_2026_BETA,
    TOKEN_INFO_FIELDS,
    VERSIONS,
)
from reconciler.sandbox.http.faults import Faults
from reconciler.sandbox.http.ratelimit import Limiter, RateLimits
from reconciler.sandbox.http.server import SandboxAPI, ServedSandbox
from reconciler.sandbox.http.settings import MAX_BODY, ServerSettings
from reconciler.sandbox.http.shapes import PARTNER_ADMIN_ROLE_ID
from reconciler.sandbox.store import Store
from tests.served import ACTOR, SCOPES, rich_fleet, token_for

ACCOUNT = 9100
TOKEN = token_for(ACCOUNT)
READ_ONLY = token_for(ACCOUNT + 1)
NO_BILLING = token_for(ACCOUNT + 2)
#: A token with only the granular CRM user scopes, which the user endpoints also accept.
CRM_ONLY = token_for(ACCOUNT + 3)
#: v3's list and create path: with the trailing slash, as HubSpot documents it.
USERS = "/settings/v3/users/"
MARCH = "/settings/users/2026-03"
BETA = "/settings/users/2026-09-beta"
#: Each version's documented list/create path and the prefix of a user's path.
PATHS = {
    "v3": (USERS, "/settings/v3/users"),
    "2026-03": (MARCH, MARCH),
    "2026-09-beta": (BETA, BETA),
}
TOKEN_INFO = "/oauth/v2/private-apps/get/access-token-info"
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
                    {
                        "value": CRM_ONLY,
                        "scopes": ["crm.objects.users.read", "crm.objects.users.write"],
                    },
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


def refused_field(response: httpx.Response, code: str, field: str) -> dict[str, Any]:
    """A 400 VALIDATION_ERROR whose first error has ``code`` and is ``in`` ``field``."""
    body = hubspot_error(response, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == code, body
    assert body["errors"][0]["in"] == field, body
    assert body["errors"][0]["message"] == body["message"]
    return body


def missing_scopes(response: httpx.Response, scope: str) -> dict[str, Any]:
    """HubSpot's 403 naming the one scope the token lacks."""
    body = hubspot_error(response, 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == [scope]
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
        march_rep = http.get(f"{MARCH}/{rep['id']}").json()
        beta_rep = http.get(f"{BETA}/rep@acme.example", params={"idProperty": "EMAIL"}).json()
        beta_partner_admin = http.get(f"{BETA}/pa@northwind.agency?idProperty=EMAIL").json()
        # Roles and teams are the same objects at every version's paths.
        for prefix in (MARCH, BETA):
            assert http.get(f"{prefix}/roles").json()["results"] == list(roles.values())
            assert http.get(f"{prefix}/teams").json()["results"] == list(teams.values())
    assert roles["Sales Rep"]["requiresBillingWrite"] is True
    assert roles["Viewer"]["requiresBillingWrite"] is False
    assert roles["Partner Admin"]["id"] == PARTNER_ADMIN_ROLE_ID
    assert rep == by_id
    assert rep["id"].isdigit()
    assert rep["roleId"] == roles["Sales Rep"]["id"] and rep["roleIds"] == [rep["roleId"]]
    assert rep["superAdmin"] is False
    assert rep["primaryTeamId"] == teams["Sales"]["id"]
    assert rep["secondaryTeamIds"] == [teams["Support"]["id"]]
    # Seats are only in the 2026-09-beta API; v3 and 2026-03 show the same user without them.
    assert "seatNames" not in rep
    assert march_rep == rep
    assert beta_rep == {**rep, "seatNames": ["Sales Hub Seat"]}
    assert teams["Sales"]["userIds"] == [rep["id"]]
    assert teams["Support"]["secondaryUserIds"] == [rep["id"]]
    assert admin["superAdmin"] is True and admin["roleIds"] == [] and "roleId" not in admin
    assert admin["firstName"] == "Bot" and admin["lastName"] is None
    assert partner_admin["roleId"] == PARTNER_ADMIN_ROLE_ID
    assert "seatNames" not in partner_admin
    assert beta_partner_admin == {**partner_admin, "seatNames": ["Partner Seat"]}


def test_a_teams_members_are_listed_by_id(tmp_path: Path) -> None:
    data = snapshot(staff=12)
    for n, user in enumerate(data["accounts"][0]["users"][3:]):
        user["teams"] = {"primary": "Sales", "secondary": ["Support"] if n % 2 else []}
    with Store(tmp_path / "sandbox.db") as store:
        store.seed(data, PARTNER)
        with served(store) as server, client(server) as http:
            teams = {t["name"]: t for t in http.get(f"{USERS}teams").json()["results"]}
            users = http.get(USERS).json()["results"]
    sales = [u["id"] for u in users if u.get("primaryTeamId") == teams["Sales"]["id"]]
    support = [u["id"] for u in users if teams["Support"]["id"] in u["secondaryTeamIds"]]
    assert teams["Sales"]["userIds"] == sales
    assert teams["Support"]["secondaryUserIds"] == support
    # By id as a number: "9" before "10".
    assert len(sales) == 13 and sales == sorted(sales, key=int) != sorted(sales)


@pytest.mark.parametrize("name", ["v3", "2026-03", "2026-09-beta"])
def test_each_version_lists_users_with_exactly_its_documented_fields(
    server: ServedSandbox, name: str
) -> None:
    api = VERSIONS[name]
    collection, users = PATHS[name]
    assert (api.collection, api.users) == (collection, users)
    with client(server) as http:
        response = http.get(collection, params={"limit": 100})
        first = response.json()["results"][0]
        assert http.get(f"{users}/{first['id']}").json() == first
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 100
    for user in results:
        assert set(user) <= api.user_fields, set(user) - api.user_fields
        assert set(user) >= {"email", "id", "roleIds", "superAdmin"}  # required in every version
        assert ("seatNames" in user) == (name == SEPTEMBER_2026_BETA)
    assert ("seatNames" in api.user_fields) == (name == SEPTEMBER_2026_BETA)


@pytest.mark.parametrize("name", ["v3", "2026-03", "2026-09-beta"])
def test_create_update_delete_round_trip(server: ServedSandbox, name: str) -> None:
    collection, users = PATHS[name]
    beta = name == SEPTEMBER_2026_BETA
    with client(server) as http:
        roles = {r["name"]: r["id"] for r in http.get(f"{users}/roles").json()["results"]}
        teams = {t["name"]: t["id"] for t in http.get(f"{users}/teams").json()["results"]}
        created = http.post(
            collection,
            json={
                "email": "New.Person+x@acme.example",
                "sendWelcomeEmail": True,
                "firstName": "New",
                "roleId": roles["Viewer"],
                "primaryTeamId": teams["Support"],
                **({"seatNames": ["View-Only Seat"]} if beta else {}),
            },
        )
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["sendWelcomeEmail"] is True
        assert user["roleId"] == roles["Viewer"]
        assert user["roleIds"] == [roles["Viewer"]]
        assert user["primaryTeamId"] == teams["Support"]
        assert ("seatNames" in user) == beta
        if beta:
            assert user["seatNames"] == ["View-Only Seat"]
        # Location: the new user under the same version; reads show sendWelcomeEmail false.
        assert created.headers["location"] == f"{server.url}{users}/{user['id']}"
        assert http.get(created.headers["location"]).json() == {**user, "sendWelcomeEmail": False}
        quiet = http.post(
            collection, json={"email": "quiet@acme.example", "sendWelcomeEmail": False}
        )
        assert quiet.status_code == 201, quiet.text
        assert quiet.json()["sendWelcomeEmail"] is False
        path = f"{users}/new.person%2Bx%40acme.example"
        # No field is nullable, and "" names no role: neither clears the permission set.
        refused_field(
            http.put(path, params={"idProperty": "EMAIL"}, json={"roleId": None}),
            "INVALID",
            "roleId",
        )
        refused_field(
            http.put(path, params={"idProperty": "EMAIL"}, json={"roleId": ""}),
            "INVALID_ROLE",
            "roleId",
        )
        assert http.get(f"{users}/{user['id']}").json()["roleIds"] == [roles["Viewer"]]
        updated = http.put(
            path,
            params={"idProperty": "EMAIL"},
            json={
                "roleId": roles["Sales Rep"],
                "lastName": "Person",
                **({"seatNames": ["Core Seat"]} if beta else {}),
            },
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["roleIds"] == [roles["Sales Rep"]]
        assert updated.json()["lastName"] == "Person"
        assert updated.json()["firstName"] == "New"
        assert updated.json()["primaryTeamId"] == teams["Support"]
        assert updated.json()["sendWelcomeEmail"] is False
        assert ("seatNames" in updated.json()) == beta
        if beta:
            assert updated.json()["seatNames"] == ["Core Seat"]
        assert http.get(f"{users}/{user['id']}").json() == updated.json()
        assert http.get(f"{users}/{user['id']}").json()["email"] == "New.Person+x@acme.example"
        assert http.delete(f"{users}/{user['id']}").status_code == 204
        hubspot_error(http.get(f"{users}/{user['id']}"), 404, "OBJECT_NOT_FOUND")
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
    # The 2026-09-beta path: the only version whose bodies may carry seatNames.
    with client(server) as http:
        response = http.post(
            BETA, json={"email": "x@acme.example", "sendWelcomeEmail": False, **body}
        )
    error = hubspot_error(response, 400, "VALIDATION_ERROR")
    assert fragment in error["message"]
    assert error["errors"][0]["message"] == error["message"]


CREATE = {"email": "x@acme.example", "sendWelcomeEmail": False}


@pytest.mark.parametrize(
    "name,body,code,field",
    [
        # seatNames is only documented in 2026-09-beta.
        ("v3", {**CREATE, "seatNames": ["Core Seat"]}, "UNKNOWN_FIELD", "seatNames"),
        ("2026-03", {**CREATE, "seatNames": ["Core Seat"]}, "UNKNOWN_FIELD", "seatNames"),
        ("v3", {**CREATE, "seatNames": []}, "UNKNOWN_FIELD", "seatNames"),
        # Any field the version does not document.
        ("v3", {**CREATE, "superAdmin": False}, "UNKNOWN_FIELD", "superAdmin"),
        ("2026-09-beta", {**CREATE, "seatTypes": ["core"]}, "UNKNOWN_FIELD", "seatTypes"),
        # email and sendWelcomeEmail are both required.
        ("v3", {"email": "x@acme.example"}, "REQUIRED_FIELD", "sendWelcomeEmail"),
        ("2026-03", {"sendWelcomeEmail": True}, "REQUIRED_FIELD", "email"),
        ("2026-09-beta", {}, "REQUIRED_FIELD", "email"),
        # No field is nullable, and each has its documented type.
        ("v3", {**CREATE, "roleId": None}, "INVALID", "roleId"),
        ("2026-03", {"email": None, "sendWelcomeEmail": True}, "INVALID", "email"),
        ("2026-03", {**CREATE, "primaryTeamId": None}, "INVALID", "primaryTeamId"),
        ("2026-09-beta", {**CREATE, "seatNames": None}, "INVALID", "seatNames"),
        ("v3", {**CREATE, "roleId": 1}, "INVALID", "roleId"),
        ("2026-03", {**CREATE, "secondaryTeamIds": ["1", 2]}, "INVALID", "secondaryTeamIds"),
        ("2026-03", {**CREATE, "secondaryTeamIds": "1"}, "INVALID", "secondaryTeamIds"),
        ("2026-09-beta", {**CREATE, "seatNames": "Core Seat"}, "INVALID", "seatNames"),
        (
            "v3",
            {"email": "x@acme.example", "sendWelcomeEmail": "yes"},
            "INVALID",
            "sendWelcomeEmail",
        ),
        ("v3", {**CREATE, "firstName": 7}, "INVALID", "firstName"),
        # "" is a string: it names a role that does not exist.
        ("v3", {**CREATE, "roleId": ""}, "INVALID_ROLE", "roleId"),
        ("2026-09-beta", {**CREATE, "roleId": ""}, "INVALID_ROLE", "roleId"),
    ],
)
def test_create_bodies_outside_the_versions_documents_are_400(
    server: ServedSandbox, name: str, body: dict[str, Any], code: str, field: str
) -> None:
    collection, _ = PATHS[name]
    with client(server) as http:
        response = http.post(collection, json=body)
    refused_field(response, code, field)
    assert server.api.store.get_user_by_email(ACCOUNT, "x@acme.example") is None


@pytest.mark.parametrize(
    "name,body,code,field",
    [
        ("v3", {"seatNames": ["Core Seat"]}, "UNKNOWN_FIELD", "seatNames"),
        ("2026-03", {"seatNames": []}, "UNKNOWN_FIELD", "seatNames"),
        ("2026-09-beta", {"email": "new@acme.example"}, "UNKNOWN_FIELD", "email"),
        ("2026-03", {"sendWelcomeEmail": True}, "UNKNOWN_FIELD", "sendWelcomeEmail"),
        ("v3", {"superAdmin": True}, "UNKNOWN_FIELD", "superAdmin"),
        ("v3", {"firstName": "Rep", "roleId": None}, "INVALID", "roleId"),
        ("2026-03", {"lastName": None}, "INVALID", "lastName"),
        ("2026-03", {"primaryTeamId": ""}, "INVALID_TEAM", "primaryTeamId"),
        ("2026-09-beta", {"secondaryTeamIds": None}, "INVALID", "secondaryTeamIds"),
        ("2026-09-beta", {"seatNames": [None]}, "INVALID", "seatNames"),
        ("2026-09-beta", {"roleId": ""}, "INVALID_ROLE", "roleId"),
    ],
)
def test_update_bodies_outside_the_versions_documents_are_400(
    server: ServedSandbox, name: str, body: dict[str, Any], code: str, field: str
) -> None:
    _, users = PATHS[name]
    with client(server) as http:
        before = http.get(f"{BETA}/rep@acme.example?idProperty=EMAIL").json()
        response = http.put(f"{users}/rep@acme.example?idProperty=EMAIL", json=body)
        after = http.get(f"{BETA}/rep@acme.example?idProperty=EMAIL").json()
    refused_field(response, code, field)
    assert after == before  # nothing of a refused body is applied


def test_a_duplicate_email_is_a_409_conflict(server: ServedSandbox) -> None:
    with client(server) as http:
        response = http.post(USERS, json={"email": "REP@acme.example", "sendWelcomeEmail": False})
    assert "exists" in hubspot_error(response, 409, "CONFLICT")["message"]


def test_super_admin_is_read_only(server: ServedSandbox) -> None:
    with client(server) as http:
        roles = {r["name"]: r["id"] for r in http.get(f"{USERS}roles").json()["results"]}
        response = http.put(f"{USERS}{ACTOR}?idProperty=EMAIL", json={"roleId": roles["Viewer"]})
        admin = http.get(f"{USERS}{ACTOR}?idProperty=EMAIL").json()
        # superAdmin is not a field of any update body: refused, not ignored.
        unknown = http.put(f"{USERS}rep@acme.example?idProperty=EMAIL", json={"superAdmin": True})
        rep = http.get(f"{USERS}rep@acme.example?idProperty=EMAIL").json()
    body = refused_field(response, "SUPER_ADMIN_READ_ONLY", "roleId")
    assert "Super Admin" in body["message"]
    assert admin["superAdmin"] is True and admin["roleIds"] == []
    refused_field(unknown, "UNKNOWN_FIELD", "superAdmin")
    assert rep["superAdmin"] is False


def test_tokens_and_scopes(server: ServedSandbox) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        hubspot_error(anonymous.get(USERS), 401, "INVALID_AUTHENTICATION")
        bad = anonymous.get(USERS, headers={"Authorization": "Bearer pat-na1-unknown"})
        hubspot_error(bad, 401, "INVALID_AUTHENTICATION")
        assert not RATE_HEADERS & set(bad.headers)
    new = {"email": "x@acme.example", "sendWelcomeEmail": False}
    with client(server, READ_ONLY) as http:
        assert http.get(USERS).status_code == 200
        missing_scopes(http.post(USERS, json=new), "settings.users.write")
        missing_scopes(http.put(f"{USERS}1", json={"firstName": "X"}), "settings.users.write")
        missing_scopes(http.delete(f"{MARCH}/3"), "settings.users.write")
        missing_scopes(http.get(f"{USERS}teams"), "settings.users.teams.read")
        missing_scopes(http.get(f"{BETA}/seats"), "settings.billing.write")
        assert http.get("/account-info/v3/details").json()["portalId"] == ACCOUNT
    # crm.objects.users.* will do on the user endpoints; a 403 names the settings.* scope.
    with client(server, CRM_ONLY) as http:
        assert http.get(USERS).status_code == 200
        assert http.get(f"{MARCH}/roles").status_code == 200
        assert http.get(f"{BETA}/rep@acme.example?idProperty=EMAIL").status_code == 200
        crm_created = http.post(MARCH, json={**new, "email": "crm@acme.example"})
        assert crm_created.status_code == 201, crm_created.text
        assert http.delete(crm_created.headers["location"]).status_code == 204
        missing_scopes(http.get(f"{MARCH}/teams"), "settings.users.teams.read")
    with client(server, NO_BILLING) as http:
        # A permission set with a paid seat, or a paid seat, needs settings.billing.write.
        missing_scopes(http.post(USERS, json={**new, "roleId": "2"}), "settings.billing.write")
        paid_seat = http.post(BETA, json={**new, "seatNames": ["Core Seat"]})
        missing_scopes(paid_seat, "settings.billing.write")
        staff = f"{BETA}/staff000@acme.example?idProperty=EMAIL"
        missing_scopes(http.put(staff, json={"roleId": "2"}), "settings.billing.write")
        missing_scopes(http.put(staff, json={"seatNames": ["Core Seat"]}), "settings.billing.write")
        rep = f"{BETA}/rep@acme.example?idProperty=EMAIL"
        missing_scopes(http.put(rep, json={"seatNames": []}), "settings.billing.write")
        missing_scopes(http.get(f"{BETA}/seats"), "settings.billing.write")
        assert http.get(rep).json()["seatNames"] == ["Sales Hub Seat"]
        assert http.post(USERS, json=new).status_code == 201
        assert http.put(staff, json={"roleId": "1"}).json()["roleIds"] == ["1"]
        assert http.get(staff).json()["seatNames"] == []
    for paid in ("x@acme.example", "staff000@acme.example"):
        user = server.api.store.get_user_by_email(ACCOUNT, paid)
        assert user is not None and user.user.seat == "none"


def test_unassigning_a_paid_seat_role_needs_billing_write(server: ServedSandbox) -> None:
    with client(server, NO_BILLING) as http:
        response = http.put(f"{USERS}rep@acme.example?idProperty=EMAIL", json={"roleId": "1"})
    missing_scopes(response, "settings.billing.write")


def test_the_token_info_endpoint_describes_a_private_app_token(server: ServedSandbox) -> None:
    with client(server, READ_ONLY) as http:
        own = http.post(TOKEN_INFO, json={"tokenKey": READ_ONLY})
        full = http.post(TOKEN_INFO, json={"tokenKey": TOKEN})
        actor = http.get(f"{USERS}{ACTOR}?idProperty=EMAIL").json()
        unknown = http.post(TOKEN_INFO, json={"tokenKey": "pat-na1-unknown"})
        missing = http.post(TOKEN_INFO, json={})
        empty = http.post(TOKEN_INFO, json={"tokenKey": ""})
        not_json = http.post(
            TOKEN_INFO, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        wrong_method = http.get(TOKEN_INFO)
    with httpx.Client(base_url=server.url) as anonymous:
        # The same Bearer-token gate as every endpoint.
        hubspot_error(
            anonymous.post(TOKEN_INFO, json={"tokenKey": TOKEN}), 401, "INVALID_AUTHENTICATION"
        )
        bad = anonymous.post(
            TOKEN_INFO,
            json={"tokenKey": TOKEN},
            headers={"Authorization": "Bearer pat-na1-unknown"},
        )
        hubspot_error(bad, 401, "INVALID_AUTHENTICATION")
    assert own.status_code == 200, own.text
    assert set(own.json()) == TOKEN_INFO_FIELDS
    assert own.json()["hubId"] == ACCOUNT
    assert own.json()["scopes"] == ["settings.users.read"]
    assert set(own.headers) >= RATE_HEADERS
    assert full.status_code == 200, full.text
    assert full.json()["hubId"] == ACCOUNT
    assert full.json()["scopes"] == sorted(SCOPES)
    assert full.json()["userId"] == int(actor["id"])  # the user behind the app: the actor
    assert isinstance(full.json()["appId"], int)
    assert full.json()["appId"] != own.json()["appId"]
    hubspot_error(unknown, 404, "OBJECT_NOT_FOUND")
    refused_field(missing, "REQUIRED_FIELD", "tokenKey")
    refused_field(empty, "REQUIRED_FIELD", "tokenKey")
    hubspot_error(not_json, 400, "VALIDATION_ERROR")
    hubspot_error(wrong_method, 405, "VALIDATION_ERROR")


@pytest.mark.parametrize("name", ["v3", "2026-03", "2026-09-beta"])
def test_applying_a_permission_set_resets_individual_permissions(tmp_path: Path, name: str) -> None:
    _, users = PATHS[name]
    data = snapshot()
    for user in data["accounts"][0]["users"]:
        if user["email"] in ("staff000@acme.example", "rep@acme.example"):
            user["permissions"] = {"add": ["reports.view"], "remove": []}
    kept = Permissions(frozenset({"reports.view"}))
    with Store(tmp_path / "sandbox.db") as store:
        store.seed(data, PARTNER)

        def permissions(email: str) -> Permissions:
            row = store.get_user_by_email(ACCOUNT, email)
            assert row is not None
            return row.user.permissions

        with served(store) as server, client(server) as http:
            staff = f"{users}/staff000@acme.example?idProperty=EMAIL"
            assert http.put(staff, json={"firstName": "Staff"}).status_code == 200
            assert permissions("staff000@acme.example") == kept  # no roleId: nothing reset
            applied = http.put(staff, json={"roleId": "1"})
        assert applied.status_code == 200, applied.text
        assert applied.json()["roleIds"] == ["1"]
        after = store.get_user_by_email(ACCOUNT, "staff000@acme.example")
        assert after is not None
        assert after.user.access == Access("role", "Viewer")
        assert after.user.permissions == Permissions()
        assert after.user.first_name == "Staff"
        assert permissions("rep@acme.example") == kept  # another user's stay


def test_unknown_paths_and_methods_answer_in_hubspots_shape(server: ServedSandbox) -> None:
    with client(server) as http:
        hubspot_error(http.get("/crm/v3/objects/contacts"), 404, "OBJECT_NOT_FOUND")
        hubspot_error(http.patch(USERS), 405, "VALIDATION_ERROR")
        hubspot_error(http.get(f"{USERS}1?idProperty=NAME"), 400, "VALIDATION_ERROR")
        hubspot_error(http.get(f"{USERS}1?idProperty="), 400, "VALIDATION_ERROR")
        hubspot_error(http.patch(f"{BETA}/3"), 405, "VALIDATION_ERROR")
        # The seats list is only in 2026-09-beta: elsewhere "seats" is no user.
        hubspot_error(http.get(f"{USERS}seats"), 404, "OBJECT_NOT_FOUND")
        hubspot_error(http.get(f"{MARCH}/seats"), 404, "OBJECT_NOT_FOUND")
        # v3's list is documented with its trailing slash; the bare path lists nothing.
        bare = http.get("/settings/v3/users")
        assert bare.status_code != 200 and "results" not in bare.text
        hubspot_error(
            http.post(USERS, content=b"{not json", headers={"Content-Type": "application/json"}),
            400,
            "VALIDATION_ERROR",
        )


def utc_offset(zone: str) -> tuple[str, int]:
    """``utcOffset`` and ``utcOffsetMilliseconds`` for ``zone``, now."""
    offset = datetime.now(ZoneInfo(zone)).utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}", minutes * 60_000


def test_seats_and_account_details(server: ServedSandbox) -> None:
    with client(server) as http:
        seats = {s["name"]: s for s in http.get(f"{BETA}/seats").json()["results"]}
        details = http.get("/account-info/v3/details").json()
        dated = http.get("/account-info/2026-03/details").json()
    assert seats["Core Seat"]["remainingSeats"] == 2
    assert seats["Sales Hub Seat"]["remainingSeats"] == 0
    assert "remainingSeats" not in seats["Partner Seat"]
    assert all(set(seat) <= SEAT_FIELDS for seat in seats.values())
    assert details["portalId"] == ACCOUNT
    assert details["accountType"] == "STANDARD"
    assert set(details) == DETAILS_FIELDS
    assert dated == details
    # The account's time zone, by default America/New_York, with its offset now.
    assert details["timeZone"] == "America/New_York"
    offset, milliseconds = utc_offset("America/New_York")
    assert (details["utcOffset"], details["utcOffsetMilliseconds"]) == (offset, milliseconds)


@pytest.mark.parametrize(
    "settings,zone",
    [
        ({"time_zones": {ACCOUNT: "America/St_Johns"}}, "America/St_Johns"),
        ({"time_zone": "Asia/Kolkata"}, "Asia/Kolkata"),
        ({"time_zone": "Asia/Kolkata", "time_zones": {ACCOUNT + 1: "UTC"}}, "Asia/Kolkata"),
    ],
)
def test_account_details_show_the_accounts_time_zone(
    store: Store, settings: dict[str, Any], zone: str
) -> None:
    with served(store, **settings) as server, client(server) as http:
        details = http.get("/account-info/2026-03/details").json()
    offset, milliseconds = utc_offset(zone)
    assert details["timeZone"] == zone
    assert (details["utcOffset"], details["utcOffsetMilliseconds"]) == (offset, milliseconds)


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
    assert other.status_code == 200  # the rolling window is per token (app)...
    assert other.headers["x-hubspot-ratelimit-remaining"] == "2"
    # ...the day per account: the other token's answer counts the first token's requests.
    assert other.headers["x-hubspot-ratelimit-daily-remaining"] == str(RateLimits().daily - 4)


def test_the_daily_limit_answers_429_daily(store: Store) -> None:
    with served(store, limits=RateLimits(daily=2)) as server:
        with client(server) as http:
            answers = [http.get(USERS) for _ in range(2)]
        # The daily limit is the account's: another token of the account is refused too.
        with client(server, READ_ONLY) as http:
            answers.append(http.get(USERS))
            answers.append(http.post(TOKEN_INFO, json={"tokenKey": READ_ONLY}))
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    for refused in answers[2:]:
        assert refused.json()["policyName"] == "DAILY"
        assert refused.headers["x-hubspot-ratelimit-daily-remaining"] == "0"
    assert answers[1].headers["x-hubspot-ratelimit-daily-remaining"] == "0"
    # Retry-After: the seconds to midnight in the account's time zone (America/New_York), rounded up.
    now = datetime.now(ZoneInfo("America/New_York"))
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
    to_midnight = midnight.replace(tzinfo=now.tzinfo).astimezone(UTC) - now.astimezone(UTC)
    assert abs(int(answers[2].headers["retry-after"]) - to_midnight.total_seconds()) <= 5


class WallClock:
    """A settable "now" for the limiter: an instant, shown in the zone asked for."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def __call__(self, zone: Any) -> datetime:
        return self.instant.astimezone(zone)


def test_the_daily_limit_is_per_account_and_resets_at_its_local_midnight() -> None:
    tokyo, eastern = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
    # 23:59:00.25 in Tokyo (UTC+9) is 09:59:00.25 in America/New_York.
    wall = WallClock(datetime(2026, 12, 1, 14, 59, 0, 250_000, tzinfo=UTC))
    ticks = iter(range(1_000))
    limiter = Limiter(RateLimits(daily=2), clock=lambda: float(next(ticks)), wall_clock=wall)
    first = limiter.admit("token-a", 1, tokyo)
    second = limiter.admit("token-b", 1, tokyo)  # another token of the same account
    refused = limiter.admit("token-b", 1, tokyo)
    other_account = limiter.admit("token-c", 2, eastern)
    assert first.refusal is None and second.refusal is None
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    assert second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert refused.refusal is not None and refused.refusal.status == 429
    assert refused.refusal.extra["policyName"] == "DAILY"
    # 59.75 seconds to midnight in Tokyo, rounded up.
    assert refused.refusal.headers["Retry-After"] == "60"
    assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert other_account.refusal is None
    assert limiter.admit("token-c", 2, eastern).refusal is None
    eastern_refused = limiter.admit("token-c", 2, eastern)
    assert eastern_refused.refusal is not None
    # From 09:59:00.25 to midnight in America/New_York: 14 h 0 min 59.75 s, rounded up.
    assert eastern_refused.refusal.headers["Retry-After"] == str(14 * 3600 + 60)
    # Past midnight in Tokyo (00:00:00.5), but still 10:00 in America/New_York.
    wall.instant = datetime(2026, 12, 1, 15, 0, 0, 500_000, tzinfo=UTC)
    again = limiter.admit("token-a", 1, tokyo)
    assert again.refusal is None
    assert again.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    assert limiter.admit("token-b", 1, tokyo).refusal is None
    assert limiter.admit("token-a", 1, tokyo).refusal is not None
    still = limiter.admit("token-c", 2, eastern)
    assert still.refusal is not None and still.refusal.extra["policyName"] == "DAILY"
    # Past midnight in America/New_York (05:00 UTC the next day): that account's day starts too.
    wall.instant = datetime(2026, 12, 2, 5, 0, 1, tzinfo=UTC)
    assert limiter.admit("token-c", 2, eastern).refusal is None


def test_the_secondly_headers_count_the_requests_of_the_last_second() -> None:
    ticks = iter([0.0, 0.4, 0.9, 1.5, 3.0])
    # 20 per 2 s: 10 a second.
    limiter = Limiter(RateLimits(max_requests=20, interval_ms=2_000), clock=lambda: next(ticks))
    answers = [limiter.admit("token", 1, UTC).headers for _ in range(5)]
    assert {a["X-HubSpot-RateLimit-Secondly"] for a in answers} == {"10"}
    left = [a["X-HubSpot-RateLimit-Secondly-Remaining"] for a in answers]
    assert left == ["9", "8", "7", "8", "9"]
    assert [a["X-HubSpot-RateLimit-Remaining"] for a in answers] == ["19", "18", "17", "16", "18"]


def test_the_daily_retry_after_counts_real_seconds_across_a_dst_change() -> None:
    eastern = ZoneInfo("America/New_York")
    # 01:00 EST on 2026-03-08; clocks go forward at 02:00, so midnight is 22 h away.
    wall = WallClock(datetime(2026, 3, 8, 6, 0, tzinfo=UTC))
    limiter = Limiter(RateLimits(daily=1), wall_clock=wall)
    assert limiter.admit("token", 1, eastern).refusal is None
    refused = limiter.admit("token", 1, eastern).refusal
    assert refused is not None
    assert refused.headers["Retry-After"] == str(22 * 3600)


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


def test_latency_is_the_time_to_an_answer_and_the_request_is_handled_meanwhile(
    store: Store,
) -> None:
    """A burst of requests is answered together, as by HubSpot's many servers: the
    request is handled (and logged) when it comes, its answer leaves ``latency`` later."""
    answered: list[httpx.Response] = []
    with served(store, faults=Faults(latency=3.0)) as server, client(server) as http:
        asking = threading.Thread(target=lambda: answered.append(http.get(USERS)))
        asking.start()
        logged = []
        for _ in range(200):  # up to 2 s, well before the answer is due
            logged = server.api.requests()
            if logged:
                break
            time.sleep(0.01)
        waiting = not answered
        asking.join()
    assert [(r.path, r.status) for r in logged] == [(USERS, 200)]
    assert waiting
    assert [a.status_code for a in answered] == [200]


def test_dropped_connections_get_no_answer_and_are_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with served(store, faults=Faults(drop_rate=1.0, seed=3, methods=frozenset({"POST"}))) as server:
        with client(server) as http:
            for n in range(6):
                # No answer: the client sees the connection closed, or reset.
                with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                    http.post(
                        USERS, json={"email": f"drop{n}@acme.example", "sendWelcomeEmail": False}
                    )
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
        logged = http.get("/__sandbox/requests").json()
        assert http.delete("/__sandbox/requests").status_code == 204
        assert http.get("/__sandbox/requests").json() == {"requests": [], "discarded": 0}
    assert logged["discarded"] == 0
    assert logged["requests"] == [
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
    command = ["sandbox", "serve", str(files.served), "--port", "0", "--max-body", "2048"]
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *command],
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
        # --max-body: 2,048 bytes pass the limit (and meet the endpoint), 2,049 do not.
        info = f"{match.group(1)}{TOKEN_INFO}"
        at_limit = httpx.post(info, content=padded_json(2048), headers=headers)
        assert at_limit.status_code == 400, at_limit.text
        over = httpx.post(info, content=padded_json(2049), headers=headers)
        hubspot_error(over, 413, "VALIDATION_ERROR")
        anonymous = httpx.get(f"{match.group(1)}/__sandbox/requests")
        hubspot_error(anonymous, 401, "INVALID_AUTHENTICATION")
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


# -- hostile input ------------------------------------------------------------------------


def padded_json(size: int, pad: str = "pad", **fields: Any) -> bytes:
    """A JSON object of ``fields`` exactly ``size`` bytes long, padded with field ``pad``."""
    base = len(json.dumps({**fields, pad: ""}).encode())
    assert base <= size
    return json.dumps({**fields, pad: "x" * (size - base)}).encode()


def address(server: ServedSandbox) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer read off a raw socket: status, headers and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        body += chunk
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSandbox]:
    """One server for the many hostile-input cases, with room for all their requests.

    Every case is refused, so none changes what the next one sees.
    """
    with Store(tmp_path_factory.mktemp("hostile") / "sandbox.db") as store:
        store.seed(snapshot(), PARTNER)
        limits = RateLimits(max_requests=1_000_000, daily=10_000_000)
        with served(store, limits=limits) as running:
            yield running


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing at error level and no traceback, from the server or uvicorn."""
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


def test_the_request_log_needs_a_sandbox_token(server: ServedSandbox) -> None:
    with client(server) as http:
        assert http.get(USERS).status_code == 200
    log = f"{server.url}/__sandbox/requests"
    with httpx.Client() as anonymous:
        hubspot_error(anonymous.get(log), 401, "INVALID_AUTHENTICATION")
        hubspot_error(anonymous.delete(log), 401, "INVALID_AUTHENTICATION")
        for header in ("Bearer pat-na1-unknown", f"Basic {TOKEN}", TOKEN, "Bearer"):
            refused = anonymous.get(log, headers={"Authorization": header})
            hubspot_error(refused, 401, "INVALID_AUTHENTICATION")
            assert TOKEN not in refused.text
    assert len(server.api.requests()) == 1  # a refused DELETE cleared nothing
    # Any token of the sandbox will do, whatever its scopes.
    with client(server, READ_ONLY) as http:
        assert len(http.get("/__sandbox/requests").json()["requests"]) == 1
    with client(server, CRM_ONLY) as http:
        assert http.delete("/__sandbox/requests").status_code == 204
    assert server.api.requests() == []


def test_the_request_log_keeps_the_last_entries_and_counts_the_rest(store: Store) -> None:
    assert ServerSettings().request_log_size == 10_000
    with served(store, request_log_size=5) as server, client(server) as http:
        for limit in range(1, 9):
            assert http.get(USERS, params={"limit": limit}).status_code == 200
        served_log = http.get("/__sandbox/requests").json()
        in_process = server.api.requests()
        http.delete("/__sandbox/requests")
        cleared = http.get("/__sandbox/requests").json()
    assert [r["query"] for r in served_log["requests"]] == [f"limit={n}" for n in range(4, 9)]
    assert served_log["discarded"] == 3
    assert [r.to_data() for r in in_process] == served_log["requests"]
    assert cleared == {"requests": [], "discarded": 0}


def test_the_request_log_never_holds_a_token(tmp_path: Path) -> None:
    plain = "sandbox-secret-7"  # a token of the store that has no HubSpot shape
    stranger = "pat-eu1-0123abcd-4567-89ab-cdef-0123456789ab"  # HubSpot's shape, no token here
    data = snapshot()
    data["accounts"][0]["tokens"].append({"value": plain, "scopes": SCOPES})
    encoded = "".join(f"%{b:02X}" for b in TOKEN.encode())
    with Store(tmp_path / "sandbox.db") as store:
        store.seed(data, PARTNER)
        with served(store) as server, client(server) as http:
            asked = [
                f"{USERS}?hapikey={TOKEN}&limit=5",
                f"{USERS}?access_token={TOKEN}",
                f"{USERS}?token={READ_ONLY}",
                f"{USERS}?HAPIKEY=anything-at-all",
                f"{USERS}?%68apikey={TOKEN}",
                f"{USERS}?after={plain}",
                f"{USERS}?{plain}",
                f"{USERS}?q={stranger}",
                f"{USERS}?q={encoded}",
                f"{USERS}?q=%2570at-na1-0123abcd-4567",
                f"{USERS}?q=x{TOKEN}x",
                f"{USERS}{TOKEN}",
                f"{USERS}{plain}?idProperty=EMAIL",
            ]
            statuses = [http.get(path).status_code for path in asked]
            unauthenticated = httpx.get(f"{server.url}{USERS}?hapikey={TOKEN}").status_code
            text = http.get("/__sandbox/requests").text
            in_process = str(server.api.requests())
    assert statuses[0] == 200 and unauthenticated == 401
    logged = json.loads(text)["requests"]
    assert len(logged) == len(asked) + 1
    for secret in (TOKEN, READ_ONLY, plain, stranger, encoded, "anything-at-all", "0123abcd"):
        assert secret not in text and secret not in in_process, secret
    assert TOKEN.removeprefix("pat-na1-") not in text  # nor its tail
    assert logged[0]["query"] == "hapikey=REDACTED&limit=5"
    assert logged[5]["query"] == "after=REDACTED"
    assert logged[11]["path"] == f"{USERS}REDACTED"
    assert logged[12] == {**logged[12], "path": f"{USERS}REDACTED", "query": "idProperty=EMAIL"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413_and_one_at_it_is_read(
    server: ServedSandbox, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fields = {"email": "big@acme.example", "sendWelcomeEmail": False}

    def body(size: int) -> bytes | Iterator[bytes]:
        data = padded_json(size, "firstName", **fields)
        if not chunked:
            return data
        return iter([data[i : i + 65536] for i in range(0, len(data), 65536)])

    with client(server) as http:
        over = http.post(USERS, content=body(MAX_BODY + 1))
        assert ("content-length" in over.request.headers) != chunked
        # The connection is still good, and the same body one byte shorter is read.
        at_limit = http.post(USERS, content=body(MAX_BODY))
    error = hubspot_error(over, 413, "VALIDATION_ERROR")
    assert error["errors"][0]["code"] == "PAYLOAD_TOO_LARGE"
    assert str(MAX_BODY) in error["message"]
    assert set(over.headers) >= RATE_HEADERS
    assert at_limit.status_code == 201, at_limit.text[:300]
    assert len(at_limit.json()["firstName"]) > MAX_BODY - 100
    assert [r.status for r in server.api.requests()] == [413, 201]
    no_errors_logged(caplog)


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(server: ServedSandbox) -> None:
    # Content-Length says 500 MB and nothing follows: an answer at all shows the
    # server did not wait to read the body.
    head = (
        f"POST {USERS} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n"
    )
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(head.encode())
        status, headers, body = read_answer(sock)
    assert status == 413
    assert json.loads(body)["category"] == "VALIDATION_ERROR"
    assert headers["content-type"] == "application/json"


def test_a_length_of_many_leading_zeros_is_its_value(server: ServedSandbox) -> None:
    # More digits than int() takes. 5,000 zeros and a 2: the body `{}` is read, and
    # lacks an email; 5,000 zeros and twelve 9s: over the limit.
    for digits, status in (("0" * 5000 + "2", 400), ("0" * 5000 + "9" * 12, 413)):
        head = (
            f"POST {USERS} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {digits}\r\n\r\n{{}}"
        )
        with socket.create_connection(address(server), timeout=10) as sock:
            sock.sendall(head.encode())
            answered, _, body = read_answer(sock)
        assert answered == status
        assert json.loads(body)["category"] == "VALIDATION_ERROR"


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(server: ServedSandbox) -> None:
    # Chunks past the limit and no last chunk: the answer comes while the body is
    # still "arriving", so it was counted, not read whole.
    head = (
        f"POST {USERS} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(head.encode())
        for _ in range(MAX_BODY // len(chunk) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, _, body = read_answer(sock)
    assert status == 413
    assert json.loads(body)["errors"][0]["code"] == "PAYLOAD_TOO_LARGE"


def nested(depth: int, inner: str = "1") -> str:
    return '{"a":' * depth + inner + "}" * depth


NOT_JSON_OBJECTS = {
    "deep-arrays": b"[" * 100_000,
    "deep-arrays-closed": b"[" * 100_000 + b"]" * 100_000,
    "deep-objects": nested(100_000).encode(),
    "deep-objects-unclosed": b'{"a":' * 100_000,
    "deep-inside-a-field": b'{"email": "x@acme.example", "firstName": '
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}",
    "33-levels": f'{{"email": "x@acme.example", "sendWelcomeEmail": false, "firstName": {nested(32)}}}'.encode(),
    "truncated": b'{"email": "x@acme.example", "sendWelc',
    "truncated-string": b'{"email": "x@acme.exa',
    "empty": b"",
    "not-utf-8": b'{"email": "x\xff@acme.example", "sendWelcomeEmail": false}',
    "latin-1": '{"email": "jos\u00e9@acme.example", "sendWelcomeEmail": false}'.encode("latin-1"),
    "utf-16": '{"email": "x@acme.example", "sendWelcomeEmail": false}'.encode("utf-16"),
    "utf-8-bom": b'\xef\xbb\xbf{"email": "x@acme.example", "sendWelcomeEmail": false}',
    "nan": b'{"email": "x@acme.example", "sendWelcomeEmail": false, "firstName": NaN}',
    "infinity": b'{"email": "x@acme.example", "sendWelcomeEmail": false, "firstName": Infinity}',
    "-infinity": b'{"email": "x@acme.example", "sendWelcomeEmail": false, "lastName": -Infinity}',
    "huge-float": b'{"email": "x@acme.example", "sendWelcomeEmail": false, "firstName": 1e999}',
    "huge-int": b'{"email": "x@acme.example", "sendWelcomeEmail": false, "firstName": '
    + b"9" * 5000
    + b"}",
    "lone-surrogate": b'{"email": "x@acme.example", "sendWelcomeEmail": false, "firstName": "\\ud800"}',
    "array": b'[{"email": "x@acme.example", "sendWelcomeEmail": false}]',
    "string": b'"x@acme.example"',
}


@pytest.mark.parametrize("raw", NOT_JSON_OBJECTS.values(), ids=NOT_JSON_OBJECTS.keys())
def test_a_body_that_is_not_a_json_object_is_400_never_500(
    hostile: ServedSandbox, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    server = hostile
    headers = {"Content-Type": "application/json"}
    with client(server) as http:
        answers = {
            "create": http.post(USERS, content=raw, headers=headers),
            "create-2026-09": http.post(BETA, content=raw, headers=headers),
            "update": http.put(f"{MARCH}/rep@acme.example?idProperty=EMAIL", content=raw),
            "token-info": http.post(TOKEN_INFO, content=raw, headers=headers),
        }
        rep = http.get(f"{USERS}rep@acme.example?idProperty=EMAIL")
    for name, answer in answers.items():
        body = hubspot_error(answer, 400, "VALIDATION_ERROR")
        assert body["errors"][0]["code"] == "INVALID_JSON", (name, body)
        assert "Traceback" not in answer.text
    assert server.api.store.get_user_by_email(ACCOUNT, "x@acme.example") is None
    assert rep.json()["firstName"] is None
    no_errors_logged(caplog)


def test_32_levels_of_json_are_read(hostile: ServedSandbox) -> None:
    """The depth limit's other side: 32 levels parse and meet the field checks."""
    server = hostile
    raw = f'{{"email": "x@acme.example", "sendWelcomeEmail": false, "firstName": {nested(31)}}}'
    with client(server) as http:
        answer = http.post(USERS, content=raw.encode())
    refused_field(answer, "INVALID", "firstName")


#: Characters no email holds: C0 controls (CR, LF, NUL, ESC), DEL, C1 controls (NEL,
#: CSI), line and paragraph separators, bidi controls and other format characters.
CONTROL_CHARACTERS = {
    "CR": "\r",
    "LF": "\n",
    "NUL": "\x00",
    "TAB": "\t",
    "ESC": "\x1b",
    "DEL": "\x7f",
    "NEL": "\x85",
    "CSI": "\x9b",
    "LINE-SEPARATOR": "\u2028",
    "PARAGRAPH-SEPARATOR": "\u2029",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "ZERO-WIDTH-SPACE": "\u200b",
    "BOM": "\ufeff",
    "NBSP": "\u00a0",
}


@pytest.mark.parametrize("char", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS.keys())
def test_an_email_with_a_control_character_is_never_created(
    hostile: ServedSandbox, char: str
) -> None:
    server = hostile
    emails = [f"ev{char}il@acme.example", f"evil@acme.example{char}", f"{char}evil@acme.example"]
    with client(server) as http:
        answers = [
            http.post(collection, json={"email": email, "sendWelcomeEmail": False})
            for collection, _ in PATHS.values()
            for email in emails
        ]
    for answer in answers:
        body = refused_field(answer, "INVALID", "email")
        assert f"U+{ord(char):04X}" in body["message"]
        assert char not in answer.text and json.dumps(char)[1:-1] not in answer.text
    stored = [r.user.email for r in server.api.store.list_users(ACCOUNT)]
    assert not [e for e in stored if "evil" in e]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS.keys())
def test_an_email_with_a_control_character_finds_no_user(hostile: ServedSandbox, char: str) -> None:
    server = hostile
    # rep@acme.example exists: with the character before, inside or after it, no
    # request may reach that user (a trailing LF once did).
    keys = [f"rep@acme.example{char}", f"{char}rep@acme.example", f"rep{char}@acme.example"]
    with client(server) as http:
        answers = []
        for _, users in PATHS.values():
            for key in keys:
                path = f"{users}/{quote(key, safe='@')}?idProperty=EMAIL"
                answers += [
                    http.get(path),
                    http.put(path, json={"firstName": "Forged"}),
                    http.delete(path),
                ]
        rep = http.get(f"{USERS}rep@acme.example?idProperty=EMAIL")
    for answer in answers:
        body = refused_field(answer, "INVALID", "userId")
        assert f"U+{ord(char):04X}" in body["message"]
    assert rep.status_code == 200 and rep.json()["firstName"] is None


def test_a_client_that_leaves_mid_request_is_one_warning(
    server: ServedSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    head = (
        f"POST {USERS} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"email": ')
    deadline = time.monotonic() + 10
    while not [r for r in server.api.requests() if r.method == "POST"]:
        assert time.monotonic() < deadline, "the server never noticed the client leave"
        time.sleep(0.01)
    with client(server) as http:
        after = http.get(USERS, params={"limit": 1})
    assert after.status_code == 200
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    (warning,) = warnings
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert warning.name == "reconciler.sandbox.http.server"
    assert (
        warning.getMessage()
        == f"client disconnected before sending its whole request: POST {USERS!r}"
    )
    assert "\n" not in warning.getMessage()
    posts = [r for r in server.api.requests() if r.method == "POST"]
    assert [(r.status, r.dropped) for r in posts] == [(0, False)]
