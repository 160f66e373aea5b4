"""Current state as config YAML (``reconciler import``): one document per account.

Every user is written with every field the provider could read, so planning the
imported config against the same state gives an empty plan.
"""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.model import AccountState, Config, DesiredAccount, User


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
        data["teams"] = {"primary": user.teams.primary, "secondary": list(user.teams.secondary)}
    if user.permissions:
        data["permissions"] = user.permissions.to_data()
    return data


def import_document(
    state: AccountState, desired: DesiredAccount | None = None, partner_actor: str = ""
) -> str:
    """``desired`` supplies what only config knows: the actor override and ``token_env``."""
    account: dict[str, Any] = {"id": state.id, "name": state.name}
    if desired is not None and desired.actor and desired.actor != partner_actor:
        account["actor"] = desired.actor
    if desired is not None and desired.token_env:
        account["token_env"] = desired.token_env
    account["users"] = [user_config(state.users[k], state.unknown) for k in sorted(state.users)]
    header = f"# Imported from the current state of account {state.id} ({state.name}).\n"
    body = yaml.safe_dump({"accounts": [account]}, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def import_documents(
    states: list[AccountState], config: Config | None = None
) -> list[tuple[int, str]]:
    def document(state: AccountState) -> str:
        if config is None:
            return import_document(state)
        return import_document(state, config.account(state.id), config.partner.actor)

    return [(s.id, document(s)) for s in sorted(states, key=lambda s: s.id)]
