"""HubSpot's official Python SDK (hubspot-api-client), pointed at ``sandbox serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.settings.users import (  # type: ignore[import-untyped]
    ApiException,
    PublicUserUpdate,
    UserProvisionRequest,
)

from reconciler.sandbox.server import SandboxAPI, ServedSandbox, ServerSettings
from reconciler.sandbox.store import Store
from tests.served import ACTOR
from tests.test_server import PARTNER, TOKEN, snapshot


@pytest.fixture
def sdk(tmp_path: Path) -> Iterator[Any]:
    with Store(tmp_path / "sandbox.db") as store:
        store.seed(snapshot(staff=150), PARTNER)
        with ServedSandbox(SandboxAPI(store, ServerSettings(actor=ACTOR))) as server:
            yield HubSpot(access_token=TOKEN, host=server.url).settings.users


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


def test_the_sdk_creates_updates_and_deletes_a_user(sdk: Any) -> None:
    roles = {role.name: role.id for role in sdk.roles_api.get_all().results}
    teams = {team.name: team.id for team in sdk.teams_api.get_all().results}
    created = sdk.users_api.create(
        user_provision_request=UserProvisionRequest(
            email="sdk.user@acme.example",
            role_id=roles["Viewer"],
            primary_team_id=teams["Support"],
            send_welcome_email=True,
        )
    )
    assert created.id and created.send_welcome_email is True
    assert created.role_id == roles["Viewer"]
    updated = sdk.users_api.replace(
        user_id=created.id,
        public_user_update=PublicUserUpdate(
            role_id=roles["Sales Rep"], secondary_team_ids=[teams["Sales"]]
        ),
    )
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
        sdk.users_api.create(user_provision_request=UserProvisionRequest(email=ACTOR))
    assert duplicate.value.status == 409
    assert error_of(sdk, duplicate.value).category == "CONFLICT"
    with pytest.raises(ApiException) as invalid:
        sdk.users_api.create(
            user_provision_request=UserProvisionRequest(email="x@acme.example", role_id="999")
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
