"""An account's digest is the digest of its canonical data, whatever the account holds."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import plan as p
from reconciler.digests import account_digest, plan_digest
from reconciler.model import (
    BASIC,
    PARTNER_ADMIN,
    SUPER_ADMIN,
    Access,
    AccountState,
    Permissions,
    ReadFailure,
    Role,
    Teams,
    User,
)
from reconciler.plan import AccountPlan

#: Text as accounts hold it, and what JSON must escape: quotes, backslashes, control
#: characters, line separators, characters outside ASCII and outside the BMP.
texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", "\n", "\x00", "\x1f", "\x7f", "\u2028", "é", "😀", " "]),
        st.characters(),
    ),
    max_size=12,
)
names = st.none() | texts
accesses = st.sampled_from([SUPER_ADMIN, PARTNER_ADMIN, BASIC]) | st.builds(
    Access, st.just("role"), names
)
teams = st.builds(Teams, names, st.lists(texts, max_size=3).map(tuple))
permissions = st.builds(
    Permissions, st.frozensets(texts, max_size=3), st.frozensets(texts, max_size=3)
)


@st.composite
def states(draw: st.DrawFn) -> AccountState:
    # Users share some values (one object for many users) and hold others of their own.
    shared_access, shared_teams, shared_permissions = draw(accesses), draw(teams), draw(permissions)
    users = {}
    for email in draw(st.lists(texts, max_size=6, unique_by=str.lower)):
        users[email.lower()] = User(
            email=email,
            access=draw(st.sampled_from([shared_access]) | accesses),
            seat=draw(st.sampled_from(["core", "none", "unknown"]) | texts),
            first_name=draw(names),
            last_name=draw(names),
            teams=draw(st.sampled_from([shared_teams, Teams()]) | teams),
            permissions=draw(st.sampled_from([shared_permissions, Permissions()]) | permissions),
        )
    roles = {
        name: Role(name, draw(st.none() | texts), draw(st.frozensets(texts, max_size=2)))
        for name in draw(st.lists(texts, max_size=3, unique=True))
    }
    return AccountState(
        id=draw(st.integers(1, 10**12)),
        name=draw(texts),
        seats_owned=draw(st.dictionaries(st.sampled_from(["core", "sales"]), st.integers(0, 9))),
        roles=roles,
        teams=draw(st.frozensets(texts, max_size=3)),
        users=users,
        partner_access=draw(st.sampled_from(["none", "pending", "granted"])),
        unknown=draw(st.frozensets(texts, max_size=4)),
        grants=draw(st.none() | st.frozensets(texts, max_size=3)),
    )


def outcome(digest: Callable[[], str]) -> str:
    """The digest, or the error that stops it (a lone surrogate cannot be UTF-8)."""
    try:
        return digest()
    except UnicodeEncodeError as exc:
        return f"raises {type(exc).__name__}"


@settings(max_examples=300)
@given(states())
def test_an_account_digest_is_the_digest_of_its_data(state: AccountState) -> None:
    expected = outcome(lambda: p.digest(state.to_data()))
    assert outcome(lambda: account_digest(state)) == expected


def test_a_read_failure_has_the_digest_of_its_message() -> None:
    failure = ReadFailure("cannot read current state: 500")
    assert account_digest(failure) == p.digest({"error": failure.message})


def test_a_plan_digest_is_that_of_its_accounts_digests() -> None:
    accounts = [AccountPlan(7, "a", state_digest="sha256:1"), AccountPlan(8, "b")]
    assert plan_digest(accounts) == p.digest({"7": "sha256:1", "8": ""})
