"""`reconciler report`: the access review, against the embedded sandbox."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.model import (
    Access,
    AccountState,
    Config,
    DesiredAccount,
    DesiredUser,
    Partner,
    User,
)
from reconciler.review.build import build_review
from reconciler.review.tabular import CSV_COLUMNS

PARTNER = """\
version: 1
partner:
  name: Northwind Digital
  employee_domains: [northwind.agency]
  employees: [contractor@freelance.example]
  actor: automation@northwind.agency
  leavers: [gone@northwind.agency]
provider:
  type: sandbox
  path: .reconciler/sandbox.db
  snapshot: snapshot.yaml
"""
PRICES = """\
seat_prices:
  currency: EUR
  monthly: {core: 90, sales: 50, service: 45, view_only: 5.50}
"""
HOSTILE_ACCOUNT = "Bluebird <script>alert(1)</script>"
HOSTILE_EMAIL = "=HYPERLINK(1)@evil.example"
HOSTILE_FIRST = "<img src=x onerror=alert(1)>"
ACCOUNTS = f"""\
accounts:
  - id: 1001
    name: Acme Corp
    users:
      - {{email: automation@northwind.agency, access: partner_admin, seat: partner}}
      - {{email: ana@northwind.agency, access: super_admin, seat: core}}
      - {{email: ceo@acme.example, access: super_admin, seat: core}}
  - id: 1002
    name: "{HOSTILE_ACCOUNT}"
    users:
      - {{email: automation@northwind.agency, access: partner_admin, seat: partner}}
      - {{email: owner@bluebird.example, access: super_admin, seat: core}}
      - {{email: contractor@freelance.example, access: partner_admin, seat: partner}}
  - id: 1003
    name: Cedar Missing
    users:
      - {{email: automation@northwind.agency, access: partner_admin, seat: partner}}
"""
# 1003 is not in the sandbox: it cannot be read.
SNAPSHOT = f"""\
accounts:
  - id: 1001
    name: Acme Corp
    seats_owned: {{core: 5, sales: 2, service: 1}}
    teams: [Sales]
    users:
      - {{email: automation@northwind.agency, access: partner_admin, seat: partner}}
      - {{email: ana@northwind.agency, first_name: Ana, access: super_admin, seat: core}}
      - {{email: ceo@acme.example, access: super_admin, seat: core}}
      - {{email: gone@northwind.agency, access: basic, seat: view_only}}
      - {{email: stranger@acme.example, access: basic, seat: sales, teams: {{primary: Sales}}}}
      - {{email: client@acme.example, access: partner_admin, seat: partner}}
  - id: 1002
    name: "{HOSTILE_ACCOUNT}"
    seats_owned: {{core: 2}}
    users:
      - {{email: automation@northwind.agency, access: partner_admin, seat: partner}}
      - {{email: owner@bluebird.example, access: super_admin, seat: core}}
      - {{email: contractor@freelance.example, access: partner_admin, seat: partner}}
      - {{email: "{HOSTILE_EMAIL}", first_name: "{HOSTILE_FIRST}", last_name: "</script><b>x",
         access: basic, seat: view_only}}
"""
FORMATS = ("text", "markdown", "csv", "json", "html")


def write_fleet(root: Path, prices: bool = True) -> Path:
    (root / "accounts").mkdir(parents=True)
    (root / "partner.yaml").write_text(PARTNER + (PRICES if prices else ""), encoding="utf-8")
    (root / "accounts" / "clients.yaml").write_text(ACCOUNTS, encoding="utf-8")
    (root / "snapshot.yaml").write_text(SNAPSHOT, encoding="utf-8")
    return root


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return write_fleet(tmp_path / "fleet")


def report(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["report", str(path), *args], catch_exceptions=False)


def report_json(path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = report(path, "--format", "json", *args)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_every_flag_is_raised_where_it_belongs(fleet: Path) -> None:
    flags = {(f["code"], f["account"], f["user"]) for f in report_json(fleet)["flags"]}
    assert flags == {
        ("unreadable-account", 1003, None),
        ("employee-super-admin", 1001, "ana@northwind.agency"),
        ("non-employee-partner-seat", 1001, "client@acme.example"),
        ("non-employee-partner-admin", 1001, "client@acme.example"),
        ("single-super-admin", 1002, "owner@bluebird.example"),
        ("undeclared-user", 1001, "client@acme.example"),
        ("undeclared-user", 1001, "stranger@acme.example"),
        ("undeclared-user", 1001, "gone@northwind.agency"),
        ("undeclared-user", 1002, HOSTILE_EMAIL),
    }


def test_employee_super_admin_cites_hubspots_partner_admin_page(fleet: Path) -> None:
    flags = report_json(fleet)["flags"]
    message = next(f["message"] for f in flags if f["code"] == "employee-super-admin")
    assert "knowledge.hubspot.com/partner-tools/grant-partner-admin-access" in message


def test_config_status_of_each_user(fleet: Path) -> None:
    people = {p["email"]: p for p in report_json(fleet)["people"]}
    status = {email: [c["config"] for c in p["accounts"]] for email, p in people.items()}
    assert status["ana@northwind.agency"] == ["declared"]
    assert status["gone@northwind.agency"] == ["absent-but-present"]  # a leaver still there
    assert status["stranger@acme.example"] == ["undeclared"]
    assert status["automation@northwind.agency"] == ["declared", "declared"]


def test_unreadable_account_is_named_and_exits_1_after_the_report(fleet: Path) -> None:
    result = report(fleet)
    assert result.exit_code == 1
    assert "Cedar Missing (1003): could not be read: cannot read current state" in result.stdout
    assert "People (partner employees first):" in result.stdout
    assert "error: account 1003 (Cedar Missing): cannot read current state" in result.stderr
    accounts = {a["id"]: a for a in report_json(fleet)["accounts"]}
    assert accounts[1003]["error"].startswith("cannot read current state")


def test_readable_accounts_only_exit_0(fleet: Path) -> None:
    result = report(fleet, "--account", "1001", "--account", "1002")
    assert result.exit_code == 0, result.output
    assert "1003" not in result.stdout


def test_shard_selects_accounts(fleet: Path) -> None:
    data = report_json(fleet, "--shard", "2/2")  # id % 2 == 1: 1001 and 1003
    assert [a["id"] for a in data["accounts"]] == [1001, 1003]


def test_seat_spend_matches_a_hand_computed_example(fleet: Path) -> None:
    data = report_json(fleet)
    # Acme: ana core 90 + ceo core 90 + gone view_only 5.50 + stranger sales 50; partner seats free.
    # Bluebird: owner core 90 + the hostile user's view_only 5.50.
    assert {a["id"]: a["monthly_cost"] for a in data["accounts"]} == {
        1001: "235.50",
        1002: "95.50",
        1003: None,
    }
    assert data["monthly_cost"] == "331.00"
    assert data["currency"] == "EUR"
    people = {p["email"]: p["monthly_cost"] for p in data["people"]}
    assert people["ana@northwind.agency"] == "90.00"
    assert people["automation@northwind.agency"] == "0.00"
    assert people["stranger@acme.example"] == "50.00"
    assert "seat spend 331.00 EUR/month" in report(fleet).stdout


def test_without_prices_no_cost_is_shown(tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "fleet", prices=False)
    data = report_json(root)
    assert data["currency"] is None and data["monthly_cost"] is None
    assert all(p["monthly_cost"] is None for p in data["people"])
    assert "EUR" not in report(root).stdout


def test_json_structure(fleet: Path) -> None:
    text = report(fleet, "--format", "json").stdout
    data = json.loads(text)
    assert (
        text == json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    )
    assert set(data) == {
        "format_version",
        "partner",
        "currency",
        "monthly_cost",
        "accounts",
        "people",
        "flags",
        "flag_counts",
    }
    assert data["partner"] == "Northwind Digital"
    account_keys = {"id", "name", "error", "partner_access", "users", "super_admins", "seats"}
    assert all(set(a) == account_keys | {"monthly_cost"} for a in data["accounts"])
    assert data["accounts"][0]["seats"] == {"core": 2, "partner": 2, "sales": 1, "view_only": 1}
    person_keys = {"email", "name", "partner_employee", "monthly_cost", "flags", "accounts"}
    cell_keys = {"account", "access", "role", "seat", "teams", "config", "monthly_cost", "flags"}
    for person in data["people"]:
        assert set(person) == person_keys
        assert all(set(cell) == cell_keys for cell in person["accounts"])
    employees = [p["partner_employee"] for p in data["people"]]
    assert employees == sorted(employees, reverse=True)  # partner employees first
    stranger = next(p for p in data["people"] if p["email"] == "stranger@acme.example")
    assert stranger["accounts"][0]["teams"] == {"primary": "Sales", "secondary": []}
    assert data["flag_counts"]["undeclared-user"] == 4


def test_csv_parses_back_one_row_per_person_and_account(fleet: Path) -> None:
    text = report(fleet, "--format", "csv").stdout_bytes.decode("utf-8")  # .stdout folds CRLF
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    cells = sum(len(p["accounts"]) for p in report_json(fleet)["people"])
    assert len(body) == cells + 1  # and one row for the unreadable account
    unreadable = body[-1]
    assert unreadable["account_id"] == "1003" and unreadable["account_error"]
    ana = next(r for r in body if r["email"] == "ana@northwind.agency")
    assert ana["access"] == "super_admin" and ana["monthly_cost"] == "90.00"
    assert ana["flags"] == "employee-super-admin" and ana["currency"] == "EUR"


def test_csv_cells_never_start_a_formula(fleet: Path) -> None:
    text = report(fleet, "--format", "csv").stdout_bytes.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    hostile = next(r for r in rows if HOSTILE_EMAIL in r[0])
    assert hostile[0] == "'" + HOSTILE_EMAIL
    assert hostile[1] == HOSTILE_FIRST + " </script><b>x"  # data, kept as it is
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r)


class StrictPage(HTMLParser):
    """Fails on an unclosed or stray tag; collects tables, scripts, links and text."""

    VOID = frozenset({"meta", "input", "br", "hr", "img", "link", "col", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            self.scripts[-1] += data
        else:
            self.text.append(data)


def parse_page(html: str) -> StrictPage:
    page = StrictPage()
    page.feed(html)
    page.close()
    assert page.stack == []
    return page


def test_html_page_is_well_formed_and_self_contained(fleet: Path) -> None:
    html = report(fleet, "--format", "html").stdout
    assert html.startswith("<!DOCTYPE html>")
    page = parse_page(html)
    names = [tag for tag, _ in page.tags]
    assert names.count("table") == 1 and names.count("script") == 2
    for _, attrs in page.tags:
        for attribute in ("src", "href", "action", "srcset"):
            assert attribute not in attrs
    assert "http://" not in html and "@import" not in html
    policy = next(a["content"] for t, a in page.tags if a.get("http-equiv"))
    assert policy is not None and policy.startswith("default-src 'none'")
    data, script = page.scripts
    assert "addEventListener" in script and "innerHTML" not in script
    matrix = json.loads(data)
    assert len(matrix["people"]) == len(report_json(fleet)["people"])
    assert [a[0] for a in matrix["accounts"]] == [1001, 1002, 1003]


def test_html_escapes_hostile_names(fleet: Path) -> None:
    html = report(fleet, "--format", "html").stdout
    for raw in ("<script>alert", "<img", "</script><b>", "<b>x"):
        assert raw not in html
    page = parse_page(html)
    assert any(HOSTILE_ACCOUNT in text for text in page.text)  # shown, as text
    matrix = json.loads(page.scripts[0])
    hostile = next(p for p in matrix["people"] if p[0] == HOSTILE_EMAIL)
    assert hostile[1] == HOSTILE_FIRST + " </script><b>x"


def test_markdown_escapes_hostile_names(fleet: Path) -> None:
    markdown = report(fleet, "--format", "markdown").stdout
    # No tag can open: every "<" is escaped, or starts the comment that breaks an autolink.
    assert re.findall(r"(?<!\\)<(?!!-- -->)", markdown) == []
    assert "Bluebird" in markdown and "alert(1)" in markdown  # shown, inert
    people = report_json(fleet)["people"]
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "@" in line]
    assert len(rows) == sum(len(p["accounts"]) for p in people)


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_the_same_byte_for_byte(fleet: Path, fmt: str) -> None:
    first = report(fleet, "--format", fmt).stdout_bytes
    assert first == report(fleet, "--format", fmt).stdout_bytes


def test_out_writes_the_file(fleet: Path, tmp_path: Path) -> None:
    target = tmp_path / "review.csv"
    result = report(fleet, "--format", "csv", "--out", str(target))
    assert result.exit_code == 1  # 1003 still could not be read
    assert result.stdout == ""
    assert target.read_bytes().startswith(b"email,name,") and b"\r\n" in target.read_bytes()


def test_unknown_access_raises_no_access_flag() -> None:
    """What a provider cannot read (HubSpot: Partner Admin) is shown as unknown, never judged."""
    partner = Partner("Northwind", "bot@northwind.agency", frozenset({"northwind.agency"}))
    users = {
        "ana@northwind.agency": User("ana@northwind.agency", Access("super_admin"), "core"),
        "bob@client.example": User("bob@client.example", Access("super_admin"), "core"),
    }
    state = AccountState(
        7, "Seven", users=users, unknown=frozenset({"ana@northwind.agency.access"})
    )
    desired = DesiredAccount(7, users={"bob@client.example": DesiredUser("bob@client.example")})
    review = build_review(Config(partner, (desired,)), [(desired, state)])
    assert [f.code for f in review.flags] == ["undeclared-user"]
    ana = next(p for p in review.people if p.key == "ana@northwind.agency")
    assert ana.cells[0].access == "unknown" and ana.monthly_cost is None
    assert review.monthly_cost is None and review.accounts[0].super_admins == 1
    assert Decimal(0) not in (p.monthly_cost for p in review.people)


def test_review_modules_import_no_io_library() -> None:
    modules = ["build", "words", "text", "markdown", "tabular", "page", "assets", "render"]
    script = (
        "import sys, json\nbefore = set(sys.modules)\n"
        f"for name in {modules!r}: __import__('reconciler.review.' + name)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    forbidden = {"click", "yaml", "httpx", "sqlite3", "starlette", "rich", "time", "datetime"}
    assert sorted(forbidden & loaded) == []
