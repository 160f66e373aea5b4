"""Property: applying a plan to the real sandbox reaches the desired state, step by step."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given

from reconciler.diff import UNMANAGED, diff_account
from reconciler.model import SUPER_ADMIN, AccountState, DesiredAccount
from reconciler.planner import plan_account
from reconciler.sandbox.store import Store
from tests.strategies import (
    ACTOR,
    CATALOGUE,
    PARTNER,
    end_state,
    scenarios,
)
from tests.test_planner import EVERYTHING, PROPERTY


def snapshot(state: AccountState) -> dict[str, Any]:
    data = state.to_data()
    data.pop("partner_access")
    data.pop("unknown")
    return {"accounts": [data]}


@PROPERTY
# Only a Super Admin actor: every step is then an api step the sandbox executes.
@given(scenarios(actors=(SUPER_ADMIN,)))
def test_applying_the_plan_to_the_sandbox_reaches_the_desired_state(
    scenario: tuple[AccountState, DesiredAccount],
) -> None:
    current, desired = scenario
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "sandbox.db") as store:
        store.seed(snapshot(current), PARTNER)
        read = store.read_account(current.id, ACTOR)
        assert dict(read.users) == dict(current.users)
        result = plan_account(desired, read, PARTNER, CATALOGUE, EVERYTHING)
        assert result.error is None, result.error
        for step in result.steps:
            assert step.channel == "api"
            store.execute(step, ACTOR)
        final = store.read_account(current.id, ACTOR)
        assert dict(final.users) == dict(end_state(desired, current).users)
        assert [c for c in diff_account(desired, final) if c.kind != UNMANAGED] == []
        assert plan_account(desired, final, PARTNER, CATALOGUE, EVERYTHING).steps == ()
        journal = store.journal(current.id)
        applied = [row for row in journal if row["step_id"] is not None]
        assert [row["step_id"] for row in applied] == [s.id for s in result.steps]
        assert all(row["outcome"] == "ok" for row in applied)
