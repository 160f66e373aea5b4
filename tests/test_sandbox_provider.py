"""The sandbox provider: opening (and auto-seeding) the database, reads, steps, errors, threads."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from reconciler.errors import ConfigError, ProviderError
from reconciler.model import SEATS, Config, DesiredAccount, ProviderConfig
from reconciler.providers.base import Provider
from reconciler.providers.sandbox import DEFAULT_PATH, SandboxProvider, sandbox_path
from reconciler.sandbox.store import Store
from reconciler.steps import STEP_TYPES, StepType
from tests.test_sandbox_store import ACME, ACTOR, ADMIN, BETA, GAMMA, PARTNER, SNAPSHOT, step


def config_for(base: Path, **options: object) -> Config:
    accounts = tuple(DesiredAccount(id=i, actor=ACTOR) for i in (ACME, BETA, GAMMA))
    return Config(PARTNER, accounts, ProviderConfig("sandbox", dict(options), str(base)))


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[SandboxProvider]:
    (tmp_path / "snapshot.yaml").write_text(yaml.safe_dump(SNAPSHOT, sort_keys=False))
    config = config_for(tmp_path, path="state/sandbox.db", snapshot="snapshot.yaml")
    with SandboxProvider(config) as provider:
        yield provider


def test_it_is_a_provider_that_executes_everything(provider: SandboxProvider) -> None:
    typed: Provider = provider
    assert typed.name == "sandbox"
    assert provider.capabilities.step_types == frozenset(STEP_TYPES)
    assert provider.capabilities.seats == frozenset(SEATS)
    assert provider.capabilities.executes(
        StepType.GRANT_PARTNER_ADMIN, {"access": "basic"}, {"access": "partner_admin"}
    )


def test_path_is_resolved_against_the_config_directory(tmp_path: Path) -> None:
    assert sandbox_path(ProviderConfig(base_dir=str(tmp_path))) == tmp_path / DEFAULT_PATH
    assert sandbox_path(ProviderConfig(options={"path": "x.db"}, base_dir="conf")) == Path(
        "conf/x.db"
    )
    absolute = tmp_path / "abs.db"
    assert (
        sandbox_path(ProviderConfig(options={"path": str(absolute)}, base_dir="conf")) == absolute
    )


def test_a_missing_database_is_seeded_from_the_snapshot(
    provider: SandboxProvider, tmp_path: Path
) -> None:
    assert (tmp_path / "state" / "sandbox.db").exists()
    state = provider.read_account(DesiredAccount(id=ACME, actor=ACTOR))
    assert state.partner_access == "granted"
    assert len(state.users) == 7
    assert provider.read_account(DesiredAccount(id=BETA, actor=ACTOR)).partner_access == "none"


def test_an_existing_database_is_not_reseeded(provider: SandboxProvider, tmp_path: Path) -> None:
    provider.execute(
        step(StepType.SET_NAME, "viewer@acme.example", {"first_name": None}, {"first_name": "Vi"}),
        DesiredAccount(id=ACME, actor=ACTOR),
    )
    provider.close()
    with SandboxProvider(
        config_for(tmp_path, path="state/sandbox.db", snapshot="snapshot.yaml")
    ) as again:
        state = again.read_account(DesiredAccount(id=ACME, actor=ACTOR))
        assert state.users["viewer@acme.example"].first_name == "Vi"


def test_a_bad_snapshot_is_a_config_error_and_creates_no_database(tmp_path: Path) -> None:
    (tmp_path / "snapshot.yaml").write_text("accounts:\n  - id: 1\n    users: []\n")
    with pytest.raises(ConfigError) as caught:
        SandboxProvider(config_for(tmp_path, snapshot="snapshot.yaml"))
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{tmp_path / 'snapshot.yaml'}:3:12: /accounts/0/users: account 1 has no Super Admin; "
        "it needs at least one"
    ]
    assert not (tmp_path / DEFAULT_PATH).exists()


def test_an_account_not_in_the_sandbox_is_a_provider_error(provider: SandboxProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.read_account(DesiredAccount(id=123, actor=ACTOR))
    assert str(caught.value) == (
        "account 123: not in the sandbox (seed it with `reconciler sandbox seed`)"
    )
    assert (caught.value.provider, caught.value.account, caught.value.retryable) == (
        "sandbox",
        123,
        False,
    )


def test_a_refused_step_is_a_provider_error_with_the_rule(provider: SandboxProvider) -> None:
    removal = step(
        StepType.REMOVE_USER,
        "ceo@acme.example",
        {"email": "ceo@acme.example", "access": "super_admin", "seat": "core"},
        None,
    )
    with pytest.raises(ProviderError) as caught:
        provider.execute(removal, DesiredAccount(id=ACME, actor=ACTOR))
    assert str(caught.value) == (
        "account 4410021: cannot remove ceo@acme.example: only a Super Admin can remove a Super "
        "Admin (automation@northwind.agency is not)"
    )
    assert not caught.value.retryable


def test_steps_run_as_the_accounts_actor(provider: SandboxProvider) -> None:
    promote = step(
        StepType.PROMOTE_SUPER_ADMIN,
        "sam@northwind.agency",
        {"access": "basic"},
        {"access": "super_admin"},
    )
    provider.execute(promote, DesiredAccount(id=ACME, actor=ADMIN))
    state = provider.read_account(DesiredAccount(id=ACME, actor=ACTOR))
    assert state.users["sam@northwind.agency"].access.kind == "super_admin"


def test_the_provider_can_be_used_from_many_threads(tmp_path: Path) -> None:
    many = copy.deepcopy(SNAPSHOT)
    many["accounts"] = [
        {
            "id": 9000 + i,
            "name": f"Client {i}",
            "users": [
                {"email": "ceo@client.example", "access": "super_admin", "seat": "none"},
                {"email": ACTOR, "access": "partner_admin", "seat": "partner"},
            ],
        }
        for i in range(16)
    ]
    (tmp_path / "snapshot.yaml").write_text(yaml.safe_dump(many))
    with SandboxProvider(config_for(tmp_path, snapshot="snapshot.yaml")) as provider:

        def work(account_id: int) -> int:
            desired = DesiredAccount(id=account_id, actor=ACTOR)
            for n in range(5):
                email = f"user{n}@northwind.agency"
                data = {"email": email, "access": "partner_admin", "seat": "partner"}
                provider.execute(step(StepType.CREATE_USER, email, None, data, account_id), desired)
            return len(provider.read_account(desired).users)

        with ThreadPoolExecutor(max_workers=4) as pool:
            counts = list(pool.map(work, range(9000, 9016)))
    assert counts == [7] * 16
    with Store(tmp_path / DEFAULT_PATH) as store:
        assert sum(1 for row in store.journal() if row["outcome"] == "ok") == 16 + 16 * 5
