"""Fleet-wide config: leavers, people in every account, seat prices; planned against the sandbox."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.config import check_config, load_config
from reconciler.cost import SeatPrices
from reconciler.model import LEAVERS, PARTNER_ADMIN, PARTNER_USERS, Access

ACTOR = "automation@northwind.agency"
LEAVER = "old.colleague@northwind.agency"
LEAD = "lead@northwind.agency"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sandbox_user(email: str, access: Any = "basic", seat: str = "none") -> dict[str, Any]:
    return {"email": email, "access": access, "seat": seat}


def write_fleet(
    folder: Path,
    partner: str,
    snapshot: list[dict[str, Any]],
    accounts: str,
    extra: str = "",
) -> Path:
    """A config (partner.yaml, accounts.yaml) and a sandbox snapshot in ``folder``."""
    (folder / "snapshot.yaml").write_text(
        yaml.safe_dump({"version": 1, "accounts": snapshot}, sort_keys=False), encoding="utf-8"
    )
    (folder / "partner.yaml").write_text(
        "partner:\n"
        "  name: Northwind Digital\n"
        "  employee_domains: [northwind.agency]\n"
        f"  actor: {ACTOR}\n"
        f"{partner}"
        "provider:\n"
        "  type: sandbox\n"
        "  path: .reconciler/sandbox.db\n"
        "  snapshot: snapshot.yaml\n"
        "profiles:\n"
        "  delivery-lead: {access: partner_admin, seat: partner}\n"
        f"{extra}",
        encoding="utf-8",
    )
    (folder / "accounts.yaml").write_text(accounts, encoding="utf-8")
    return folder


def account(
    account_id: int, *users: dict[str, Any], owned: dict[str, int] | None = None
) -> dict[str, Any]:
    return {
        "id": account_id,
        "name": f"Client {account_id}",
        "seats_owned": owned or {"core": 5, "sales": 5, "service": 5},
        "users": [sandbox_user(ACTOR, "super_admin", "core"), *users],
    }


def plan_json(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Result, dict[str, Any]]:
    monkeypatch.chdir(folder)
    result = run("plan", ".", "--format", "json")
    return result, json.loads(result.stdout)


# --- done when 1: one line offboards a leaver from 40 of 50 accounts -----------------------


def test_a_leaver_in_40_of_50_accounts_is_one_line_and_one_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = lambda i: sandbox_user(f"owner@client{i}.example", "super_admin", "core")  # noqa: E731
    snapshot = []
    for i in range(1, 51):
        users = [owner(i)]
        if i <= 40:
            users.append(sandbox_user(LEAVER.upper() if i == 7 else LEAVER, "basic", "view_only"))
        snapshot.append(account(i, *users))
    # Account 40: the leaver is its only Super Admin besides nobody (the actor is a Partner Admin).
    snapshot[39] = {
        "id": 40,
        "name": "Client 40",
        "seats_owned": {"core": 2},
        "users": [
            sandbox_user(ACTOR, "partner_admin", "partner"),
            sandbox_user(LEAVER, "super_admin", "core"),
        ],
    }
    accounts = "accounts:\n" + "".join(f"  - {{id: {i}, name: Client {i}}}\n" for i in range(1, 51))
    folder = write_fleet(
        tmp_path, "  leavers: [Old.Colleague@Northwind.Agency]\n", snapshot, accounts
    )

    result, data = plan_json(folder, monkeypatch)

    assert result.exit_code == 1
    by_id = {a["account"]: a for a in data["accounts"]}
    removed = sorted(
        a["account"] for a in data["accounts"] for s in a["steps"] if s["type"] == "remove_user"
    )
    assert removed == list(range(1, 40))
    assert all(by_id[i]["steps"] == [] and by_id[i]["error"] is None for i in range(41, 51))
    line = "partner.yaml:5:13"
    assert by_id[40]["error"].startswith(f"{line}: ")
    assert data["offboarding"] == [
        {"email": LEAVER, "accounts": list(range(1, 40)), "source": line}
    ]
    step = by_id[1]["steps"][0]
    assert (step["user"], step["reason"], step["source"]) == (
        LEAVER,
        "leaver (partner.leavers)",
        line,
    )

    text = run("plan", ".").stdout
    assert f"Client 40 (40): error: {line}: " in text
    assert "Offboarding: 1 leaver." in text
    assert f"  {LEAVER}: removed from 39 accounts ({line})" in text
    markdown = run("plan", ".", "--format", "markdown").stdout
    assert "**Offboarding:** 1 leaver" in markdown


def test_a_leaver_not_in_an_account_plans_nothing_there_and_a_saved_plan_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = [account(1, sandbox_user(LEAVER, "basic", "core")), account(2)]
    accounts = "accounts:\n  - {id: 1}\n  - {id: 2}\n"
    folder = write_fleet(tmp_path, f"  leavers: [{LEAVER}]\n", snapshot, accounts)
    monkeypatch.chdir(folder)
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    shown = run("show", "plan.json")
    assert shown.exit_code == 0, shown.output
    assert f"  {LEAVER}: removed from 1 account (partner.yaml:5:13)" in shown.stdout
    data = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    assert [a["steps"] for a in data["accounts"]][1] == []


def test_an_account_may_keep_a_leaver_absent_itself_but_not_present(tmp_path: Path) -> None:
    accounts = (
        "accounts:\n"
        "  - id: 1\n"
        "    users:\n"
        f"      - {{email: {LEAVER}, state: absent}}\n"
        "  - id: 2\n"
        "    users:\n"
        f"      - {{email: {LEAVER.upper()}, access: basic, seat: none}}\n"
    )
    write_fleet(tmp_path, f"  leavers: [{LEAVER}]\n", [account(1), account(2)], accounts)
    result = check_config(tmp_path)
    assert [str(d) for d in result.diagnostics] == [
        f"{tmp_path}/accounts.yaml:7:17: /accounts/1/users/0/email: account 2:"
        f" '{LEAVER.upper()}' is a leaver (partner.leavers at {tmp_path}/partner.yaml:5:13)"
        " but is declared present here"
    ]


def test_the_actor_and_a_fleet_wide_person_cannot_be_leavers(tmp_path: Path) -> None:
    partner = (
        f"  leavers: [{ACTOR}, {LEAD}, {LEAD.upper()}]\n"
        "  users:\n"
        f"    - {{email: {LEAD}, profile: delivery-lead}}\n"
    )
    write_fleet(tmp_path, partner, [account(1)], "accounts:\n  - {id: 1}\n")
    where = f"{tmp_path}/partner.yaml"
    assert [str(d) for d in check_config(tmp_path).diagnostics] == [
        f"{where}:5:13: /partner/leavers/0: the actor '{ACTOR}' cannot be a leaver"
        f" (it acts at {where}:4:10)",
        f"{where}:5:42: /partner/leavers/1: leaver '{LEAD}' is also declared in partner.users"
        f" at {where}:7:15",
        f"{where}:5:65: /partner/leavers/2: leaver '{LEAD.upper()}' is listed twice;"
        f" also listed at {where}:5:42",
    ]


# --- done when 2: people in every account, with exceptions and overrides --------------------


def test_a_fleet_wide_person_is_in_every_account_but_the_excepted_and_the_overriding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = f"  users:\n    - {{email: {LEAD}, profile: delivery-lead, except: [3, 4]}}\n"
    accounts = (
        "accounts:\n  - {id: 1}\n  - {id: 2}\n  - {id: 3}\n  - {id: 4}\n"
        "  - id: 5\n"
        "    users:\n"
        f"      - {{email: {LEAD.upper()}, access: basic, seat: view_only}}\n"
    )
    snapshot = [account(i) for i in range(1, 6)]
    folder = write_fleet(tmp_path, partner, snapshot, accounts)

    config = load_config(folder)
    leads = {a.id: a.users.get(LEAD) for a in config.accounts}
    assert [i for i, lead in leads.items() if lead is None] == [3, 4]
    assert leads[1] is not None and leads[2] is not None and leads[5] is not None
    assert (leads[1].access, leads[1].seat, leads[1].origin) == (
        PARTNER_ADMIN,
        "partner",
        PARTNER_USERS,
    )
    assert str(leads[1].source) == f"{folder}/partner.yaml:6:7"
    assert (leads[5].access, leads[5].seat, leads[5].origin) == (
        Access("basic"),
        "view_only",
        "accounts",
    )
    assert str(leads[5].source) == f"{folder}/accounts.yaml:8:9"

    result, data = plan_json(folder, monkeypatch)
    assert result.exit_code == 0, result.output
    created = {
        a["account"]: s["after"]
        for a in data["accounts"]
        for s in a["steps"]
        if s["type"] == "create_user"
    }
    assert sorted(created) == [1, 2, 5]
    assert (created[1]["access"], created[1]["seat"]) == ("partner_admin", "partner")
    assert (created[5]["access"], created[5]["seat"]) == ("basic", "view_only")
    assert "offboarding" not in data and "cost" not in data


def test_validate_says_where_the_users_came_from(tmp_path: Path) -> None:
    partner = f"  leavers: [{LEAVER}]\n  users:\n    - {{email: {LEAD}, profile: delivery-lead, except: [2]}}\n"
    write_fleet(tmp_path, partner, [account(1)], "accounts:\n  - {id: 1}\n  - {id: 2}\n")
    text = run("validate", str(tmp_path))
    assert text.exit_code == 0, text.output
    assert "1 from partner.users, 2 from partner.leavers" in text.stdout
    data = json.loads(run("validate", str(tmp_path), "--format", "json").stdout)
    assert data["summary"]["origins"] == {"accounts": 0, PARTNER_USERS: 1, LEAVERS: 2}


@pytest.mark.parametrize(
    "partner,expected",
    [
        (
            "  users:\n    - {email: lead@northwind.agency, profile: delivery-lead, except: [1, 9]}\n",
            [
                "partner.yaml:6:74: /partner/users/0/except/1:"
                " 'lead@northwind.agency': account 9 in 'except' is not a declared account"
            ],
        ),
        (
            "  users:\n    - {email: lead@northwind.agency, profile: delivery-lead}\n"
            "    - {email: Lead@northwind.agency, access: basic, seat: none}\n",
            [
                "partner.yaml:7:15: /partner/users/1/email: 'Lead@northwind.agency' is declared"
                " twice in partner.users; also declared at {dir}/partner.yaml:6:15"
            ],
        ),
        (
            "  users:\n    - {email: client@elsewhere.example, access: partner_admin, seat: partner}\n",
            [
                "partner.yaml:6:49: /partner/users/0/access: 'client@elsewhere.example' is not a"
                " partner employee, so cannot be Partner Admin",
                "partner.yaml:6:70: /partner/users/0/seat: 'client@elsewhere.example' is not a"
                " partner employee, so cannot have the partner seat",
            ],
        ),
        (
            "  users:\n    - {email: lead@northwind.agency, profile: delivery-leed}\n",
            [
                "partner.yaml:6:47: /partner/users/0/profile: unknown profile 'delivery-leed'"
                " (did you mean 'delivery-lead'?)"
            ],
        ),
    ],
)
def test_fleet_wide_people_are_checked_like_account_users(
    tmp_path: Path, partner: str, expected: list[str]
) -> None:
    write_fleet(tmp_path, partner, [account(1)], "accounts:\n  - {id: 1}\n")
    got = [str(d) for d in check_config(tmp_path).diagnostics]
    assert got == [f"{tmp_path}/{line.format(dir=tmp_path)}" for line in expected]


@pytest.mark.parametrize(
    "block,place",
    [
        ("seat_prices: {currency: eur, monthly: {core: 90}}\n", ("/seat_prices/currency", 11)),
        ("seat_prices: {currency: EUR, monthly: {core: -1}}\n", ("/seat_prices/monthly/core", 11)),
        (
            "seat_prices: {currency: EUR, monthly: {partner: 5}}\n",
            ("/seat_prices/monthly/partner", 11),
        ),
        ("seat_prices: {currency: EUR}\n", ("/seat_prices", 11)),
    ],
)
def test_seat_prices_are_checked_by_the_schema(
    tmp_path: Path, block: str, place: tuple[str, int]
) -> None:
    write_fleet(tmp_path, "", [account(1)], "accounts:\n  - {id: 1}\n", extra=block)
    found = [(d.pointer, d.line, d.file) for d in check_config(tmp_path).diagnostics]
    assert found == [(place[0], place[1], f"{tmp_path}/partner.yaml")]


def test_a_paid_seat_type_without_a_price_is_a_warning(tmp_path: Path) -> None:
    block = "seat_prices:\n  currency: EUR\n  monthly: {core: 90, view_only: 0}\n"
    write_fleet(tmp_path, "", [account(1)], "accounts:\n  - {id: 1}\n", extra=block)
    result = check_config(tmp_path)
    assert result.valid
    assert [str(w) for w in result.warnings] == [
        f"{tmp_path}/partner.yaml:13:3: /seat_prices/monthly: no price for the paid seat types"
        " sales, service: plans count them as free"
    ]
    assert result.config is not None and result.config.seat_prices == SeatPrices(
        "EUR", {"core": Decimal(90), "view_only": Decimal(0)}
    )


# --- done when 4: seat cost totals against a hand-computed example ------------------------


def test_seat_cost_totals_match_a_hand_computed_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = "seat_prices:\n  currency: EUR\n  monthly: {core: 90, sales: 45.5, service: 30.25, view_only: 0}\n"
    snapshot = [
        # 1: the leaver frees a core seat (-90.00); a new sales user takes one (+45.50).
        account(
            1,
            sandbox_user(LEAVER, "basic", "core"),
            sandbox_user("boss@one.example", "super_admin", "core"),
        ),
        # 2: view_only -> service (+30.25); a sales user removed (-45.50).
        account(
            2,
            sandbox_user("desk@two.example", "basic", "view_only"),
            sandbox_user("gone@two.example", "basic", "sales"),
            sandbox_user("boss@two.example", "super_admin", "core"),
            sandbox_user("a@two.example"),
            sandbox_user("b@two.example"),
        ),
        # 3: a Partner Admin on the free partner seat and a view-only user: nothing paid.
        account(3, sandbox_user("viewer@three.example", "basic", "none")),
    ]
    accounts = (
        "accounts:\n"
        "  - id: 1\n    users:\n      - {email: rep@one.example, access: basic, seat: sales}\n"
        "  - id: 2\n    users:\n"
        "      - {email: desk@two.example, access: basic, seat: service}\n"
        "      - {email: gone@two.example, state: absent}\n"
        "  - id: 3\n    users:\n"
        f"      - {{email: {LEAD}, profile: delivery-lead}}\n"
        "      - {email: viewer@three.example, access: basic, seat: view_only}\n"
    )
    folder = write_fleet(tmp_path, f"  leavers: [{LEAVER}]\n", snapshot, accounts, extra=prices)

    result, data = plan_json(folder, monkeypatch)

    assert result.exit_code == 0, result.output
    # By hand: 1: -90.00 + 45.50 = -44.50; 2: +30.25 - 45.50 = -15.25; 3: 0.
    assert data["cost"] == {
        "currency": "EUR",
        "monthly_change": "-59.75",
        "accounts": {"1": "-44.50", "2": "-15.25"},
    }
    assert data["seat_prices"] == {
        "currency": "EUR",
        "monthly": {"core": "90", "sales": "45.5", "service": "30.25", "view_only": "0"},
    }
    text = run("plan", ".").stdout
    section = (
        "Monthly seat cost: -59.75 EUR.\n  Client 1 (1): -44.50 EUR\n  Client 2 (2): -15.25 EUR\n"
    )
    assert section in text
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    shown = run("show", "plan.json")  # a saved plan keeps its prices
    assert shown.exit_code == 0, shown.output
    assert section in shown.stdout
    markdown = run("plan", ".", "--format", "markdown").stdout
    assert "**Monthly seat cost:** -59.75 EUR\n- Client 1 (1): -44.50 EUR\n" in markdown


def test_seat_prices_price_free_and_unknown_seats_at_zero() -> None:
    prices = SeatPrices("USD", {"core": Decimal("12.5"), "partner": Decimal(7)})
    assert [prices.price(s) for s in ("core", "partner", "none", None, "unknown", "sales")] == [
        Decimal("12.5"),
        *[Decimal(0)] * 5,
    ]
    assert [prices.format(Decimal(x)) for x in ("12.5", "-0.001", "-3", "0.005")] == [
        "+12.50 USD",
        "0.00 USD",
        "-3.00 USD",
        "0.00 USD",
    ]
