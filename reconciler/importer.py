"""Current state as config YAML (``reconciler import``, and ``import --init``).

Every user is written with every field the provider could read, so planning the
imported config against the same state gives an empty plan. Empty lists are
left out; what only config knows (an account's actor override, ``token_env``,
its settings) comes from the config the import ran with. ``--init`` writes a
whole configuration: those blocks of that config besides the accounts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.desired import (
    DEFAULT_MAX_REMOVALS,
    DEFAULT_MIN_SUPER_ADMINS,
    DEFAULT_UNMANAGED,
    removal_limit,
)
from reconciler.config.loader import read_document
from reconciler.model import AccountState, Config, DesiredAccount, User
from reconciler.render import plural

#: Top-level keys ``--init`` does not copy: accounts are imported; profiles are
#: written out into each user; the version is written anew.
_NOT_COPIED = frozenset({"accounts", "profiles", "version"})
#: Partner-block lists of changes to every account (who leaves, who every account
#: gets): left out of ``--init``, whose accounts hold just what they hold now.
FLEET_LISTS = ("leavers", "users")


def user_config(user: User, unknown: frozenset[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"email": user.email}
    if user.first_name is not None:
        data["first_name"] = user.first_name
    if user.last_name is not None:
        data["last_name"] = user.last_name
    if f"{user.key}.access" not in unknown:
        data["access"] = user.access.to_data()
    if f"{user.key}.seat" not in unknown:
        data["seat"] = user.seat
    if user.teams.names():
        teams: dict[str, Any] = {"primary": user.teams.primary}
        if user.teams.secondary:
            teams["secondary"] = list(user.teams.secondary)
        data["teams"] = teams
    if user.permissions:
        data["permissions"] = {k: v for k, v in user.permissions.to_data().items() if v}
    return data


def account_config(
    state: AccountState, config: Config, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """One account as config; ``defaults``: the config's ``defaults`` block, as written."""
    desired = config.account(state.id)
    account: dict[str, Any] = {"id": state.id}
    # HubSpot's API gives no account name: keep the config's, or leave it out.
    name = state.name or (desired.name if desired is not None else "")
    if name:
        account["name"] = name
    if desired is not None and desired.actor and desired.actor != config.partner.actor:
        account["actor"] = desired.actor
    if desired is not None and desired.token_env:
        account["token_env"] = desired.token_env
    if desired is not None:
        account.update(_settings(desired, defaults))
    account["users"] = [user_config(state.users[k], state.unknown) for k in sorted(state.users)]
    return account


def dump(accounts: list[dict[str, Any]], header: str) -> str:
    body = yaml.safe_dump({"accounts": accounts}, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def import_document(states: list[AccountState], config: Config) -> str:
    """Every account in one YAML document (for standard output)."""
    ordered = sorted(states, key=lambda s: s.id)
    header = f"# Imported from the current state of {plural(len(ordered), 'account')}.\n"
    defaults = config_blocks(config).get("defaults") or {}
    return dump([account_config(s, config, defaults) for s in ordered], header)


def import_documents(states: list[AccountState], config: Config) -> list[tuple[int, str]]:
    """One YAML document per account (for ``--out DIR``)."""
    defaults = config_blocks(config).get("defaults") or {}
    return [
        (
            s.id,
            dump(
                [account_config(s, config, defaults)],
                f"# Imported from the current state of account {s.id} ({s.name}).\n",
            ),
        )
        for s in sorted(states, key=lambda s: s.id)
    ]


def _settings(desired: DesiredAccount, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The account's own settings: those that differ from what ``defaults`` gives it."""
    settings: dict[str, Any] = {}
    if desired.unmanaged_users != defaults.get("unmanaged_users", DEFAULT_UNMANAGED):
        settings["unmanaged_users"] = desired.unmanaged_users
    if desired.min_super_admins != defaults.get("min_super_admins", DEFAULT_MIN_SUPER_ADMINS):
        settings["min_super_admins"] = desired.min_super_admins
    limit = desired.max_removals
    if limit != removal_limit(defaults.get("max_removals", DEFAULT_MAX_REMOVALS)):
        settings["max_removals"] = limit.count if limit.count is not None else str(limit)
    return settings


def config_blocks(config: Config) -> dict[str, Any]:
    """The config's blocks other than accounts and profiles, as written (``partner``, ...).

    Only files with such a key at their top are parsed again, not the account files.
    """
    blocks: dict[str, Any] = {}
    for file in config.files:
        try:
            raw = Path(file).read_bytes()
        except OSError:
            continue
        keys = {key.decode() for key in _TOP_KEY.findall(raw)}
        if not keys - _NOT_COPIED and not raw.lstrip().startswith(b"{"):
            continue
        document, _ = read_document(file)
        data = document.data if document is not None else {}
        blocks.update({k: v for k, v in data.items() if k not in _NOT_COPIED and k not in blocks})
    return blocks


_TOP_KEY = re.compile(rb"^([A-Za-z_][A-Za-z0-9_]*)\s*:", re.MULTILINE)


def init_documents(
    states: list[AccountState], config: Config, directory: str, database: Path | None
) -> list[tuple[str, str]]:
    """A whole configuration for ``directory``: (relative file name, text) pairs.

    ``config.yaml`` holds the partner, provider and defaults blocks of ``config``
    (and any other block but accounts and profiles); ``accounts/ID.yaml`` one
    account each. ``database``: the sandbox database, named relative to
    ``directory`` so the new config reads the same accounts; its snapshot is left
    out (the database exists, and is what was imported).
    """
    blocks = dict(config_blocks(config))
    provider = dict(blocks.get("provider") or {"type": config.provider.type})
    if database is not None:
        provider.pop("snapshot", None)
        provider["path"] = os.path.relpath(database.resolve(), Path(directory).resolve())
    blocks["provider"] = provider
    header = (
        f"# Written by reconciler import --init from the current state of"
        f" {plural(len(states), 'account')}, one file each in accounts/.\n"
    )
    partner = dict(blocks.get("partner") or {})
    dropped = [key for key in FLEET_LISTS if partner.pop(key, None) is not None]
    if dropped:
        # They say what every account should hold; the accounts say what each holds now.
        names = " and ".join(f"partner.{key}" for key in dropped)
        header += f"# Left out: {names} (each account below lists the users it holds now).\n"
        blocks["partner"] = partner
    body = yaml.safe_dump({"version": 1, **blocks}, sort_keys=False, allow_unicode=True, width=100)
    files = [("config.yaml", header + body)]
    files += [
        (f"accounts/{account}.yaml", text) for account, text in import_documents(states, config)
    ]
    return files
