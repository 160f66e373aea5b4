"""The digests a plan carries of the current state it was planned against.

A saved plan is refused once an account's state no longer has the digest the
plan recorded (:func:`account_digest`), so the digest is that of the state's
canonical data, :meth:`~reconciler.model.AccountState.to_data`, as
:func:`reconciler.plan.digest` hashes any data. The users, nearly all of that
data, are written here straight from the values into the same text the JSON
encoder writes (sorted keys, no spaces, no ASCII escaping) rather than built as
dicts and encoded: hashing an account was a fifth of planning it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace

from reconciler import plan as p
from reconciler.model import Access, AccountState, Permissions, ReadFailure, Teams, User

#: :func:`reconciler.plan.digest`'s encoder: sorted keys, no spaces, text as it is.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
#: A JSON string as that encoder writes one.
_STRING = json.encoder.encode_basestring
#: How the canonical text of a state without users ends ("users" is its last key).
_NO_USERS = '"users":[]}'
_FIRST_NAME = ',"first_name":'
_LAST_NAME = ',"last_name":'


def account_digest(state: AccountState | ReadFailure) -> str:
    """What a saved plan checks, per account: its current state (or its read error).

    Always ``reconciler.plan.digest(state.to_data())``.
    """
    if isinstance(state, ReadFailure):
        return p.digest({"error": state.message})
    shell = _CANONICAL.encode(replace(state, users={}).to_data())
    if not shell.endswith(_NO_USERS):  # pragma: no cover (a key sorting after "users")
        return p.digest(state.to_data())
    users = ",".join(_users(state.users))
    text = f'{shell[: -len(_NO_USERS)]}"users":[{users}]}}'
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_digest(accounts: Iterable[p.AccountPlan]) -> str:
    return p.digest({str(a.account): a.state_digest for a in accounts})


def _users(users: Mapping[str, User]) -> list[str]:
    """``[users[k].to_data() for k in sorted(users)]``, each as the canonical encoder writes it.

    Keys in sorted order: access, email, first_name, last_name, permissions, seat,
    teams. An access level, permissions or teams that users share are written once.
    """
    written: dict[int, str] = {}  # by the id of a value that ``users`` holds
    texts = []
    for key in sorted(users):
        user = users[key]
        access, permissions, teams = user.access, user.permissions, user.teams
        access_text = written.get(id(access))
        if access_text is None:
            access_text = written[id(access)] = _access(access)
        permissions_text = written.get(id(permissions))
        if permissions_text is None:
            permissions_text = written[id(permissions)] = _permissions(permissions)
        teams_text = written.get(id(teams))
        if teams_text is None:
            teams_text = written[id(teams)] = _teams(teams)
        first, last = user.first_name, user.last_name
        first_text = "" if first is None else _FIRST_NAME + _STRING(first)
        last_text = "" if last is None else _LAST_NAME + _STRING(last)
        texts.append(
            f'{{"access":{access_text},"email":{_STRING(user.email)}{first_text}{last_text}'
            f'{permissions_text},"seat":{_STRING(user.seat)}{teams_text}}}'
        )
    return texts


def _access(access: Access) -> str:
    """``access.to_data()``: the kind, or ``{"role": name}``."""
    if access.kind == "role":
        return '{"role":' + _STRING(access.role or "") + "}"
    return _STRING(access.kind)


def _permissions(permissions: Permissions) -> str:
    """``,"permissions": permissions.to_data()``, where a user's data has them (else nothing)."""
    if not permissions:
        return ""
    add, remove = _strings(sorted(permissions.add)), _strings(sorted(permissions.remove))
    return f',"permissions":{{"add":{add},"remove":{remove}}}'


def _teams(teams: Teams) -> str:
    """``,"teams": teams.to_data()``, where a user's data has them (else nothing)."""
    if not teams.names():
        return ""
    primary = "null" if teams.primary is None else _STRING(teams.primary)
    return f',"teams":{{"primary":{primary},"secondary":{_strings(teams.secondary)}}}'


def _strings(texts: Iterable[str]) -> str:
    return "[" + ",".join(map(_STRING, texts)) + "]"
