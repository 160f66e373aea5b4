"""The table of step types, and steps' typed before/after values."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from reconciler import plan as p
from reconciler.catalog import schemas_dir
from reconciler.fields import Fields
from reconciler.model import (
    BASIC,
    PARTNER_ADMIN,
    SUPER_ADMIN,
    Access,
    Permissions,
    Teams,
    User,
)
from reconciler.render import TITLES
from reconciler.steps import (
    ACCESS_STEP_TYPES,
    KINDS,
    STEP_TYPES,
    Effect,
    StepType,
    access_step_type,
    kind_of,
)

ROLE = Access("role", "Sales Rep")
ANA = User(
    "ana@acme.example",
    ROLE,
    "sales",
    first_name="Ana",
    teams=Teams("Sales", ("Support",)),
    permissions=Permissions(add=frozenset({"reports.view"})),
)


def test_the_plan_schema_names_exactly_the_step_types_of_the_table() -> None:
    # JSON Schema cannot import Python: this is what keeps the two the same.
    schema = json.loads((schemas_dir() / "plan.schema.json").read_text(encoding="utf-8"))
    assert schema["$defs"]["step"]["properties"]["type"]["enum"] == [t.value for t in StepType]


def test_the_table_describes_every_step_type_once_in_order() -> None:
    assert list(KINDS) == list(StepType) == list(STEP_TYPES)
    assert all(kind.type is t for t, kind in KINDS.items())
    assert len({kind.title for kind in KINDS.values()}) == len(KINDS)
    assert dict(TITLES) == {t: kind.title for t, kind in KINDS.items()}
    assert {t: kind.symbol for t, kind in KINDS.items() if kind.symbol != "~"} == {
        StepType.REQUEST_ACCESS: "?",
        StepType.CREATE_USER: "+",
        StepType.REMOVE_USER: "-",
    }
    assert {
        StepType.PROMOTE_SUPER_ADMIN,
        StepType.GRANT_PARTNER_ADMIN,
        StepType.MIGRATE_TO_PARTNER_ADMIN,
        StepType.SET_ACCESS,
    } == ACCESS_STEP_TYPES
    assert {t for t, kind in KINDS.items() if kind.dangerous} == {
        StepType.PROMOTE_SUPER_ADMIN,
        StepType.GRANT_PARTNER_ADMIN,
        StepType.MIGRATE_TO_PARTNER_ADMIN,
        StepType.REMOVE_USER,
    }
    # The strings plan files hold are the ones they always held.
    assert StepType.SET_SEAT == "set_seat" and kind_of("set_seat") is KINDS[StepType.SET_SEAT]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (BASIC, SUPER_ADMIN, StepType.PROMOTE_SUPER_ADMIN),
        (PARTNER_ADMIN, SUPER_ADMIN, StepType.PROMOTE_SUPER_ADMIN),
        (BASIC, PARTNER_ADMIN, StepType.GRANT_PARTNER_ADMIN),
        (ROLE, PARTNER_ADMIN, StepType.GRANT_PARTNER_ADMIN),
        (SUPER_ADMIN, PARTNER_ADMIN, StepType.MIGRATE_TO_PARTNER_ADMIN),
        (SUPER_ADMIN, BASIC, StepType.SET_ACCESS),
        (PARTNER_ADMIN, ROLE, StepType.SET_ACCESS),
    ],
)
def test_an_access_change_goes_by_the_route_that_fits_it_most_closely(
    before: Access, after: Access, expected: StepType
) -> None:
    assert access_step_type(before, after) == expected


def test_fields_are_typed_and_their_json_is_what_plan_files_hold() -> None:
    whole = Fields.user(ANA)
    assert whole == ANA.to_data() and json.loads(json.dumps(whole)) == ANA.to_data()
    assert whole.to_user() == ANA
    assert (whole.access, whole.seat, whole.teams, whole.last_name) == (
        ROLE,
        "sales",
        ANA.teams,
        None,
    )
    assert "last_name" not in whole and "first_name" in whole
    names = Fields(first_name=None, last_name="Lima")
    assert names == {"first_name": None, "last_name": "Lima"}
    parsed = Fields.from_data({"teams": {"primary": "Sales"}, "seat": "core", "x_other": 1})
    assert parsed == {"seat": "core", "teams": {"primary": "Sales", "secondary": []}}
    assert parsed.teams == Teams("Sales") and parsed.value("seat") == "core"
    assert parsed.replace(seat="none").seat == "none" and parsed.seat == "core"
    # Read-only, and copied or pickled whole.
    with pytest.raises(TypeError):
        parsed["seat"] = "sales"
    with pytest.raises(AttributeError):
        parsed.seat = "sales"  # type: ignore[misc]
    assert copy.deepcopy(whole).to_user() == ANA
    assert pickle.loads(pickle.dumps(whole)).teams == ANA.teams


def test_a_step_reads_its_json_once_and_writes_it_back_unchanged() -> None:
    after = {"permissions": {"add": ["reports.view"], "remove": []}}
    data = {
        "id": "1-set_permissions-x",
        "account": 1,
        "type": "set_permissions",
        "user": "ana@acme.example",
        "before": {"permissions": {"add": [], "remove": []}},
        "after": after,
        "reason": "",
        "channel": "api",
        "depends_on": [],
        "instructions": [],
        "source": None,
    }
    step = p.Step.from_data(data)
    assert step.type is StepType.SET_PERMISSIONS and step.kind.effect is Effect.UPDATE
    assert step.after is not None and step.after.permissions == Permissions(
        add=frozenset({"reports.view"})
    )
    assert step.to_data() == data
    assert p.step_id(1, step.type, step.user, step.after) == p.step_id(
        1, "set_permissions", "ana@acme.example", after
    )


def test_what_a_step_does_to_a_user_is_one_function() -> None:
    ana = kind_of(StepType.SET_ACCESS).apply_to(ANA, Fields(access=Access("role", "Viewer")))
    # Applying a permission set resets individual permissions, as in HubSpot.
    assert ana is not None
    assert ana.access == Access("role", "Viewer") and not ana.permissions
    renamed = kind_of(StepType.SET_NAME).apply_to(ANA, Fields(last_name="Lima"))
    assert renamed is not None and (renamed.first_name, renamed.last_name) == ("Ana", "Lima")
    created = kind_of(StepType.CREATE_USER).apply_to(None, Fields.user(ANA))
    assert created == ANA
    assert kind_of(StepType.REMOVE_USER).apply_to(ANA, None) is None
    with pytest.raises(ValueError, match="changes no user"):
        kind_of(StepType.REQUEST_ACCESS).apply_to(ANA, Fields(partner_access="pending"))


def test_the_planners_phrase_comes_from_the_table() -> None:
    seat = kind_of(StepType.SET_SEAT)
    assert (
        seat.describe("ana@acme.example", Fields(seat="core"), Fields(seat="sales"))
        == "move ana@acme.example from the core seat to the sales seat"
    )
    migrate = kind_of(StepType.MIGRATE_TO_PARTNER_ADMIN)
    assert (
        migrate.describe(
            "ana@acme.example", Fields(access=SUPER_ADMIN), Fields(access=PARTNER_ADMIN)
        )
        == "make ana@acme.example Partner Admin (now Super Admin)"
    )
