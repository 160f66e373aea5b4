"""``sandbox serve``: HubSpot's shapes, paging, errors, scopes, rate limits and fault switches."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
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
from reconciler.sandbox.ratelimit import Limiter
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
