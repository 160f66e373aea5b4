"""Fleets for the hubspot provider's tests and benchmark, and a served sandbox to point it at.

A fleet is written under a directory as: the snapshot (current state, each
account with a real-looking token), the config that ``sandbox serve`` serves
(``provider: sandbox``), a second sandbox config over its own database (the
reference the hubspot provider is compared with) and, once the server's URL is
known, the config the hubspot provider runs with (``provider: hubspot``,
``token_env`` per account). Tokens go into the environment, never into a config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from reconciler.config import load_config
from reconciler.model import Config, DesiredAccount
from reconciler.providers.hubspot.client import RetryPolicy
from reconciler.providers.hubspot.versions import DEFAULT_SEAT_NAMES
from reconciler.providers.sandbox import open_store
from reconciler.sandbox.http.server import SandboxAPI, ServedSandbox
from reconciler.sandbox.http.settings import ServerSettings
from reconciler.sandbox.store import Store

if TYPE_CHECKING:  # the benchmark imports this module without pytest
    import pytest

ACTOR = "automation@northwind.agency"
PARTNER = {
    "name": "Northwind Digital",
    "employee_domains": ["northwind.agency"],
    "actor": ACTOR,
}
SCOPES = [
    "settings.users.read",
    "settings.users.write",
    "settings.users.teams.read",
    "settings.billing.write",
]
#: Retries that do not make tests wait: the server's faults are seeded and frequent.
FAST_RETRY = RetryPolicy(max_retries=25, base_delay=0.005, max_delay=0.05)


class Recording(httpx.BaseTransport):
    """The provider's real requests, as sent, on their way to the server."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def token_for(account: int) -> str:
    """A value shaped like a HubSpot private app token, different for every account."""
    h = hashlib.sha256(f"token {account}".encode()).hexdigest()
    return f"pat-na1-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def token_env(account: int) -> str:
    return f"HUBSPOT_TOKEN_{account}"


@dataclass
class Fleet:
    """Current state (snapshot accounts, without tokens) and desired state (config accounts)."""

    current: list[dict[str, Any]] = field(default_factory=list)
    desired: list[dict[str, Any]] = field(default_factory=list)

    def write(self, root: Path) -> FleetFiles:
        root.mkdir(parents=True, exist_ok=True)
        snapshot = {
            "version": 1,
            "accounts": [
                {**a, "tokens": [{"value": token_for(a["id"]), "scopes": SCOPES}]}
                for a in self.current
            ],
        }
        (root / "snapshot.yaml").write_text(yaml.safe_dump(snapshot, sort_keys=False))
        files = FleetFiles(root, self)
        # One file each beside the snapshot: a snapshot is read only from inside the
        # configuration directory.
        for name in ("served", "reference"):
            provider = {"type": "sandbox", "path": f"{name}.db", "snapshot": "snapshot.yaml"}
            (root / f"{name}.yaml").write_text(
                yaml.safe_dump(files.config(provider), sort_keys=False)
            )
        return files


@dataclass
class FleetFiles:
    root: Path
    fleet: Fleet

    @property
    def served(self) -> Path:
        """The config ``sandbox serve`` serves."""
        return self.root / "served.yaml"

    @property
    def reference(self) -> Path:
        """A sandbox-provider config over its own copy of the same current state."""
        return self.root / "reference.yaml"

    @property
    def hubspot(self) -> Path:
        return self.root / "hubspot"

    def environment(self) -> dict[str, str]:
        return {token_env(a["id"]): token_for(a["id"]) for a in self.fleet.current}

    def config(self, provider: Mapping[str, Any]) -> dict[str, Any]:
        accounts = [{**a, "token_env": token_env(a["id"])} for a in self.fleet.desired]
        return {
            "version": 1,
            "partner": PARTNER,
            "provider": dict(provider),
            "defaults": {"max_removals": "50%"},
            "accounts": accounts,
        }

    def write_config(self, name: str, provider: Mapping[str, Any]) -> Path:
        directory = self.root / name
        directory.mkdir(exist_ok=True)
        config = self.config(provider)
        (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return directory

    def hubspot_config(self, base_url: str, **options: Any) -> Config:
        """Write the hubspot provider's config for a server at ``base_url`` and load it."""
        # The beta, where seats are in the API, unless a test names another version.
        provider = {
            "type": "hubspot",
            "base_url": base_url,
            "api_version": "2026-09-beta",
            "partner_admin_role": "Partner Admin",
            "seat_names": dict(DEFAULT_SEAT_NAMES),
            **options,
        }
        return load_config(self.write_config("hubspot", provider))


def write_fleet(fleet: Fleet, root: Path, monkeypatch: pytest.MonkeyPatch) -> FleetFiles:
    """The fleet's files under ``root``, its tokens in the environment."""
    files = fleet.write(root)
    for name, value in files.environment().items():
        monkeypatch.setenv(name, value)
    return files


def desired_account(account: int) -> DesiredAccount:
    """An account as the hubspot provider reads it: the actor, and the token's variable."""
    return DesiredAccount(account, actor=ACTOR, token_env=token_env(account))


@contextmanager
def serving(
    files: FleetFiles, settings: ServerSettings | None = None
) -> Iterator[tuple[ServedSandbox, Store]]:
    """``sandbox serve`` in a thread over the fleet's served database (seeded on first use)."""
    config = load_config(files.served)
    store = open_store(config)
    try:
        api = SandboxAPI(store, replace(settings or ServerSettings(), actor=config.partner.actor))
        with ServedSandbox(api) as server:
            yield server, store
    finally:
        store.close()


def user(email: str, access: Any = "basic", seat: str = "none", **extra: Any) -> dict[str, Any]:
    return {"email": email, "access": access, "seat": seat, **extra}


def rich_fleet() -> Fleet:
    """Every kind of step the hubspot provider meets, api and manual, in four accounts.

    5001: the actor is a Super Admin: creates, a removal, role, seat, team and
    name changes by API; Partner Admin, Super Admin and individual permissions
    by hand. 5002: the actor is a Partner Admin: paid seats by hand. 5003: no
    partner access yet. 5004: more users than a page holds.
    """
    roles = [
        {"name": "Marketing Manager", "permissions": ["marketing.access", "reports.view"]},
        {"name": "Sales Rep", "seat": "sales", "permissions": ["sales.access"]},
        {"name": "Viewer", "permissions": ["reports.view"]},
    ]
    teams = ["Marketing", "Sales", "Support"]
    current = [
        {
            "id": 5001,
            "name": "Acme",
            "seats_owned": {"core": 5, "sales": 2, "service": 1},
            "roles": roles,
            "teams": teams,
            "users": [
                user(ACTOR, "super_admin", "core", first_name="Northwind", last_name="Bot"),
                user("ceo@acme.example", "super_admin", "core", first_name="Dana"),
                user("ops@acme.example", "basic", "view_only", first_name="Olive"),
                user(
                    "rep@acme.example",
                    {"role": "Sales Rep"},
                    "sales",
                    teams={"primary": "Sales"},
                ),
                user("leaver@acme.example", "basic", "view_only", last_name="Vance"),
                user("ana@northwind.agency", "basic", "view_only"),
                user("boss@acme.example", "basic", "core"),
                user("staff@acme.example", {"role": "Viewer"}, "view_only"),
            ],
        },
        {
            "id": 5002,
            "name": "Bluebird",
            "seats_owned": {"core": 2, "sales": 1},
            "roles": roles,
            "teams": teams,
            "users": [
                user(ACTOR, "partner_admin", "partner"),
                user("owner@bluebird.example", "super_admin", "core"),
                user("jo@bluebird.example", "basic", "view_only"),
            ],
        },
        {
            "id": 5003,
            "name": "Cedar",
            "roles": roles,
            "teams": teams,
            "users": [user("owner@cedar.example", "super_admin", "none")],
        },
        {
            "id": 5004,
            "name": "Driftwood",
            "seats_owned": {"core": 1},
            "roles": roles,
            "teams": teams,
            "users": [
                user(ACTOR, "super_admin", "core"),
                *(
                    user(f"staff{n:03d}@driftwood.example", "basic", "view_only")
                    for n in range(230)
                ),
            ],
        },
    ]
    desired = [
        {
            "id": 5001,
            "name": "Acme",
            "users": [
                user(ACTOR, "super_admin", "core"),
                user("ceo@acme.example", "super_admin", "core"),
                {
                    "email": "ops@acme.example",
                    "access": {"role": "Marketing Manager"},
                    "seat": "core",
                    "first_name": "Olivia",
                    "last_name": "Ops",
                    "teams": {"primary": "Marketing", "secondary": ["Support"]},
                },
                user("rep@acme.example", {"role": "Sales Rep"}, "sales"),
                {"email": "leaver@acme.example", "state": "absent"},
                user("ana@northwind.agency", "partner_admin", "partner"),
                user("boss@acme.example", "super_admin", "core"),
                user("staff@acme.example", "basic", "view_only"),
                user(
                    "new1@acme.example",
                    {"role": "Viewer"},
                    "view_only",
                    first_name="Nia",
                    last_name="One",
                    teams={"primary": "Support", "secondary": ["Sales"]},
                ),
                user("new2@acme.example", "basic", "sales", first_name="Ned"),
                user("new3@northwind.agency", "partner_admin", "partner"),
                user(
                    "new4@acme.example",
                    "basic",
                    "view_only",
                    permissions={"add": ["reports.view"]},
                ),
            ],
        },
        {
            "id": 5002,
            "name": "Bluebird",
            "users": [
                user("owner@bluebird.example", "super_admin", "view_only"),
                user("jo@bluebird.example", {"role": "Viewer"}, "view_only"),
                user("new@bluebird.example", {"role": "Marketing Manager"}, "view_only"),
            ],
        },
        {
            "id": 5003,
            "name": "Cedar",
            "users": [user("someone@cedar.example", "basic", "view_only")],
        },
        {
            "id": 5004,
            "name": "Driftwood",
            "users": [
                user(f"new{n:02d}@driftwood.example", "basic", "view_only", first_name=f"N{n}")
                for n in range(12)
            ],
        },
    ]
    return Fleet(current, desired)


def bulk_fleet(accounts: int, creates: int, first_id: int = 7000) -> Fleet:
    """``accounts`` accounts where the plan is ``creates`` user creates each, all by API."""
    fleet = Fleet()
    for index in range(accounts):
        account = first_id + index
        fleet.current.append(
            {
                "id": account,
                "name": f"Client {index}",
                "roles": [{"name": "Viewer", "permissions": ["reports.view"]}],
                "teams": ["Support"],
                "users": [user(ACTOR, "super_admin", "none")],
            }
        )
        fleet.desired.append(
            {
                "id": account,
                "name": f"Client {index}",
                "users": [
                    user(
                        f"user{n:04d}@client{index}.example",
                        {"role": "Viewer"},
                        "view_only",
                        first_name=f"User{n}",
                        teams={"primary": "Support"},
                    )
                    for n in range(creates)
                ],
            }
        )
    return fleet
