"""Renderings: schema-valid JSON, injection-safe Markdown, colour only when asked."""

from __future__ import annotations

import json
import re
import unicodedata

import jsonschema
import pytest

from reconciler.catalog import schemas_dir
from reconciler.model import Access, AccountState, DesiredAccount, DesiredUser, User
from reconciler.plan import Plan
from reconciler.planner import build_plan
from reconciler.render.markdown import escape, render_markdown
from reconciler.render.text import render_text
from reconciler.steps import StepType
from tests.strategies import ACTOR, CATALOGUE, PARTNER, ROLES, TEAMS
from tests.test_planner import EVERYTHING


def sample_plan() -> Plan:
    current = AccountState(
        7,
        "Evil | <script>alert(1)</script> Corp",
        {"core": 1, "sales": 0, "service": 0},
        ROLES,
        TEAMS,
        {
            "ceo@acme.example": User(
                "ceo@acme.example", Access("super_admin"), "core", first_name="<b>Bob</b>"
            ),
            ACTOR: User(ACTOR, Access("super_admin"), "partner"),
            "ana@northwind.agency": User("ana@northwind.agency", Access("super_admin"), "core"),
        },
    )
    desired = DesiredAccount(
        7,
        None,
        {
            "ana@northwind.agency": DesiredUser(
                "ana@northwind.agency", access=Access("partner_admin"), seat="partner"
            ),
            "kim@acme.example": DesiredUser(
                "kim@acme.example", access=Access("basic"), seat="core", first_name="`rm -rf`"
            ),
        },
        actor=ACTOR,
    )
    config_digest = "sha256:" + "0" * 64
    return build_plan(
        [(desired, current)], PARTNER, CATALOGUE, EVERYTHING, "sandbox", config_digest
    )


def test_plan_json_validates_against_its_schema() -> None:
    schema = json.loads((schemas_dir() / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(sample_plan().to_json())
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["format_version"] == 2


def test_plan_json_round_trips() -> None:
    plan = sample_plan()
    assert Plan.from_data(json.loads(plan.to_json())).to_json() == plan.to_json()


def test_markdown_escapes_everything_from_config_and_state() -> None:
    text = render_markdown(sample_plan())
    assert "<script>" not in text
    assert "<b>" not in text
    assert "&#96;rm -rf&#96;" in text
    assert "Evil &#124; &lt;script&gt;" in text
    assert escape("a|b\nc") == "a&#124;b c"


def test_markdown_has_summary_table_details_checklist_and_seat_impact() -> None:
    text = render_markdown(sample_plan())
    assert text.startswith("<!-- reconciler-plan -->\n### reconciler plan\n")
    assert "| Account | Status | Steps |" in text
    assert (
        "the current state already breaks an invariant: core seats in use exceed the core seats"
        in text
    )
    assert "<details>" in text and "</details>" in text
    assert "**Paid seats, all accounts:** freed core 1; taken core 1" in text


def test_text_has_no_colour_unless_asked() -> None:
    plan = sample_plan()
    assert "\033[" not in render_text(plan)
    assert "\033[" in render_text(plan, color=True)
    assert render_text(plan).endswith(
        "Paid seats: freed core 1; taken core 1.\n  Evil | <script>alert(1)</script> Corp (7): freed core 1; taken core 1\n"
    )


def test_text_shows_the_migration_as_freeing_a_paid_seat() -> None:
    plan = sample_plan()
    types = [s.type for s in plan.steps]
    # The account is over its core seats already: the migration's seat move frees one first.
    assert types == [StepType.SET_SEAT, StepType.CREATE_USER, StepType.MIGRATE_TO_PARTNER_ADMIN]
    text = render_text(plan)
    assert "migrate Super Admin → Partner Admin: ana@northwind.agency" in text
    assert "access: Super Admin → Partner Admin" in text


HOSTILE = "Eve\x1b]0;owned\x07\x1b[2J\r  + create user: fake\x00\u202egnp.exe\u2028"


def hostile_plan() -> Plan:
    current = AccountState(
        8,
        HOSTILE,
        {"core": 1, "sales": 0, "service": 0},
        ROLES,
        TEAMS,
        {
            ACTOR: User(ACTOR, Access("super_admin"), "partner"),
            "ceo@acme.example": User("ceo@acme.example", Access("super_admin"), "core"),
            "x@acme.example": User("x@acme.example", Access("basic"), "none", first_name=HOSTILE),
        },
    )
    desired = DesiredAccount(
        8,
        None,
        {
            "x@acme.example": DesiredUser("x@acme.example", first_name="Plain"),
            "y@acme.example": DesiredUser(
                "y@acme.example", access=Access("basic"), seat="none", last_name=HOSTILE
            ),
        },
        actor=ACTOR,
    )
    return build_plan([(desired, current)], PARTNER, CATALOGUE, EVERYTHING)


def raw_controls(text: str) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # our own colours, nothing else
    return [
        repr(c) for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
    ]


@pytest.mark.parametrize("color", [False, True])
def test_text_from_config_and_state_reaches_the_terminal_inert(color: bool) -> None:
    text = render_text(hostile_plan(), color=color)
    assert raw_controls(text) == []
    assert "\\x1b]0;owned" in text and "\\u202e" in text and "\\x00" in text
    # The forged line stays inside its own line: no line starts with it.
    assert not any(line.startswith("  + create user: fake") for line in text.splitlines())


def test_a_headline_never_says_no_changes_when_an_account_could_not_be_planned() -> None:
    from reconciler.model import ReadFailure

    current = AccountState(7, "Acme", {}, ROLES, TEAMS, {ACTOR: User(ACTOR, Access("super_admin"))})
    fine = DesiredAccount(7, None, {}, actor=ACTOR)
    broken = DesiredAccount(8, "Bluebird", {}, actor=ACTOR)
    plan = build_plan(
        [(fine, current), (broken, ReadFailure("cannot read current state: 503"))],
        PARTNER,
        CATALOGUE,
        EVERYTHING,
    )
    text, markdown = render_text(plan), render_markdown(plan)
    for rendered in (text, markdown):
        assert "No changes" not in rendered
        assert "Nothing planned: 1 account cannot be planned; 1 other account matches" in rendered


def test_a_comment_too_big_for_github_keeps_failures_first_and_says_what_is_missing() -> None:
    from dataclasses import replace as copy

    from reconciler.model import ReadFailure
    from reconciler.render.markdown import COMMENT_LIMIT

    base = sample_plan()
    (account,) = base.accounts
    many = [copy(account, account=account.account + n) for n in range(600)]
    failed = build_plan(
        [(DesiredAccount(99_999, "Zinnia", {}, actor=ACTOR), ReadFailure("cannot read: 503"))],
        PARTNER,
        CATALOGUE,
        EVERYTHING,
    ).accounts
    plan = copy(base, accounts=(*many, *failed))
    text = render_markdown(plan)
    assert len(text) <= COMMENT_LIMIT
    assert text.startswith("<!-- reconciler-plan -->\n### reconciler plan")
    assert "; 1 account cannot be planned." in text
    # The failed account is shown, and first, although its id is the largest.
    statuses = "❌|⚠️|✅|⏳|✋|📝"  # the summary table's status column
    rows = [line for line in text.splitlines() if re.search(rf"\(\d+\) \| ({statuses})", line)]
    assert "Zinnia (99999)" in rows[0]
    shown = len(rows)
    hidden = 601 - shown
    assert 0 < hidden < 601
    steps = len(account.steps) * hidden
    assert f"**{hidden} more accounts with {steps} steps not shown:**" in text
    # A plan that fits is not cut.
    small = copy(base, accounts=tuple(many[:3]))
    assert "not shown" not in render_markdown(small)


def test_the_comment_shows_control_and_bidi_characters_escaped() -> None:
    text = render_markdown(hostile_plan())
    assert raw_controls(text) == []
    assert "&#92;u202e" in text  # a backslash is written as its character reference
