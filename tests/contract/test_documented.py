"""Contract tests: HubSpot's documented calls, held against ``sandbox serve`` and the provider.

``DOCUMENTED`` is transcribed from HubSpot's reference pages (each entry names
its page), not derived from our code: for every API version, each call the
provider makes, with the query parameters and body fields the page lists and
the fields of its answer. ``sandbox serve`` must answer every documented
example as documented and refuse what is not documented; the provider's real
requests, recorded on the wire through a whole plan and apply, must each match
an entry of the version it was configured with. A field either side uses that
the chosen version does not document fails a test here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.engine import apply_plan, make_plan
from reconciler.providers.hubspot import versions as v
from reconciler.providers.hubspot.provider import HubSpotProvider
from reconciler.sandbox.http.server import ServedSandbox
from reconciler.sandbox.store import Store
from tests.served import (
    ACTOR,
    FAST_RETRY,
    FleetFiles,
    Recording,
    token_for,
)

REF = "https://developers.hubspot.com/docs/api-reference"
USER_FIELDS = {
    "email",
    "id",
    "roleIds",
    "superAdmin",
    "firstName",
    "lastName",
    "primaryTeamId",
    "roleId",
    "secondaryTeamIds",
    "sendWelcomeEmail",
}
USER_REQUIRED = {"email", "id", "roleIds", "superAdmin"}
CREATE_FIELDS = {
    "email",
    "sendWelcomeEmail",
    "firstName",
    "lastName",
    "primaryTeamId",
    "roleId",
    "secondaryTeamIds",
}
UPDATE_FIELDS = {"firstName", "lastName", "primaryTeamId", "roleId", "secondaryTeamIds"}
ROLE_FIELDS = {"id", "name", "requiresBillingWrite"}
TEAM_FIELDS = {"id", "name", "userIds", "secondaryUserIds"}
SEAT_FIELDS = {"name", "description", "remainingSeats"}
DETAILS_FIELDS = {
    "portalId",
    "accountType",
    "timeZone",
    "utcOffset",
    "utcOffsetMilliseconds",
    "companyCurrency",
    "additionalCurrencies",
    "dataHostingLocation",
    "uiDomain",
}


@dataclass(frozen=True)
class Call:
    """One documented call: what may be sent, and what comes back."""

    method: str
    path: str  # ``{userId}`` where the page has a path parameter
    doc: str
    status: int
    query: frozenset[str] = frozenset()
    body: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    #: The fields of the answer (of each of its ``results`` when ``listed``).
    answer: frozenset[str] = frozenset()
    answer_required: frozenset[str] = frozenset()
    listed: bool = False

    def matches(self, method: str, path: str) -> bool:
        pattern = re.escape(self.path).replace(re.escape("{userId}"), "[^/]+")
        return method == self.method and re.fullmatch(pattern, path) is not None


def users_api(name: str, base: str, docs: str, *, seats: bool) -> list[Call]:
    """The user provisioning calls of one version, from its reference pages."""
    extra = {"seatNames"} if seats else set()
    user, by_id = frozenset(USER_FIELDS | extra), f"{base}/{{userId}}"
    slash = "/" if name == "v3" else ""
    calls = [
        Call("GET", base + slash, f"{docs}/users/get-users", 200, frozenset({"limit", "after"}),
             answer=user, answer_required=frozenset(USER_REQUIRED), listed=True),
        Call("POST", base + slash, f"{docs}/users/create-user", 201,
             body=frozenset(CREATE_FIELDS | extra),
             required=frozenset({"email", "sendWelcomeEmail"}), answer=user,
             answer_required=frozenset(USER_REQUIRED)),
        Call("GET", by_id, f"{docs}/guide", 200, frozenset({"idProperty"}), answer=user,
             answer_required=frozenset(USER_REQUIRED)),
        Call("PUT", by_id, f"{docs}/users/update-user", 200, frozenset({"idProperty"}),
             body=frozenset(UPDATE_FIELDS | extra), answer=user,
             answer_required=frozenset(USER_REQUIRED)),
        Call("DELETE", by_id, f"{docs}/users/delete-user", 204, frozenset({"idProperty"})),
        Call("GET", f"{base}/roles", f"{docs}/roles/get-roles", 200,
             answer=frozenset(ROLE_FIELDS), answer_required=frozenset(ROLE_FIELDS), listed=True),
        Call("GET", f"{base}/teams", f"{docs}/teams/get-teams", 200,
             answer=frozenset(TEAM_FIELDS), answer_required=frozenset(TEAM_FIELDS), listed=True),
    ]  # fmt: skip
    if seats:
        calls.append(
            Call("GET", f"{base}/seats", f"{docs}/seats/get-seats", 200,
                 answer=frozenset(SEAT_FIELDS), answer_required=frozenset({"name"}), listed=True)
        )  # fmt: skip
    return calls


def common(details: str) -> list[Call]:
    return [
        Call("GET", details, "https://developers.hubspot.com/docs/guides/api/settings/account-information-api",
             200, answer=frozenset(DETAILS_FIELDS), answer_required=frozenset(DETAILS_FIELDS)),
        Call("POST", "/oauth/v2/private-apps/get/access-token-info",
             "https://developers.hubspot.com/docs/api/private-apps", 200,
             body=frozenset({"tokenKey"}), required=frozenset({"tokenKey"}),
             answer=frozenset({"userId", "hubId", "appId", "scopes"}),
             answer_required=frozenset({"userId", "hubId", "appId", "scopes"})),
    ]  # fmt: skip


DOCUMENTED: dict[str, list[Call]] = {
    "v3": users_api(
        "v3", "/settings/v3/users", f"{REF}/legacy/account/settings/user-provisioning", seats=False
    )
    + common("/account-info/v3/details"),
    "2026-03": users_api(
        "2026-03",
        "/settings/users/2026-03",
        f"{REF}/2026-03/account/settings/user-provisioning",
        seats=False,
    )
    + common("/account-info/2026-03/details"),
    "2026-09-beta": users_api(
        "2026-09-beta",
        "/settings/users/2026-09-beta",
        f"{REF}/2026-09-beta/account/settings/user-provisioning",
        seats=True,
    )
    + common("/account-info/2026-03/details"),
}


def documented(version: str, method: str, path: str) -> Call:
    found = [c for c in DOCUMENTED[version] if c.matches(method, path)]
    assert found, f"{method} {path} is not a documented call of {version}"
    # A fixed path (".../roles") before a path with a parameter that also matches it.
    return min(found, key=lambda c: "{" in c.path)


def test_every_entry_cites_a_page_of_hubspots_documentation() -> None:
    for calls in DOCUMENTED.values():
        for call in calls:
            assert call.doc.startswith("https://developers.hubspot.com/docs/"), call


def test_our_version_table_is_the_documented_one() -> None:
    for name, api in v.VERSIONS.items():
        calls = DOCUMENTED[name]
        create = documented(name, "POST", api.collection)
        update = documented(name, "PUT", api.user("1"))
        assert api.create_fields == create.body
        assert api.update_fields == update.body
        assert api.user_fields == create.answer
        assert documented(name, "GET", api.roles).answer == v.ROLE_FIELDS
        assert documented(name, "GET", api.teams).answer == v.TEAM_FIELDS
        assert documented(name, "GET", api.details).answer == v.DETAILS_FIELDS
        assert api.has_seats == any(c.path.endswith("/seats") for c in calls)
        if api.seats is not None:
            assert documented(name, "GET", api.seats).answer == v.SEAT_FIELDS


# -- sandbox serve answers the documented examples as documented -----------------------------


def check_answer(call: Call, response: httpx.Response) -> None:
    assert response.status_code == call.status, (call.method, call.path, response.text)
    if call.status == 204:
        assert response.content == b""
        return
    data = response.json()
    items = data["results"] if call.listed else [data]
    if call.listed:
        assert set(data) <= {"results", "paging"}
    assert items, (call.method, call.path)
    for item in items:
        assert set(item) <= call.answer, (call.path, set(item) - call.answer)
        assert call.answer_required <= set(item), (call.path, call.answer_required - set(item))


@pytest.mark.parametrize("version", list(DOCUMENTED))
def test_sandbox_serve_answers_every_documented_call_as_documented(
    version: str, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    api = v.VERSIONS[version]
    headers = {"Authorization": f"Bearer {token_for(5001)}"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        teams = {t["name"]: t["id"] for t in http.get(api.teams).json()["results"]}
        roles = {r["name"]: r["id"] for r in http.get(api.roles).json()["results"]}
        # The create example of the reference page, every documented field set.
        example: dict[str, Any] = {
            "email": "Doc.Example+1@Acme.example",
            "sendWelcomeEmail": True,
            "firstName": "Doc",
            "lastName": "Example",
            "primaryTeamId": teams["Support"],
            "roleId": roles["Viewer"],
            "secondaryTeamIds": [teams["Sales"]],
        }
        if api.has_seats:
            example["seatNames"] = ["View-Only Seat"]
        sent = {
            ("GET", api.collection): http.get(api.collection, params={"limit": 2}),
            ("POST", api.collection): http.post(api.collection, json=example),
        }
        created = sent["POST", api.collection].json()
        assert created["sendWelcomeEmail"] is True
        assert created["email"] == example["email"]
        assert sent["POST", api.collection].headers["Location"].endswith(api.user(created["id"]))
        page = sent["GET", api.collection].json()
        assert page["paging"]["next"]["after"] and page["paging"]["next"]["link"]
        by_email = api.user("doc.example%2B1%40acme.example")
        update = {"firstName": "Docs", "lastName": "Examples", "roleId": roles["Marketing Manager"]}
        update |= {"primaryTeamId": teams["Sales"], "secondaryTeamIds": []}
        if api.has_seats:
            update["seatNames"] = ["Core Seat"]
        sent |= {
            ("GET", api.user(created["id"])): http.get(api.user(created["id"])),
            ("GET", by_email): http.get(by_email, params={"idProperty": "EMAIL"}),
            ("PUT", by_email): http.put(by_email, params={"idProperty": "EMAIL"}, json=update),
            ("GET", api.roles): http.get(api.roles),
            ("GET", api.teams): http.get(api.teams),
            ("GET", api.details): http.get(api.details),
        }
        if api.seats is not None:
            sent["GET", api.seats] = http.get(api.seats)
        info = "/oauth/v2/private-apps/get/access-token-info"
        sent["POST", info] = http.post(info, json={"tokenKey": token_for(5001)})
        sent["DELETE", by_email] = http.delete(by_email, params={"idProperty": "EMAIL"})
        gone = http.get(by_email, params={"idProperty": "EMAIL"})
    for (method, path), response in sent.items():
        check_answer(documented(version, method, path), response)
    assert sent["GET", by_email].json()["id"] == created["id"]
    assert sent["PUT", by_email].json()["firstName"] == "Docs"
    assert sent["POST", info].json()["hubId"] == 5001
    assert gone.status_code == 404
    assert {"message", "correlationId", "category"} <= set(gone.json())


@pytest.mark.parametrize("version", list(DOCUMENTED))
def test_what_a_version_does_not_document_is_refused(
    version: str, served: tuple[ServedSandbox, Store]
) -> None:
    server, store = served
    api = v.VERSIONS[version]
    headers = {"Authorization": f"Bearer {token_for(5001)}"}
    create = {"email": "x@acme.example", "sendWelcomeEmail": False}
    user = api.user("ops%40acme.example")
    refused = {
        "an unknown field": (api.collection, {**create, "jobTitle": "CEO"}, "jobTitle"),
        "null to clear a role": (user, {"roleId": None}, "roleId"),
        "null to clear a team": (user, {"primaryTeamId": None}, "primaryTeamId"),
        "a number for an id": (user, {"roleId": 7}, "roleId"),
        "no sendWelcomeEmail": (api.collection, {"email": "x@acme.example"}, "sendWelcomeEmail"),
    }
    if not api.has_seats:
        refused["seats"] = (user, {"seatNames": ["Core Seat"]}, "seatNames")
    before = store.export()
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for what, (path, body, field) in refused.items():
            if path == user:
                answer = http.put(path, params={"idProperty": "EMAIL"}, json=body)
            else:
                answer = http.post(path, json=body)
            assert answer.status_code == 400, (what, answer.text)
            data = answer.json()
            assert data["category"] == "VALIDATION_ERROR", what
            assert data["errors"][0]["in"] == field, what
        if not api.has_seats:
            assert http.get(f"{api.users}/seats").status_code == 404
    assert store.export() == before


# -- the provider sends only what its version documents -------------------------------------


@pytest.mark.parametrize("version", list(DOCUMENTED))
def test_the_providers_requests_are_all_documented_for_its_version(
    version: str, files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    recording = Recording()
    config = files.hubspot_config(server.url, api_version=version)
    with HubSpotProvider(config, retry=FAST_RETRY, transport=recording) as provider:
        plan = make_plan(config, provider)
        report = apply_plan(plan, config, provider)
    assert not report.failed
    used: set[tuple[str, str]] = set()
    for request in recording.sent:
        call = documented(version, request.method, request.url.path)
        used.add((call.method, call.path))
        assert set(request.url.params) <= call.query, (request.url, call.query)
        if request.content:
            body = json.loads(request.content)
            assert set(body) <= call.body, (request.url.path, set(body) - call.body)
            assert call.required <= set(body), (request.url.path, call.required - set(body))
            assert None not in body.values(), (request.url.path, body)
        else:
            assert not call.required, request.url.path
    # The whole table is exercised: every write kind and every read.
    assert {m for m, _ in used} == {"GET", "POST", "PUT", "DELETE"}
    assert len(used) == len(DOCUMENTED[version]) - 1  # all but the GET of one user by id


def test_the_example_plans_through_sandbox_serve_with_no_seat_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider's default seat names are the server's: where the version has seats,
    # nothing is "cannot read" with no seat_names in the config.
    import shutil

    import yaml

    from reconciler.config import load_config

    example = Path(__file__).parents[2] / "examples" / "northwind"
    copy = tmp_path / "northwind"
    shutil.copytree(example, copy)
    snapshot = yaml.safe_load((copy / "snapshot.yaml").read_text())
    served_config = load_config(copy)
    from reconciler.providers.sandbox import open_store
    from reconciler.sandbox.http.server import SandboxAPI
    from reconciler.sandbox.http.settings import ServerSettings

    with open_store(served_config) as store:
        api = SandboxAPI(store, ServerSettings(actor=ACTOR))
        with ServedSandbox(api) as server:
            hubspot = tmp_path / "hubspot"
            hubspot.mkdir()
            for path in copy.rglob("*.yaml"):
                if path.name in ("snapshot.yaml",):
                    continue
                data = yaml.safe_load(path.read_text())
                if "provider" in data:
                    data["provider"] = {
                        "type": "hubspot",
                        "base_url": server.url,
                        "api_version": "2026-09-beta",
                    }
                for account in data.get("accounts", []):
                    account["token_env"] = f"TOKEN_{account['id']}"
                target = hubspot / path.relative_to(copy)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(yaml.safe_dump(data))
            served_ids = set()
            for account in snapshot["accounts"]:
                for token in account.get("tokens", ())[:1]:
                    monkeypatch.setenv(f"TOKEN_{account['id']}", token["value"])
                    served_ids.add(account["id"])
            config = load_config(hubspot)
            with HubSpotProvider(config, retry=FAST_RETRY) as provider:
                plan = make_plan(config, provider)
    planned = [a for a in plan.accounts if a.account in served_ids]
    assert planned and not [a.error for a in planned if a.error]
    warnings = [w for a in planned for w in a.warnings]
    assert plan.steps
    assert not [w for w in warnings if "cannot read the seat" in w]
    # Every seat is read; only a user this plan creates has a seat still to be given
    # (the partner seat, which no API assigns).
    unseen = {s.user for s in plan.steps if (s.before or {}).get("seat") == "unknown"}
    assert unseen <= {s.user for s in plan.steps if s.type == "create_user"}
