"""HubSpot's official Python SDK (hubspot-api-client), pointed at ``sandbox serve``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.settings.users import (  # type: ignore[import-untyped]
    ApiException,
    PublicUser,
    PublicUserUpdate,
    UserProvisionRequest,
)
from urllib3.util.retry import Retry

from reconciler.providers.hubspot.versions import VERSIONS
from reconciler.sandbox.http.ratelimit import RateLimits
from reconciler.sandbox.http.server import SandboxAPI, ServedSandbox
from reconciler.sandbox.http.settings import ServerSettings
from reconciler.sandbox.store import Store
from tests.served import ACTOR, token_for
from tests.test_server import ACCOUNT, PARTNER, RATE_HEADERS, TOKEN, snapshot

#: A token of the same account that may read users but not write them.
READ_ONLY = token_for(ACCOUNT + 50)
#: urllib3's retries off. Unconfigured, the SDK leaves urllib3's ``Retry(3)``, which sleeps
#: out a 429's ``Retry-After`` and repeats GETs: the test would wait, then get a MaxRetryError.
NO_RETRY = Retry(total=0, respect_retry_after_header=False)


@contextmanager
def serving(tmp_path: Path, data: dict[str, Any], **settings: Any) -> Iterator[ServedSandbox]:
    with Store(tmp_path / "sandbox.db") as store:
        store.seed(data, PARTNER)
        api = SandboxAPI(store, ServerSettings(actor=ACTOR, **settings))
        with ServedSandbox(api) as server:
            yield server


def users_sdk(server: ServedSandbox, token: str = TOKEN, **config: Any) -> Any:
    """The SDK's ``settings.users`` client for ``server``, as ``token``."""
    return HubSpot(access_token=token, host=server.url, **config).settings.users


@pytest.fixture
def sdk(tmp_path: Path) -> Iterator[Any]:
    with serving(tmp_path, snapshot(staff=150)) as server:
        yield users_sdk(server)


def error_of(sdk: Any, exc: ApiException) -> Any:
    """The SDK's own Error model, parsed from the answer."""
    return sdk.users_api.api_client.deserialize(SimpleNamespace(data=exc.body), "Error")


def test_the_sdk_lists_users_page_by_page(sdk: Any) -> None:
    emails: list[str] = []
    after = None
    pages = 0
    while True:
        page = sdk.users_api.get_page(limit=100, after=after)
        pages += 1
        emails += [user.email for user in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert pages == 2
    assert len(set(emails)) == 153
    assert ACTOR in emails


def test_the_sdk_reads_roles_teams_and_a_user_by_email(sdk: Any) -> None:
    roles = {role.name: role for role in sdk.roles_api.get_all().results}
    teams = {team.name: team for team in sdk.teams_api.get_all().results}
    rep = sdk.users_api.get_by_id(user_id="rep@acme.example", id_property="EMAIL")
    assert rep.role_id == roles["Sales Rep"].id
    assert roles["Sales Rep"].requires_billing_write is True
    assert rep.primary_team_id == teams["Sales"].id
    assert rep.secondary_team_ids == [teams["Support"].id]
    assert teams["Sales"].user_ids == [rep.id]
    assert rep.super_admin is False
    assert sdk.users_api.get_by_id(user_id=ACTOR, id_property="EMAIL").super_admin is True
    # SDK 12 speaks v3, whose users carry no seatNames; every field it knows is v3's.
    raw = sdk.users_api.get_by_id(
        user_id="rep@acme.example", id_property="EMAIL", _preload_content=False
    )
    shown = json.loads(raw.data)
    assert "seatNames" not in shown
    assert set(shown) <= VERSIONS["v3"].user_fields
    assert set(PublicUser.attribute_map.values()) <= VERSIONS["v3"].user_fields


def test_the_sdk_creates_updates_and_deletes_a_user(sdk: Any) -> None:
    roles = {role.name: role.id for role in sdk.roles_api.get_all().results}
    teams = {team.name: team.id for team in sdk.teams_api.get_all().results}
    created, status, headers = sdk.users_api.create_with_http_info(
        user_provision_request=UserProvisionRequest(
            email="sdk.user@acme.example",
            role_id=roles["Viewer"],
            primary_team_id=teams["Support"],
            send_welcome_email=True,
        )
    )
    assert status == 201
    host = sdk.users_api.api_client.configuration.host
    assert headers["Location"] == f"{host}/settings/v3/users/{created.id}"
    assert created.id and created.send_welcome_email is True
    assert created.role_id == roles["Viewer"]
    update = PublicUserUpdate(role_id=roles["Sales Rep"], secondary_team_ids=[teams["Sales"]])
    # The SDK leaves unset (None) fields out of the body: no nulls, which the server refuses.
    assert sdk.users_api.api_client.sanitize_for_serialization(update) == {
        "roleId": roles["Sales Rep"],
        "secondaryTeamIds": [teams["Sales"]],
    }
    updated = sdk.users_api.replace(user_id=created.id, public_user_update=update)
    assert updated.role_id == roles["Sales Rep"]
    assert updated.primary_team_id == teams["Support"]
    assert updated.secondary_team_ids == [teams["Sales"]]
    by_email = sdk.users_api.get_by_id(user_id="sdk.user@acme.example", id_property="EMAIL")
    assert by_email.id == created.id
    sdk.users_api.archive(user_id="sdk.user@acme.example", id_property="EMAIL")
    with pytest.raises(ApiException) as gone:
        sdk.users_api.get_by_id(user_id=created.id)
    assert gone.value.status == 404
    error = error_of(sdk, gone.value)
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.correlation_id and error.message


def test_the_sdk_parses_hubspots_error_bodies(sdk: Any) -> None:
    with pytest.raises(ApiException) as duplicate:
        sdk.users_api.create(
            user_provision_request=UserProvisionRequest(email=ACTOR, send_welcome_email=False)
        )
    assert duplicate.value.status == 409
    assert error_of(sdk, duplicate.value).category == "CONFLICT"
    # sendWelcomeEmail is required: the SDK leaves it out unless it is passed.
    with pytest.raises(ApiException) as unwelcome:
        sdk.users_api.create(user_provision_request=UserProvisionRequest(email="x@acme.example"))
    assert unwelcome.value.status == 400
    required = error_of(sdk, unwelcome.value)
    assert required.category == "VALIDATION_ERROR"
    assert (required.errors[0].code, required.errors[0]._in) == (
        "REQUIRED_FIELD",
        "sendWelcomeEmail",
    )
    with pytest.raises(ApiException) as invalid:
        sdk.users_api.create(
            user_provision_request=UserProvisionRequest(
                email="x@acme.example", role_id="999", send_welcome_email=False
            )
        )
    assert invalid.value.status == 400
    error = error_of(sdk, invalid.value)
    assert error.category == "VALIDATION_ERROR"
    assert error.errors[0].message == error.message
    assert error.errors[0]._in == "roleId"
    denied = HubSpot(
        access_token="pat-na1-not-a-token", host=sdk.users_api.api_client.configuration.host
    )
    with pytest.raises(ApiException) as unauthorized:
        denied.settings.users.users_api.get_page()
    assert unauthorized.value.status == 401
    assert error_of(sdk, unauthorized.value).category == "INVALID_AUTHENTICATION"


def test_the_sdk_follows_the_paging_link(sdk: Any) -> None:
    page = sdk.users_api.get_page(limit=1)
    assert len(page.results) == 1
    host = sdk.users_api.api_client.configuration.host
    assert page.paging.next.link.startswith(host)
    following = sdk.users_api.get_page(limit=1, after=page.paging.next.after)
    assert following.results[0].id != page.results[0].id


def emails_of(sdk: Any) -> list[str]:
    """Every user's email, read page by page through the SDK."""
    emails: list[str] = []
    after = None
    while True:
        page = sdk.users_api.get_page(limit=100, after=after)
        emails += [user.email for user in page.results]
        if page.paging is None:
            return emails
        after = page.paging.next.after


def test_the_sdk_raises_403_missing_scopes_for_a_token_without_write(tmp_path: Path) -> None:
    """A read-only token may not create: HubSpot's 403 names the scope it lacks."""
    data = snapshot()
    data["accounts"][0]["tokens"].append(
        {"value": READ_ONLY, "scopes": ["settings.users.read", "settings.users.teams.read"]}
    )
    with serving(tmp_path, data) as server:
        reader, writer = users_sdk(server, READ_ONLY), users_sdk(server)
        assert reader.users_api.get_page().results  # the token itself is good
        with pytest.raises(ApiException) as denied:
            reader.users_api.create(
                user_provision_request=UserProvisionRequest(
                    email="scoped@acme.example", send_welcome_email=False
                )
            )
        emails = emails_of(writer)
    assert denied.value.status == 403
    error = error_of(reader, denied.value)
    assert error.category == "MISSING_SCOPES"
    assert error.errors[0].context["requiredGranularScopes"] == ["settings.users.write"]
    assert "scoped@acme.example" not in emails
    assert len(emails) == 6


def test_the_sdk_raises_429_with_hubspots_rate_limit_body_and_headers(tmp_path: Path) -> None:
    """Past the rolling window the SDK raises the 429 (its retries off, see NO_RETRY)."""
    limits = RateLimits(max_requests=2, interval_ms=60_000)
    with serving(tmp_path, snapshot(), limits=limits) as server:
        sdk = users_sdk(server, retry=NO_RETRY)
        answered = 0
        with pytest.raises(ApiException) as limited:
            for _ in range(10):
                sdk.users_api.get_page()
                answered += 1
    assert answered == 2
    assert limited.value.status == 429
    body = json.loads(limited.value.body)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert error_of(sdk, limited.value).category == "RATE_LIMITS"
    headers = {name.lower() for name in limited.value.headers}
    assert headers >= RATE_HEADERS | {"retry-after"}
    assert limited.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.value.headers["X-HubSpot-RateLimit-Max"] == "2"
    assert 1 <= int(limited.value.headers["Retry-After"]) <= 60


def test_the_sdks_default_retry_waits_out_retry_after(tmp_path: Path) -> None:
    """Unconfigured, the SDK sleeps ``Retry-After`` and repeats the GET: the 429 is hidden."""
    limits = RateLimits(max_requests=2, interval_ms=1_000)
    with serving(tmp_path, snapshot(), limits=limits) as server:
        sdk = users_sdk(server)
        started = time.monotonic()
        for _ in range(3):
            assert sdk.users_api.get_page().results
        waited = time.monotonic() - started
        statuses = [entry.status for entry in server.api.requests()]
    assert statuses == [200, 200, 429, 200]
    assert waited >= 1


def test_the_sdk_archives_a_user_by_id(sdk: Any) -> None:
    """DELETE by the numeric id the create answered with (the SDK's ``archive``)."""
    created = sdk.users_api.create(
        user_provision_request=UserProvisionRequest(
            email="archived@acme.example", send_welcome_email=False
        )
    )
    assert "archived@acme.example" in emails_of(sdk)
    assert sdk.users_api.archive(user_id=created.id) is None
    with pytest.raises(ApiException) as gone:
        sdk.users_api.get_by_id(user_id=created.id)
    assert gone.value.status == 404
    assert error_of(sdk, gone.value).category == "OBJECT_NOT_FOUND"
    emails = emails_of(sdk)
    assert "archived@acme.example" not in emails
    assert len(emails) == 153
    with pytest.raises(ApiException) as again:
        sdk.users_api.archive(user_id=created.id)
    assert again.value.status == 404


def test_the_sdk_finds_a_mixed_case_plus_address_by_any_case(sdk: Any) -> None:
    """Emails match case-insensitively, and a ``+`` quoted into the path stays a ``+``."""
    original = "Mixed.Case+tag@Acme.example"
    roles = {role.name: role.id for role in sdk.roles_api.get_all().results}
    created = sdk.users_api.create(
        user_provision_request=UserProvisionRequest(email=original, send_welcome_email=True)
    )
    assert created.send_welcome_email is True
    assert created.email == original
    for form in (original.lower(), original, "MIXED.CASE+TAG@ACME.EXAMPLE"):
        found = sdk.users_api.get_by_id(user_id=form, id_property="EMAIL")
        assert (found.id, found.email) == (created.id, original)
    with pytest.raises(ApiException) as spaced:
        sdk.users_api.get_by_id(user_id="mixed.case tag@acme.example", id_property="EMAIL")
    assert spaced.value.status == 404
    with pytest.raises(ApiException) as twice:
        sdk.users_api.create(
            user_provision_request=UserProvisionRequest(
                email="mixed.case+TAG@acme.EXAMPLE", send_welcome_email=False
            )
        )
    assert twice.value.status == 409
    assert error_of(sdk, twice.value).category == "CONFLICT"
    assert [e for e in emails_of(sdk) if e.lower() == original.lower()] == [original]
    updated = sdk.users_api.replace(
        user_id=original.lower(),
        id_property="EMAIL",
        public_user_update=PublicUserUpdate(role_id=roles["Viewer"]),
    )
    assert (updated.id, updated.role_id) == (created.id, roles["Viewer"])
    assert sdk.users_api.get_by_id(user_id=created.id).role_id == roles["Viewer"]
    sdk.users_api.archive(user_id=original, id_property="EMAIL")
    with pytest.raises(ApiException) as gone:
        sdk.users_api.get_by_id(user_id=original.lower(), id_property="EMAIL")
    assert gone.value.status == 404
    assert original not in emails_of(sdk)
