"""Current state as config YAML (``reconciler import``).

Every user is written with every field the provider could read, so planning the
imported config against the same state gives an empty plan. Empty lists are
left out; what only config knows (an account's actor override, ``token_env``)
comes from the config the import ran with.
"""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.model import AccountState, Config, User


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


def account_config(state: AccountState, config: Config) -> dict[str, Any]:
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
    account["users"] = [user_config(state.users[k], state.unknown) for k in sorted(state.users)]
    return account


def dump(accounts: list[dict[str, Any]], header: str) -> str:
    body = yaml.safe_dump({"accounts": accounts}, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def import_document(states: list[AccountState], config: Config) -> str:
    """Every account in one YAML document (for standard output)."""
    ordered = sorted(states, key=lambda s: s.id)
    header = f"# Imported from the current state of {len(ordered)} accounts.\n"
    return dump([account_config(s, config) for s in ordered], header)


def import_documents(states: list[AccountState], config: Config) -> list[tuple[int, str]]:
    """One YAML document per account (for ``--out DIR``)."""
    return [
        (
            s.id,
            dump(
                [account_config(s, config)],
                f"# Imported from the current state of account {s.id} ({s.name}).\n",
            ),
        )
        for s in sorted(states, key=lambda s: s.id)
    ]
