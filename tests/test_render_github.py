"""The plan as a GitHub comment: within GitHub's size, honest at any size, inert for any text,
linked to config lines; and the text rendering's headline and attention section."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bench.generate import generate, make_accounts, snapshot_accounts
from reconciler.cli import main
from reconciler.config import load_config
from reconciler.engine import open_provider, plan_of, read_states, select_accounts
from reconciler.fields import Fields
from reconciler.model import Access, Permissions, Teams, User
from reconciler.plan import AccountPlan, Plan, SeatImpact, Step
from reconciler.providers.sandbox import sandbox_path
from reconciler.render import Context, dangers, plural
from reconciler.render.markdown import COMMENT_LIMIT, escape, render_markdown, source_links
from reconciler.render.text import render_text
from reconciler.sandbox.store import Store
from reconciler.steps import StepType
from tests.test_render import raw_controls

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "northwind"
ACCOUNTS = 1000
#: Every 40th account is missing from the sandbox: reading it fails.
FAILING = range(0, ACCOUNTS, 40)


@pytest.fixture(scope="module")
def fleet_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """1,000 accounts planned by the real planner against the sandbox; 25 cannot be read."""
    folder = tmp_path_factory.mktemp("fleet") / "fleet"
    generate(folder, accounts=ACCOUNTS, users=3, drift=1.0, seed=7)
    partner = folder / "partner.yaml"  # seeded below, quicker than from the YAML snapshot
    partner.write_text(partner.read_text().replace("  snapshot: snapshot.yaml\n", ""))
    config = load_config(folder)
    accounts = snapshot_accounts(make_accounts(ACCOUNTS, 3, 7), 1.0, 7)
    kept = [a for n, a in enumerate(accounts) if n not in FAILING]
    database = sandbox_path(config.provider)
    database.parent.mkdir(parents=True, exist_ok=True)
    with Store(database) as store:
        store.seed({"accounts": kept}, config.partner)
    with open_provider(config) as provider:
        return plan_of(read_states(provider, select_accounts(config, ())), config, provider)


def test_a_thousand_accounts_fit_one_comment_with_true_totals_and_every_failure(
    fleet_plan: Plan,
) -> None:
    plan = fleet_plan
    failed = [a for a in plan.accounts if a.error]
    assert len(plan.accounts) == ACCOUNTS and len(failed) == len(FAILING)
    text = render_markdown(plan)
    assert len(text) <= COMMENT_LIMIT
    steps = plan.steps
    changed = sum(1 for a in plan.accounts if a.steps)
    assert f"{plural(len(steps), 'step')} (" in text
    assert f"in {changed} of {ACCOUNTS} accounts; {len(failed)} accounts cannot be planned." in text
    creates = sum(1 for s in steps if s.type == StepType.CREATE_USER)
    removes = sum(1 for s in steps if s.type == StepType.REMOVE_USER)
    changes = len(steps) - creates - removes
    assert creates and changes
    assert f"{creates} to create, {changes} to change, {removes} to remove." in text
    for account in failed:
        assert f"{account.name} ({account.account})" in text
    # What is not shown is counted: every account with steps is shown or counted.
    shown = len(re.findall(r"^<summary>", text, re.MULTILINE))
    hidden = re.search(r"\*\*(\d+) more accounts with (\d+) steps not shown:\*\*", text)
    assert hidden is not None
    assert shown + int(hidden.group(1)) == changed + len(failed)
    # The attention section stays short: ten steps, then a count of the rest.
    needs = re.search(r"\*\*Needs attention \((\d+)\):\*\*", text)
    assert needs is not None
    count = int(needs.group(1))
    assert count > 10
    assert f"- and {count - 10} more" in text


def test_the_text_of_a_thousand_accounts_states_the_same_totals_first(fleet_plan: Plan) -> None:
    text = render_text(fleet_plan)
    first = text.splitlines()[0]
    assert first.startswith(f"Plan: {plural(len(fleet_plan.steps), 'step')} (")
    assert first.endswith(f"; {len(FAILING)} accounts cannot be planned.")
    # The accounts that could not be planned come first, right after the headline.
    errors = [n for n, line in enumerate(text.splitlines()) if ": error: " in line]
    listed = [n for n, line in enumerate(text.splitlines()) if re.match(r"Client \d+ \(", line)]
    assert len(errors) == len(FAILING) and errors == listed[: len(FAILING)]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example in a repository of its own (``repo/northwind``), as the working directory."""
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    target = tmp_path / "repo" / "northwind"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(target)
    yield target


NOT_IN_THE_SANDBOX = """\
accounts:
  - id: 4419999
    name: Ghost Gardens
    users:
      - {email: automation@northwind.agency, access: partner_admin, seat: partner}
"""


@pytest.mark.parametrize("only", [True, False])
def test_a_plan_with_a_failed_account_never_says_no_changes(example: Path, only: bool) -> None:
    (example / "accounts" / "ghost-gardens.yaml").write_text(NOT_IN_THE_SANDBOX)
    selection = (
        ["--account", "4419999"] if only else ["--account", "4419999", "--account", "4410027"]
    )
    for fmt in ("text", "markdown"):
        result = run("plan", ".", "--format", fmt, *selection)
        assert result.exit_code == 1
        assert "no changes" not in result.stdout.lower()
        assert "Ghost Gardens (4419999)" in result.stdout
        assert "1 account cannot be planned" in result.stdout
        # With the config line that declares it.
        assert "accounts/ghost-gardens.yaml:2" in result.stdout.replace("&#47;", "/")


def first_source(example: Path) -> tuple[str, str]:
    """The first step's config file and line, as the plan names them."""
    data = json.loads(run("plan", ".", "--format", "json").stdout)
    source = next(s["source"] for a in data["accounts"] for s in a["steps"] if s["source"])
    file, line, _ = source.rsplit(":", 2)
    return file, line


def test_each_step_links_to_its_config_line_with_source_url(example: Path) -> None:
    (example.parent / ".git").mkdir()
    file, line = first_source(example)
    url = "https://github.com/o/r/blob/abc123"
    result = run("plan", ".", "--format", "markdown", "--source-url", url)
    assert result.exit_code == 0, result.output
    link = f"[{escape(file)}:{line}]({url}/northwind/{file}#L{line})"
    assert link in result.stdout
    # A saved plan shown from the same folder links the same way.
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    shown = run("show", "plan.json", "--format", "markdown", "--source-url", url)
    assert link in shown.stdout


def test_github_actions_environment_gives_the_links(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (example.parent / ".git").mkdir()
    file, line = first_source(example)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/access")
    monkeypatch.setenv("GITHUB_SHA", "0123abcd")
    result = run("plan", ".", "--format", "markdown")
    assert f"(https://github.example/acme/access/blob/0123abcd/northwind/{file}#L{line})" in (
        result.stdout
    )


def test_no_links_without_a_repository_or_a_url(example: Path) -> None:
    file, line = first_source(example)
    plain = run("plan", ".", "--format", "markdown")
    assert "](" not in plain.stdout
    assert f"| {escape(file)}:{line} |" in plain.stdout
    url = run("plan", ".", "--format", "markdown", "--source-url", "https://x.example/blob/1")
    assert "](" not in url.stdout
    assert "warning: --source-url: no .git above ." in url.stderr
    refused = run("plan", ".", "--source-url", "javascript:alert(1)")
    assert refused.exit_code != 0 and "--source-url" in refused.output


def test_source_links_are_relative_to_the_repository_and_escaped() -> None:
    link = source_links("https://h.example/o/r/blob/c1/", "/repo", "/repo/access")
    assert link("a b/(x)|.yaml:7:3") == "https://h.example/o/r/blob/c1/access/a b/(x)|.yaml#L7"
    assert link("/repo/top.yaml:2:1") == "https://h.example/o/r/blob/c1/top.yaml#L2"
    assert link("../../elsewhere.yaml:2:1") is None
    assert link("no-line") is None
    step = Step("1-x", 1, StepType.SET_NAME, "a@b.example", Fields(first_name="A"),
                Fields(first_name="B"), "rename", source="a b/(x)|.yaml:7:3")  # fmt: skip
    plan = Plan((AccountPlan(1, "One", (step,)),), "sha256:0")
    text = render_markdown(plan, context=Context(link=link))
    assert "(https://h.example/o/r/blob/c1/access/a%20b/%28x%29%7C.yaml#L7)" in text


# -- dangerous steps ------------------------------------------------------------------------

ACTOR = "automation@northwind.agency"


def step(
    type_: StepType, before: Fields | None, after: Fields | None, user: str = "u@x.example"
) -> Step:
    return Step(f"1-{type_}", 1, type_, user, before, after, "why")


def whole(access: str, seat: str, email: str = "u@x.example") -> Fields:
    return Fields.user(User(email, Access(access), seat))


@pytest.mark.parametrize(
    "made,expected",
    [
        (step(StepType.REMOVE_USER, whole("basic", "none"), None), ("removes a user",)),
        (
            step(StepType.REMOVE_USER, whole("super_admin", "core"), None),
            ("removes a user", "Super Admin change"),
        ),
        (
            step(
                StepType.SET_ACCESS,
                Fields(access=Access("super_admin")),
                Fields(access=Access("role", "Sales Rep")),
            ),
            ("Super Admin change",),
        ),
        (
            step(
                StepType.GRANT_PARTNER_ADMIN,
                Fields(access=Access("basic")),
                Fields(access=Access("partner_admin")),
            ),
            ("grants Partner Admin",),
        ),
        (step(StepType.CREATE_USER, None, whole("basic", "sales")), ("takes a paid sales seat",)),
        (step(StepType.CREATE_USER, None, whole("basic", "partner")), ()),
        (step(StepType.SET_SEAT, Fields(seat="core"), Fields(seat="view_only")), ()),
        (
            step(
                StepType.SET_PERMISSIONS,
                Fields(permissions=Permissions()),
                Fields(permissions=Permissions(frozenset({"billing.write"}))),
                user=ACTOR,
            ),
            ("the actor's own access",),
        ),
        (step(StepType.SET_NAME, Fields(first_name="A"), Fields(first_name="B"), user=ACTOR), ()),
        (step(StepType.SET_TEAMS, Fields(teams=Teams()), Fields(teams=Teams("Sales"))), ()),
        (
            step(
                StepType.REQUEST_ACCESS,
                Fields(partner_access="none"),
                Fields(partner_access="pending"),
                user=ACTOR,
            ),
            (),
        ),
    ],
)
def test_dangerous_steps_are_found(made: Step, expected: tuple[str, ...]) -> None:
    assert dangers(made, ACTOR) == expected


def test_dangerous_steps_are_marked_and_listed_first(example: Path) -> None:
    data = json.loads(run("plan", ".", "--format", "json").stdout)
    steps = [Step.from_data(s) for a in data["accounts"] for s in a["steps"]]
    marked = [s for s in steps if dangers(s, ACTOR)]
    removal = next(s for s in steps if s.type == StepType.REMOVE_USER)
    text = run("plan", ".").stdout
    lines = text.splitlines()
    assert lines[0].startswith(f"Plan: {plural(len(steps), 'step')} (")
    creates = sum(1 for s in steps if s.type == StepType.CREATE_USER)
    assert lines[1].startswith(f"{creates} to create, ")
    assert lines[3] == f"Needs attention ({len(marked)}):"
    assert f"  - remove user: {removal.user}  ⚠ removes a user" in text
    markdown = run("plan", ".", "--format", "markdown").stdout
    head, _, rest = markdown.partition("| Account | Status |")
    assert f"**Needs attention ({len(marked)}):**" in head
    assert f"| ⚠️ `-` remove user | {escape(removal.user)} |" in rest


# -- hostile text ---------------------------------------------------------------------------

HOSTILE_PARTS = (
    "<img src=x onerror=alert(1)>",
    "**bold**",
    "[x](http://evil)",
    "@org/team",
    "@user",
    "#1",
    "https://evil.example",
    "WWW.evil.example",
    "mail@evil.example",
    "&#64;entity",
    "<!-- c -->",
    "`tick`",
    "a_b_ _em_ ~~s~~ $x$ |cell|",
)
CONTROLS = "\x1b[2J\x00\r\u202e"
HOSTILE = " ".join(HOSTILE_PARTS) + CONTROLS
EMAIL = "@user#1@evil.example"


def hostile_plan() -> Plan:
    """Hostile text in every place a plan holds text: names, emails, roles, teams, errors."""
    user = User(
        EMAIL,
        Access("role", HOSTILE),
        HOSTILE,
        first_name=HOSTILE,
        last_name=HOSTILE,
        teams=Teams(HOSTILE, (HOSTILE,)),
        permissions=Permissions(frozenset({HOSTILE})),
    )
    made = [
        Step(f"9-{HOSTILE}", 9, StepType.CREATE_USER, EMAIL, None, Fields.user(user), HOSTILE,
             instructions=(HOSTILE,), channel="manual", source=f"{HOSTILE}.yaml:1:1"),
        Step("9-b", 9, StepType.SET_ACCESS, EMAIL, Fields(access=Access("role", HOSTILE)),
             Fields(access=Access("super_admin")), HOSTILE),
        Step("9-c", 9, StepType.SET_TEAMS, EMAIL, Fields(teams=Teams()),
             Fields(teams=Teams(HOSTILE)), HOSTILE),
        Step("9-d", 9, StepType.SET_NAME, EMAIL, Fields(first_name=HOSTILE),
             Fields(first_name="x"), HOSTILE),
        Step("9-e", 9, StepType.REMOVE_USER, HOSTILE, Fields.user(user), None, HOSTILE),
    ]  # fmt: skip
    seats = SeatImpact({HOSTILE: 1}, {HOSTILE: 2})
    accounts = (
        AccountPlan(9, HOSTILE, tuple(made), warnings=(HOSTILE,), seats=seats),
        AccountPlan(10, HOSTILE, error=HOSTILE),
    )
    return Plan(accounts, HOSTILE)


PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
#: What GitHub links in the text it renders: mentions, references, URLs and addresses.
GITHUB_LINKS = re.compile(r"(?<![\w`])@[A-Za-z0-9]|#\d|://|www\.|\w@\w", re.IGNORECASE)
OUR_HTML = {"<!-- -->", "<sub>", "</sub>"}
OUR_BOLD = re.compile(
    r"\d+ steps? \(|Nothing planned|No changes|Cannot plan:$|manual$|approval$|To do by hand:$"
    r"|Paid seats, all accounts:$|Needs attention \(\d+\):$|\d+ more accounts? with"
)


class _Html(HTMLParser):
    """Tags, comments and text pieces (comments split text, as on GitHub) of raw HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tags: list[str] = []
        self.comments: list[str] = []
        self.pieces: list[str] = [""]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.pieces.append("")

    def handle_endtag(self, tag: str) -> None:
        self.pieces.append("")

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)
        self.pieces.append("")

    def handle_data(self, data: str) -> None:
        self.pieces[-1] += data

    def handle_charref(self, name: str) -> None:
        self.pieces[-1] += chr(int(name[1:], 16) if name[:1] in "xX" else int(name))

    def handle_entityref(self, name: str) -> None:
        self.pieces[-1] += {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}[name]


def _tokens(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from _tokens(token.children or [])


def visible_pieces(markdown: str) -> tuple[list[str], str, str]:
    """Each text node GitHub would see; the Markdown's text and the raw HTML's text,
    each joined as a reader sees it."""
    pieces: list[str] = []
    seen: list[str] = []
    shown_in_html: list[str] = []
    strong = False
    for token in _tokens(PARSER.parse(markdown)):
        assert token.type not in ("link_open", "image", "em_open", "s_open"), token
        if strong and token.type == "text":  # bold is ours alone
            assert OUR_BOLD.match(token.content), token.content
        strong = token.type == "strong_open"
        if token.type == "html_inline":
            assert token.content in OUR_HTML, token.content
            pieces.append("")
        elif token.type == "html_block":
            html = _Html()
            html.feed(token.content)
            assert set(html.tags) <= {"details", "summary"}
            assert set(html.comments) <= {" ", " reconciler-plan "}
            pieces += html.pieces
            shown_in_html.append("".join(html.pieces))
        elif token.type == "text":
            pieces.append(token.content)
            seen.append(token.content)
        elif token.type == "inline":
            seen.append("\n")
        elif token.type == "code_inline":
            assert re.fullmatch(r"[A-Za-z0-9:._~+?! -]+", token.content), token.content
    return pieces, "".join(seen), "".join(shown_in_html)


def test_hostile_text_is_inert_in_the_comment() -> None:
    markdown = render_markdown(hostile_plan())
    assert raw_controls(markdown) == []
    pieces, seen, seen_in_html = visible_pieces(markdown)
    # No text adds a cell: each table row has its header's number of pipes.
    widths = {line.count("|") for line in markdown.splitlines() if line.startswith("| ")}
    assert widths == {8, 10}  # the steps' table, the accounts' table
    assert [p for p in pieces if GITHUB_LINKS.search(p)] == []
    # Shown as written, not as formatting: the reader sees every part literally.
    for part in HOSTILE_PARTS:
        assert part in seen and part in seen_in_html, part
    assert "\\x1b[2J\\x00 \\u202e" in seen  # the CR is a line break: one space
    assert escape("@a #1 https://b www.c d@e") == (
        "@<!-- -->a #<!-- -->1 https:<!-- -->//b www<!-- -->.c d@<!-- -->e"
    )


def test_hostile_text_is_inert_in_the_terminal() -> None:
    text = render_text(hostile_plan(), color=True)
    assert raw_controls(text) == []
    assert "\\x1b[2J\\x00" in text and "\\u202e" in text
    for part in HOSTILE_PARTS:
        assert part in text
