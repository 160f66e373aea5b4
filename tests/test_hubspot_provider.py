"""The hubspot provider end to end: plan and apply over a real socket against ``sandbox serve``."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import plan as p
from reconciler.apply import ApplyReport, Status
from reconciler.engine import apply_plan, make_plan
from reconciler.errors import ProviderError, RateLimitError
from reconciler.model import AccountState, Config, DesiredAccount
from reconciler.plan import Plan
from reconciler.providers.base import Provider
from reconciler.providers.hubspot.client import RetryPolicy
from reconciler.providers.hubspot.provider import HubSpotProvider
from reconciler.providers.hubspot.versions import TOKEN_INFO, VERSIONS
from reconciler.providers.sandbox import SandboxProvider
from reconciler.sandbox.http.faults import Faults
from reconciler.sandbox.http.ratelimit import RateLimits
from reconciler.sandbox.http.request_log import LoggedRequest
from reconciler.sandbox.http.server import ServedSandbox
from reconciler.sandbox.http.settings import ServerSettings
from reconciler.sandbox.store import Store
from reconciler.steps import StepType
from tests.served import (
    ACTOR,
    FAST_RETRY,
    PARTNER,
    Fleet,
    FleetFiles,
    Recording,
    bulk_fleet,
    desired_account,
    rich_fleet,
    serving,
    token_env,
    token_for,
    user,
    write_fleet,
)

BETA = VERSIONS["2026-09-beta"]
USERS = BETA.collection


@contextmanager
def open_hubspot(
    files: FleetFiles, url: str, retry: RetryPolicy = FAST_RETRY, **options: Any
) -> Iterator[tuple[Config, HubSpotProvider]]:
    """The fleet's hubspot config for ``url``, and its provider, closed when the block ends."""
    config = files.hubspot_config(url, **options)
    with HubSpotProvider(config, retry=retry) as provider:
        yield config, provider


def applied(report: ApplyReport) -> list[p.Step]:
    return [o.step for a in report.accounts for o in a.outcomes if o.status == Status.APPLIED]


def assert_no_failure(report: ApplyReport) -> None:
    problems = [
        (a.account, a.error, [(o.step.type, o.step.user, o.message) for o in a.outcomes])
        for a in report.failed
    ]
    assert problems == []


def reference_state(files: FleetFiles, steps: list[p.Step]) -> dict[str, Any]:
    """The sandbox provider's end state after the same api steps, from the same snapshot."""
    from reconciler.config import load_config

    config = load_config(files.reference)
    with SandboxProvider(config) as provider:
        for step in steps:
            desired = config.account(step.account)
            assert desired is not None
            provider.execute(step, desired)
        return comparable(provider.store)


def comparable(store: Store) -> dict[str, Any]:
    data = store.export()
    for account in data["accounts"]:
        account.pop("tokens", None)
    return data


def only_people_left(plan: Plan) -> None:
    """Planning again leaves only steps for a person, each with its instructions."""
    assert plan.steps, "the fixture has manual steps"
    assert {s.channel for s in plan.steps} <= {"manual", "approval"}
    assert all(s.instructions for s in plan.steps)


def api_requests(log: list[LoggedRequest]) -> list[LoggedRequest]:
    return [r for r in log if not r.path.startswith("/__sandbox/")]


# -- plan and apply ------------------------------------------------------------------------


def test_apply_reaches_the_sandbox_providers_state_and_leaves_only_manual_steps(
    files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, store = served
    with open_hubspot(files, server.url) as (config, provider):
        typed: Provider = provider
        plan = make_plan(config, typed)
        assert not [a.error for a in plan.accounts if a.error]
        channels = Counter(s.channel for s in plan.steps)
        assert channels["api"] and channels["manual"] and channels["approval"]
        report = apply_plan(plan, config, provider)
        assert_no_failure(report)
        done = applied(report)
        assert len(done) == channels["api"]
        assert comparable(store) == reference_state(files, done)
        only_people_left(make_plan(config, provider))


def test_what_the_api_cannot_do_is_planned_for_a_person(
    files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    with open_hubspot(files, server.url) as (config, provider):
        plan = make_plan(config, provider)
    manual = {(s.type, s.user) for s in plan.steps if s.channel != "api"}
    assert manual == {
        (StepType.PROMOTE_SUPER_ADMIN, "boss@acme.example"),
        (StepType.SET_SEAT, "ana@northwind.agency"),  # the partner seat
        (StepType.GRANT_PARTNER_ADMIN, "ana@northwind.agency"),
        (StepType.CREATE_USER, "new3@northwind.agency"),  # as Partner Admin
        (StepType.CREATE_USER, "new4@acme.example"),  # with individual permissions
        (StepType.SET_SEAT, "owner@bluebird.example"),  # a paid seat; the actor is Partner Admin
        (StepType.SET_ACCESS, "staff@acme.example"),  # clearing a permission set: not documented
        (StepType.REQUEST_ACCESS, ACTOR),
    }


def test_current_state_reads_access_seats_teams_and_names_through_the_configured_names(
    files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    with open_hubspot(files, server.url) as (_, provider):
        state = provider.read_account(desired_account(5001))
        other = provider.read_account(desired_account(5002))
        cedar = provider.read_account(desired_account(5003))
    users = state.users
    assert users["ceo@acme.example"].access.kind == "super_admin"
    assert users["rep@acme.example"].access.role == "Sales Rep"
    assert users["rep@acme.example"].seat == "sales"
    assert users["rep@acme.example"].teams.primary == "Sales"
    assert users["ops@acme.example"].first_name == "Olive"
    assert users["ops@acme.example"].last_name is None
    assert other.users[ACTOR].access.kind == "partner_admin"
    assert other.users[ACTOR].seat == "partner"
    assert set(state.roles) == {"Marketing Manager", "Sales Rep", "Viewer"}
    assert state.teams == {"Marketing", "Sales", "Support"}
    assert dict(state.seats_owned) == {"core": 5, "sales": 2, "service": 1}
    assert state.partner_access == "granted"
    assert cedar.partner_access == "none"
    # Individual permissions are never readable through the public API.
    assert {f"{key}.permissions" for key in users} <= state.unknown


def test_a_seat_whose_hubspot_name_is_not_ours_is_unknown_and_stays_in_the_plan(
    files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    # The server calls it "View-Only Seat"; this config expects another name.
    names = {"view_only": "Viewer Seat"}
    with open_hubspot(files, server.url, seat_names=names) as (config, provider):
        state = provider.read_account(desired_account(5001))
        plan = make_plan(config, provider)
    assert "ops@acme.example.seat" in state.unknown
    assert "ceo@acme.example.seat" not in state.unknown
    # A seat it cannot read is never assumed to be the configured one: it stays a
    # step until it is read (or a person confirms it), never silently dropped.
    seats = {s.user: (s.before, s.after) for s in plan.steps if s.type == StepType.SET_SEAT}
    assert seats["ops@acme.example"] == ({"seat": "unknown"}, {"seat": "core"})
    assert seats["ana@northwind.agency"] == ({"seat": "unknown"}, {"seat": "partner"})
    acme = next(a for a in plan.accounts if a.account == 5001)
    assert acme.error is None
    assert not any("cannot read the seat of" in w for w in acme.warnings)


# -- counting requests at the server ----------------------------------------------------------


def test_reads_are_the_pages_roles_teams_details_and_seats_and_writes_one_per_api_step(
    files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    page_size = 40
    with open_hubspot(files, server.url, page_size=page_size) as (config, provider):
        users = {a["id"]: len(a["users"]) for a in files.fleet.current}
        plan = make_plan(config, provider)
        log = api_requests(server.api.requests())
        per_account: dict[int | None, Counter[str]] = {}
        for entry in log:
            assert entry.method == ("POST" if entry.path == TOKEN_INFO else "GET")
            assert entry.status == 200
            per_account.setdefault(entry.account, Counter())[entry.path] += 1
        for account, count in users.items():
            assert per_account[account] == {
                BETA.details: 1,
                TOKEN_INFO: 1,
                USERS: max(1, math.ceil(count / page_size)),
                BETA.roles: 1,
                BETA.teams: 1,
                BETA.seats: 1,
            }
        assert per_account[5004][USERS] == 6  # 231 users, 40 a page
        server.api.clear_requests()
        report = apply_plan(plan, config, provider)
    assert_no_failure(report)
    writes = api_requests(server.api.requests())
    api_steps = [s for s in plan.steps if s.channel == "api"]
    assert len(writes) == len(api_steps) == len(applied(report))
    expected = Counter(
        {StepType.CREATE_USER: "POST", StepType.REMOVE_USER: "DELETE"}.get(s.type, "PUT")
        for s in api_steps
    )
    assert Counter(w.method for w in writes) == expected
    assert all(w.status in (200, 201, 204) for w in writes)


def test_every_page_is_read_when_there_are_more_than_a_hundred_users(
    files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    with open_hubspot(files, server.url) as (_, provider):
        state = provider.read_account(desired_account(5004))
    assert len(state.users) == 231
    pages = [r for r in server.api.requests() if r.path == USERS]
    assert pages[0].query == "limit=100"
    assert len(pages) == 3


# -- faults on the wire ------------------------------------------------------------------------


FAULTS = {
    "429 storm, no Retry-After": (Faults(throttle_rate=0.35, seed=1), False),
    "5xx bursts": (Faults(error_rate=0.35, seed=2), True),
    "latency": (Faults(latency=0.02, seed=3), True),
    "dropped connections": (Faults(drop_rate=0.3, seed=4), True),
    "everything at once": (
        Faults(throttle_rate=0.1, error_rate=0.1, drop_rate=0.1, latency=0.005, seed=5),
        True,
    ),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_faults_end_in_the_desired_state_without_duplicate_users(
    name: str, files: FleetFiles
) -> None:
    faults, retry_after = FAULTS[name]
    settings = ServerSettings(limits=RateLimits(retry_after=retry_after), faults=faults)
    with serving(files, settings) as (server, store):
        with open_hubspot(files, server.url) as (config, provider):
            plan = make_plan(config, provider)
            assert not [a.error for a in plan.accounts if a.error]
            report = apply_plan(plan, config, provider)
            assert_no_failure(report)
            only_people_left(make_plan(config, provider))
        log = server.api.requests()
        journal = store.journal()
    assert comparable(store) == reference_state(files, applied(report))
    created = Counter(
        (e["account"], e["user"]) for e in journal if e["step_type"] == StepType.CREATE_USER
    )
    assert created and max(created.values()) == 1, "a create reached the store twice"
    assert not [r for r in log if r.status == 409]
    if faults.drop_rate:
        assert [r for r in log if r.dropped]


def test_a_create_whose_answer_was_lost_is_looked_up_before_it_is_sent_again(
    files: FleetFiles,
) -> None:
    # Every create's connection is dropped, half of the time after the user was
    # created: the provider must look before it sends the create again.
    faults = Faults(drop_rate=1.0, seed=7, methods=frozenset({"POST"}), paths=frozenset({USERS}))
    settings = ServerSettings(faults=faults)
    with serving(files, settings) as (server, store):
        with open_hubspot(files, server.url) as (config, provider):
            plan = make_plan(config, provider)
            create = next(
                s for s in plan.steps if s.type == StepType.CREATE_USER and s.channel == "api"
            )
            desired = config.account(create.account)
            assert desired is not None
            server.api.clear_requests()
            provider.execute(create, desired)
        log = server.api.requests()
        rows = [
            e
            for e in store.journal(create.account)
            if e["step_type"] == StepType.CREATE_USER and e["outcome"] == "ok"
        ]
    assert [e["user"] for e in rows] == [create.user]
    posts = [r for r in log if r.method == "POST" and r.path != TOKEN_INFO]
    assert posts and all(r.dropped for r in posts)
    lookups = [r for r in log if r.method == "GET"]
    assert len(lookups) == len(posts)  # one look after every lost create
    assert lookups[-1].status == 200 and all(r.status == 404 for r in lookups[:-1])


def test_the_servers_window_is_learnt_from_the_headers_and_retry_after_honoured(
    files: FleetFiles,
) -> None:
    settings = ServerSettings(limits=RateLimits(max_requests=4, interval_ms=400))
    with serving(files, settings) as (server, _):
        with open_hubspot(files, server.url, requests_per_10s=100) as (config, provider):
            report = apply_plan(make_plan(config, provider), config, provider)
            only_people_left(make_plan(config, provider))
        log = server.api.requests()
    assert_no_failure(report)
    throttled = [r for r in log if r.status == 429]
    # Only the first burst on each token, before any answer told the limits, can overflow.
    assert len(throttled) <= 4 * len(files.fleet.current)


def test_the_daily_limit_stops_the_account_without_retrying(files: FleetFiles) -> None:
    settings = ServerSettings(limits=RateLimits(daily=3))
    with (
        serving(files, settings) as (server, _),
        open_hubspot(files, server.url) as (_, provider),
    ):
        account = desired_account(5001)
        with pytest.raises(RateLimitError, match="daily limit") as caught:
            provider.read_account(account)
        assert not caught.value.retryable
        sent = len(server.api.requests())
        step = p.Step("x", 5001, StepType.SET_NAME, "ops@acme.example", {}, {"first_name": "O"}, "")
        with pytest.raises(RateLimitError, match="daily API limit"):
            provider.execute(step, account)
        assert len(server.api.requests()) == sent
    assert [r.status for r in server.api.requests()] == [200, 200, 200, 429]


# -- refusals ------------------------------------------------------------------------------


def test_a_token_for_another_portal_writes_nothing(
    files: FleetFiles, served: tuple[ServedSandbox, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, store = served
    before = comparable(store)["accounts"][0]
    monkeypatch.setenv(token_env(5001), token_for(5002))
    with open_hubspot(files, server.url) as (config, provider):
        plan = make_plan(config, provider)
        report = apply_plan(plan, config, provider)
    acme = next(a for a in plan.accounts if a.account == 5001)
    assert acme.error is not None
    assert f"token in {token_env(5001)} is for HubSpot account 5002, not 5001" in acme.error
    assert token_for(5002) not in acme.error
    assert next(a for a in report.accounts if a.account == 5001).failed
    assert comparable(store)["accounts"][0] == before
    bluebird = next(a for a in report.accounts if a.account == 5002)
    # Bluebird's token was used for both accounts; it wrote only Bluebird's own steps.
    writes = [
        r
        for r in server.api.requests()
        if r.method != "GET" and r.account == 5002 and r.path != TOKEN_INFO
    ]
    assert len(writes) == bluebird.count(Status.APPLIED) == 2


def test_a_missing_variable_is_named_and_nothing_is_sent(
    files: FleetFiles, served: tuple[ServedSandbox, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    monkeypatch.delenv(token_env(5002))
    with open_hubspot(files, server.url) as (_, provider):
        with pytest.raises(ProviderError, match=f"environment variable {token_env(5002)} is not"):
            provider.read_account(desired_account(5002))
        with pytest.raises(ProviderError, match="no token_env"):
            provider.read_account(DesiredAccount(5002, actor=ACTOR))
    assert server.api.requests() == []


def with_scopes(files: FleetFiles, account: int, scopes: list[str]) -> None:
    """Give one account's private app other scopes in the served snapshot."""
    snapshot = yaml.safe_load((files.root / "snapshot.yaml").read_text())
    for data in snapshot["accounts"]:
        if data["id"] == account:
            data["tokens"][0]["scopes"] = scopes
    (files.root / "snapshot.yaml").write_text(yaml.safe_dump(snapshot))


def test_a_token_without_write_scope_makes_every_step_manual_and_sends_no_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_fleet(rich_fleet(), tmp_path / "fleet", monkeypatch)
    with_scopes(files, 5002, ["settings.users.read", "settings.users.teams.read"])
    with serving(files) as (server, _):
        with open_hubspot(files, server.url) as (config, provider):
            plan = make_plan(config, provider)
            report = apply_plan(plan, config, provider)
        log = server.api.requests()
    bluebird = next(a for a in plan.accounts if a.account == 5002)
    assert bluebird.steps and {s.channel for s in bluebird.steps} == {"manual"}
    # A step the API could do says it is the token that cannot.
    assert any(
        "this account's token does not have the settings.users.write scope"
        in (s.manual_reason or "")
        for s in bluebird.steps
    )
    assert not [r for r in log if r.account == 5002 and r.method in ("PUT", "DELETE")]
    assert not [r for r in log if r.status == 403]
    assert not [a for a in report.accounts if a.failed]


def test_other_4xx_are_not_retried_and_carry_hubspots_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scopes allow writing users but not billing; a permission set with a paid seat
    # needs billing too, which only HubSpot's 403 tells.
    files = write_fleet(rich_fleet(), tmp_path / "fleet", monkeypatch)
    scopes = ["settings.users.read", "settings.users.write", "settings.users.teams.read"]
    with_scopes(files, 5002, scopes)
    create = p.Step(
        "x",
        5002,
        StepType.CREATE_USER,
        "new@bluebird.example",
        None,
        user("new@bluebird.example", {"role": "Sales Rep"}, "unknown"),
        "",
    )
    with serving(files) as (server, store):
        with (
            open_hubspot(files, server.url) as (_, provider),
            pytest.raises(ProviderError) as caught,
        ):
            provider.execute(create, desired_account(5002))
        log = server.api.requests()
        assert store.get_user_by_email(5002, "new@bluebird.example") is None
    message = str(caught.value)
    assert "403 MISSING_SCOPES" in message and "settings.billing.write" in message
    assert "correlationId" in message
    assert token_for(5002) not in message
    refused = [r for r in log if r.status == 403]
    assert len(refused) == 1  # never retried


def test_turning_off_super_admin_is_a_manual_step_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = Fleet(
        current=[
            {
                "id": 6001,
                "roles": [{"name": "Viewer"}],
                "users": [
                    user(ACTOR, "super_admin", "none"),
                    user("old@client.example", "super_admin", "none"),
                ],
            }
        ],
        desired=[{"id": 6001, "users": [user("old@client.example", {"role": "Viewer"}, "none")]}],
    )
    files = write_fleet(fleet, tmp_path / "fleet", monkeypatch)
    with serving(files) as (server, _):
        with open_hubspot(files, server.url) as (config, provider):
            plan = make_plan(config, provider)
            server.api.clear_requests()
            report = apply_plan(plan, config, provider)
        log = server.api.requests()
    (step,) = plan.steps
    assert (step.type, step.channel) == (StepType.SET_ACCESS, "manual")
    assert "the hubspot API cannot make old@client.example role 'Viewer'" in (
        step.manual_reason or ""
    )
    assert step.instructions
    (outcome,) = report.accounts[0].outcomes
    assert outcome.status == Status.PENDING
    assert log == []


def test_capabilities_follow_the_version_and_the_tokens_scopes(tmp_path: Path) -> None:
    files = bulk_fleet(1, 1).write(tmp_path / "fleet")
    for name in ("v3", "2026-03"):
        config = files.hubspot_config("http://127.0.0.1:9", api_version=name)
        with HubSpotProvider(config) as without_seats:
            caps = without_seats.capabilities
        assert StepType.SET_SEAT not in caps.step_types and caps.seats == frozenset()
        # A create goes through; its seat is a step of its own.
        assert caps.executes(StepType.CREATE_USER, None, user("a@b.example", "basic", "unknown"))
        assert not caps.executes(StepType.CREATE_USER, None, user("a@b.example", "basic", "core"))
    config = files.hubspot_config("http://127.0.0.1:9")
    with HubSpotProvider(config) as provider:
        caps = provider.capabilities
        assert caps.seats == {"none", "core", "sales", "service", "view_only"}
        assert caps.access == {"role", "basic"}
        # Clearing what no version documents how to clear is for a person.
        assert not caps.executes(
            StepType.SET_ACCESS, {"access": {"role": "Viewer"}}, {"access": "basic"}
        )
        assert not caps.executes(
            StepType.SET_TEAMS, {"teams": {"primary": "Sales"}}, {"teams": {"secondary": ["Sales"]}}
        )
        assert caps.executes(
            StepType.SET_TEAMS, {"teams": {"primary": "Sales"}}, {"teams": {"primary": "Support"}}
        )
        # The token's scopes narrow them, account by account.
        scoped = AccountState(7000, grants=frozenset({"settings.users.write"}))
        no_billing = caps.for_account(scoped)
        assert no_billing.seats == {"none", "view_only"}
        assert not no_billing.executes(StepType.SET_SEAT, {"seat": "none"}, {"seat": "core"})
        read_only = caps.for_account(AccountState(7000, grants=frozenset({"settings.users.read"})))
        assert not read_only.executes(StepType.SET_NAME, {"first_name": "A"}, {"first_name": "B"})
        assert caps.for_account(AccountState(7000)) is caps
        assert caps.executes(StepType.SET_SEAT, {"seat": "none"}, {"seat": "core"})
        assert not caps.executes(StepType.SET_SEAT, {"seat": "core"}, {"seat": "partner"})
        assert not caps.executes(StepType.SET_SEAT, {"seat": "partner"}, {"seat": "core"})
        assert caps.executes(StepType.SET_SEAT, {"seat": "core"}, {"seat": "sales"})
        assert not caps.executes(
            StepType.PROMOTE_SUPER_ADMIN, {"access": "basic"}, {"access": "super_admin"}
        )
        # Turning Super Admin off is as far beyond the API as turning it on.
        assert not caps.executes(
            StepType.SET_ACCESS, {"access": "super_admin"}, {"access": "basic"}
        )
        assert caps.executes(
            StepType.SET_ACCESS, {"access": "basic"}, {"access": {"role": "Sales"}}
        )
        assert not caps.executes(
            StepType.SET_PERMISSIONS,
            {"permissions": {}},
            {"permissions": {"add": ["reports.view"]}},
        )
        user_data = user("a@b.example", "basic", "core")
        assert caps.executes(StepType.CREATE_USER, None, user_data)
        with_overrides = {**user_data, "permissions": {"add": ["reports.view"], "remove": []}}
        assert not caps.executes(StepType.CREATE_USER, None, with_overrides)
        assert caps.executes(
            StepType.REMOVE_USER, user("p@n.agency", "partner_admin", "partner"), None
        )
        assert not caps.executes(
            StepType.REMOVE_USER, user("c@b.example", "super_admin", "core"), None
        )
        assert provider.parallelism == 32  # accounts have their own tokens and limits
        # A step beyond them is refused before anything is sent (port 9 answers nothing).
        demote = p.Step(
            "x",
            7000,
            StepType.SET_ACCESS,
            "c@b.example",
            {"access": "super_admin"},
            {"access": {"role": "Viewer"}},
            "",
        )
        with pytest.raises(ProviderError, match="step for a person"):
            provider.execute(demote, DesiredAccount(7000, actor=ACTOR))


# -- seats per API version: plan, apply, plan again ------------------------------------------


def seat_fleet() -> Fleet:
    """Seat changes of every kind the API could make, and nothing a person must do."""
    current = {
        "id": 8001,
        "name": "Harbor",
        "seats_owned": {"core": 2, "sales": 2, "service": 1},
        "roles": [{"name": "Viewer", "permissions": ["reports.view"]}],
        "teams": ["Support"],
        "users": [
            user(ACTOR, "super_admin", "none"),
            user("moves@harbor.example", "basic", "core"),
            user("frees@harbor.example", "basic", "sales"),
            user("views@harbor.example", {"role": "Viewer"}, "none"),
        ],
    }
    desired = {
        "id": 8001,
        "name": "Harbor",
        "users": [
            user("moves@harbor.example", "basic", "sales"),
            user("frees@harbor.example", "basic", "none"),
            user("views@harbor.example", {"role": "Viewer"}, "view_only"),
            user("New.Person+ops@Harbor.example", "basic", "service", first_name="Nia"),
            user("plain@harbor.example", {"role": "Viewer"}, "core"),
        ],
    }
    return Fleet([current], [desired])


def declared_seats(files: FleetFiles) -> dict[str, str]:
    return {
        u["email"].lower(): u["seat"]
        for a in files.fleet.desired
        for u in a["users"]
        if "seat" in u
    }


@dataclass
class Cycle:
    """Plan, apply, plan again through ``sandbox serve``, every request recorded."""

    first: Plan
    report: ApplyReport
    second: Plan
    seats: dict[str, str]
    sent: list[tuple[str, str, Any]]


def plan_apply_plan(files: FleetFiles, api_version: str) -> Cycle:
    recording = Recording()
    with serving(files) as (server, store):
        config = files.hubspot_config(server.url, api_version=api_version)
        with HubSpotProvider(config, retry=FAST_RETRY, transport=recording) as provider:
            first = make_plan(config, provider)
            report = apply_plan(first, config, provider)
            second = make_plan(config, provider)
        seats = {u["email"].lower(): u["seat"] for u in store.export()["accounts"][0]["users"]}
    sent = [
        (r.method, r.url.path, json.loads(r.content) if r.content else None) for r in recording.sent
    ]
    return Cycle(first, report, second, seats, sent)


def test_without_seats_in_the_api_no_seat_is_sent_and_none_is_silently_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_fleet(seat_fleet(), tmp_path / "fleet", monkeypatch)
    cycle = plan_apply_plan(files, "v3")
    first, second, seats = cycle.first, cycle.second, cycle.seats
    assert_no_failure(cycle.report)
    # No request carries a seat, and every path is v3's.
    assert cycle.sent
    for method, path, body in cycle.sent:
        assert not (isinstance(body, dict) and "seatNames" in body), (method, path, body)
        assert path.startswith(("/settings/v3/users/", "/account-info/v3/", TOKEN_INFO))
    # Users were created and changed by API; their seats are steps for a person...
    assert {(s.type, s.channel) for s in first.steps if s.type != StepType.SET_SEAT} <= {
        (StepType.CREATE_USER, "api"),
    }
    # ...and every desired seat is either in the account or still in the second plan.
    still = {s.user.lower(): s.after["seat"] for s in second.steps if s.type == StepType.SET_SEAT}
    for email, seat in declared_seats(files).items():
        assert seats.get(email) == seat or still.get(email) == seat, email
    assert {s.channel for s in second.steps} == {"manual"}
    assert all(s.before == {"seat": "unknown"} for s in second.steps)


def test_a_confirmed_seat_leaves_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = seat_fleet()
    for desired_user in fleet.desired[0]["users"]:
        desired_user["seat_confirmed"] = desired_user["seat"]
    files = write_fleet(fleet, tmp_path / "fleet", monkeypatch)
    with serving(files) as (server, _):
        config = files.hubspot_config(server.url, api_version="2026-03")
        with HubSpotProvider(config, retry=FAST_RETRY) as provider:
            plan = make_plan(config, provider)
    # Users that exist and whose seat a person confirmed have no seat step; a user
    # still to be created gets its seat set (by a person) after the create.
    seat_steps = {s.user for s in plan.steps if s.type == StepType.SET_SEAT}
    assert seat_steps == {s.user for s in plan.steps if s.type == StepType.CREATE_USER}
    assert seat_steps == {"New.Person+ops@Harbor.example", "plain@harbor.example"}


def test_with_seats_in_the_api_seats_are_applied_and_the_second_plan_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_fleet(seat_fleet(), tmp_path / "fleet", monkeypatch)
    cycle = plan_apply_plan(files, "2026-09-beta")
    assert_no_failure(cycle.report)
    assert {s.channel for s in cycle.first.steps} == {"api"}
    assert any(isinstance(b, dict) and "seatNames" in b for _, _, b in cycle.sent)
    assert cycle.second.steps == ()
    for email, seat in declared_seats(files).items():
        assert cycle.seats[email] == seat


def test_import_through_the_api_gives_a_config_that_validates(
    files: FleetFiles, served: tuple[ServedSandbox, Store], tmp_path: Path
) -> None:
    from reconciler.config import check_config
    from reconciler.importer import import_document

    server, _ = served
    with open_hubspot(files, server.url) as (config, provider):
        states = [provider.read_account(desired_account(a)) for a in (5001, 5002)]
    out = tmp_path / "imported"
    out.mkdir()
    (out / "accounts.yaml").write_text(import_document(states, config))
    partner = {"version": 1, "partner": PARTNER}
    (out / "partner.yaml").write_text(yaml.safe_dump(partner))
    assert [str(d) for d in check_config(out).diagnostics] == []


def test_without_the_billing_scope_paid_seats_are_for_a_person_and_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_fleet(seat_fleet(), tmp_path / "fleet", monkeypatch)
    scopes = ["settings.users.read", "settings.users.write", "settings.users.teams.read"]
    with_scopes(files, 8001, scopes)
    cycle = plan_apply_plan(files, "2026-09-beta")
    assert_no_failure(cycle.report)
    paid = [s for s in cycle.first.steps if s.type == StepType.SET_SEAT and s.channel == "manual"]
    assert paid
    for step in paid:
        assert "this account's token does not have the settings.billing.write scope" in (
            step.manual_reason or ""
        )
    # No seats list without the scope: paid seat counts are unknown, not zero.
    assert not [m for m, path, _ in cycle.sent if path == BETA.seats]
    # Free seats still go by API.
    assert any(
        s.type == StepType.SET_SEAT and s.channel == "api" and s.after == {"seat": "view_only"}
        for s in cycle.first.steps
    )


def test_a_name_is_changed_by_api_and_cleared_by_a_person(tmp_path: Path) -> None:
    files = bulk_fleet(1, 1).write(tmp_path / "fleet")
    with HubSpotProvider(files.hubspot_config("http://127.0.0.1:9")) as provider:
        caps = provider.capabilities
    unset = {"first_name": "Sam", "last_name": None}
    assert caps.executes(StepType.SET_NAME, unset, {"first_name": "Alpha", "last_name": None})
    assert not caps.executes(StepType.SET_NAME, unset, {"first_name": None, "last_name": None})
