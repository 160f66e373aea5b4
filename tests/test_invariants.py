"""The tally the planner keeps measures an account exactly as the invariants define it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.invariants import Context, Tally, actor_permissions, measure, violations
from reconciler.model import PAID_SEATS, SEATS, AccountState, User, unknown_capacity
from tests.strategies import (
    ACTOR,
    CATALOGUE,
    CLIENTS,
    EMPLOYEES,
    PARTNER,
    ROLES,
    accesses,
    permissions,
    teams,
)

CTX = Context(PARTNER, ACTOR, CATALOGUE, min_super_admins=2)
EMAILS = [ACTOR, *EMPLOYEES, *CLIENTS]


def any_user(email: str) -> st.SearchStrategy[User]:
    """A user of any access, seat and permissions, legal or not."""
    return st.builds(
        User, st.just(email), accesses, st.sampled_from(SEATS), teams=teams, permissions=permissions
    )


@st.composite
def accounts(draw: st.DrawFn) -> AccountState:
    """Any users (the actor among them or not), some paid seat counts unreadable."""
    emails = draw(st.lists(st.sampled_from(EMAILS), unique=True))
    members = {email.lower(): draw(any_user(email)) for email in emails}
    unread = draw(st.frozensets(st.sampled_from(PAID_SEATS)))
    return AccountState(
        4410021,
        seats_owned={seat: draw(st.integers(0, 3)) for seat in PAID_SEATS},
        roles=ROLES,
        users=members,
        unknown=frozenset(unknown_capacity(seat) for seat in unread),
    )


@given(accounts())
def test_a_tally_measures_an_account_as_the_invariants_do(state: AccountState) -> None:
    baseline = actor_permissions(state, CTX) or frozenset()
    tally = Tally.of(state, CTX)
    assert tally.measures(CTX, baseline) == measure(state, CTX, baseline)
    assert tally.violations(CTX) == violations(state, CTX)


@given(accounts(), st.sampled_from(EMAILS), st.data())
def test_a_changed_tally_measures_the_changed_account(
    state: AccountState, email: str, data: st.DataObject
) -> None:
    """Whatever one user becomes (or if it goes), against the account as it started."""
    user = data.draw(st.none() | any_user(email))
    baseline = actor_permissions(state, CTX) or frozenset()
    changed = state.without_user(email) if user is None else state.with_user(user)
    tally = Tally.of(state, CTX).change(email.lower(), user, CTX)
    assert tally.measures(CTX, baseline) == measure(changed, CTX, baseline)
    assert dict(tally.users) == dict(changed.users)
