"""A whole user's fields are read back as they were made: parsing them again changes nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.fields import USER_FIELDS, Fields
from reconciler.model import Permissions, Teams, User
from reconciler.steps import KINDS, StepType
from tests.strategies import accesses, permissions, teams

users = st.builds(
    User,
    st.sampled_from(["ana@northwind.agency", "Kim@Acme.example"]),
    accesses,
    st.sampled_from(["partner", "core", "none", "unknown", ""]),
    st.none() | st.sampled_from(["", "Ana"]),
    st.none() | st.just("Lee"),
    teams | st.just(Teams(primary="")),
    permissions | st.just(Permissions()),
)


def held(fields: Fields) -> tuple[object, ...]:
    """Everything a Fields is: its JSON, in order, and its typed values."""
    return (list(fields.items()), [getattr(fields, name) for name in ("email", *USER_FIELDS)])


@given(users)
def test_a_whole_user_made_again_is_the_same(user: User) -> None:
    made = Fields.user(user)
    assert made.whole
    assert held(Fields.user(made.to_user())) == held(made)


@given(users)
def test_a_create_or_remove_step_keeps_a_whole_user_as_it_is(user: User) -> None:
    made = Fields.user(user)
    read = Fields.from_data(made.to_data())  # as a plan file gives it
    assert not read.whole
    create, remove = KINDS[StepType.CREATE_USER], KINDS[StepType.REMOVE_USER]
    assert create.parse(None, made)[1] is made
    assert remove.parse(made, None)[0] is made
    parsed = [create.parse(None, read)[1], remove.parse(read, None)[0]]
    assert [held(fields) for fields in parsed if fields is not None] == [held(made)] * 2
