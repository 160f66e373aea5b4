"""The CI recipes in examples/ci: their structure, and every `reconciler` command in them, run.

Each recipe is parsed, checked against the workflow schema its CI publishes (the
copies check-jsonschema vendors) and against what reconciler needs of it; then every
command line that starts with `reconciler` is taken from its `run:` / `script:`
entries, its variables are filled in from the recipe itself (CONFIG, the shard
matrix) and it is run against the embedded sandbox, in the order the jobs run. Also
`validate --format github`, the annotations those recipes rely on.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.errors import Diagnostic
from reconciler.render.annotations import annotation, escape_data, escape_property
from reconciler.render.markdown import MARKER

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / "examples" / "ci" / "github"
GITLAB = ROOT / "examples" / "ci" / "gitlab" / ".gitlab-ci.yml"
NORTHWIND = ROOT / "examples" / "northwind"
WORKFLOWS = ["plan.yml", "apply.yml", "drift.yml"]  # the order they run in a repository's life

#: A line that runs reconciler, and reconciler as a command anywhere in a line (after a
#: shell operator or keyword): every one of the latter must be one of the former.
COMMAND = re.compile(r"^[ \t]*reconciler\s", re.M)
ANYWHERE = re.compile(r"(?:^|[;&|(`]|\b(?:then|do|else|exec|time)\s)[ \t]*reconciler\s", re.M)
#: `case "$code" in` branch labels: the exit codes a script expects (`*)` is the rest).
CASE_LABEL = re.compile(r"^\s*(\d+(?:\|\d+)*)\)", re.M)
CAPTURED = re.compile(r"\|\|\s*code=\$\?\s*$")
SHELL_STOP = {";", "&&", "||", "|", "&", ">>", "<", "2>"}
PINNED = re.compile(r"^\s*-? *uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Command:
    """One `reconciler` line of a recipe, with what it needs to be run."""

    where: str  # "plan.yml: plan: Plan"
    line: str
    expected: frozenset[int]  # the exit codes the recipe handles as outcomes
    env: dict[str, str]  # the recipe's variables (CONFIG, ...)
    matrix: tuple[dict[str, str], ...]  # one run per entry (shards)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def commands_in(
    script: str, where: str, env: dict[str, str], matrix: tuple[dict[str, str], ...]
) -> list[Command]:
    """The reconciler lines of one `run:` or `script:` entry; fails on one it would miss."""
    lines = [m.group(0) for m in COMMAND.finditer(script)]
    assert len(ANYWHERE.findall(script)) == len(lines), f"{where}: reconciler not at a line's start"
    labels = {int(code) for group in CASE_LABEL.findall(script) for code in group.split("|")}
    found = []
    for line in script.splitlines():
        if COMMAND.match(line):
            # An exit code the script catches is checked against its `case`; any other
            # must be 0, or the CI step fails.
            expected = frozenset(labels) if CAPTURED.search(line) else frozenset({0})
            assert expected, f"{where}: {line.strip()}: captured exit code, no case for it"
            found.append(Command(where, line.strip(), expected, env, matrix))
    return found


def github_commands(name: str) -> list[Command]:
    workflow = load(GITHUB / name)
    env = {k: str(v) for k, v in workflow.get("env", {}).items()}
    found = []
    for job_name, job in workflow["jobs"].items():
        shards = job.get("strategy", {}).get("matrix", {}).get("shard")
        matrix = tuple({"${{ matrix.shard }}": str(k)} for k in shards) if shards else ({},)
        for step in job["steps"]:
            if "run" in step:
                where = f"{name}: {job_name}: {step.get('name', step['run'][:30])}"
                found += commands_in(step["run"], where, env, matrix)
    return found


def gitlab_commands() -> list[Command]:
    pipeline = load(GITLAB)
    env = {k: str(v) for k, v in pipeline["variables"].items()}
    found = []
    for job_name, job in pipeline.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        total = job.get("parallel", 1)
        matrix = tuple(
            {"CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(total)} for k in range(1, total + 1)
        )
        scripts = [*pipeline["default"]["before_script"], *job["script"]]
        for number, script in enumerate(scripts):
            found += commands_in(script, f".gitlab-ci.yml: {job_name}: {number}", env, matrix)
    return found


def argv(command: Command, values: dict[str, str]) -> tuple[list[str], str | None]:
    """The command's arguments, variables filled in, and the file its stdout goes to."""
    line = command.line
    for name, value in values.items():
        if name.startswith("${{"):
            line = line.replace(name, value)
    assert "${{" not in line, f"{command.where}: {line}: an expression the test cannot fill"
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    words: list[str] = []
    out = None
    for number, token in enumerate(tokens):
        if token in SHELL_STOP:
            break
        if token == ">":
            out = tokens[number + 1]
            break
        words.append(token)
    variables = {**command.env, **values}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"{command.where}: ${name} is not set by the recipe"
        return variables[name]

    words = [re.sub(r"\$\{(\w+)\}|\$(\w+)", fill, word) for word in words]
    assert words[0] == "reconciler", command.line
    return words[1:], out


def run_all(commands: list[Command], workdir: Path) -> Iterator[tuple[Command, list[str], int]]:
    """Run each command, each matrix entry of it, in ``workdir``; yield what happened."""
    for command in commands:
        for values in command.matrix:
            args, out = argv(command, values)
            result = CliRunner().invoke(main, args)
            assert "Traceback" not in result.stderr, result.stderr
            if out:
                (workdir / out).write_text(result.stdout, encoding="utf-8")
            assert result.exit_code in command.expected, (
                f"{command.where}: {shlex.join(args)} exited {result.exit_code},"
                f" the recipe expects {sorted(command.expected)}: {result.stderr}"
            )
            yield command, args, result.exit_code


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository as the recipes expect it: the example config at access/ (CONFIG)."""
    shutil.copytree(NORTHWIND, tmp_path / "access", ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_recipes_name_the_config_directory_the_tests_fill_in() -> None:
    configs = {load(GITHUB / name)["env"]["CONFIG"] for name in WORKFLOWS}
    assert configs == {load(GITLAB)["variables"]["CONFIG"]} == {"access"}


def test_every_github_command_runs_against_the_sandbox(repository: Path) -> None:
    ran = {name: list(run_all(github_commands(name), repository)) for name in WORKFLOWS}
    plan, apply, drift = (ran[name] for name in WORKFLOWS)
    # The pull request: validated, then a plan with changes, saved, Markdown with the marker.
    assert [(args[0], code) for _, args, code in plan] == [("validate", 0), ("plan", 2)]
    assert (repository / "plan.md").read_text(encoding="utf-8").startswith(MARKER + "\n")
    assert (repository / "plan.json").is_file()
    # The merge: the reviewed plan applied, then each of the four shards re-planned.
    assert [a for _, a, _ in apply] == [
        ["apply", "--plan", "plan.json", "--auto-approve"],
        *(["apply", "access", "--auto-approve", "--shard", f"{k}/4"] for k in range(1, 5)),
    ]
    # Applied once, the reviewed plan is stale: `apply --plan` refuses it, changing nothing.
    again = CliRunner().invoke(main, apply[0][1])
    assert again.exit_code == 1 and "stale plan" in again.stderr
    # The night: an outcome the drift alarm tells apart, never an error.
    assert [args[0] for _, args, _ in drift] == ["plan"]
    assert drift[0][0].expected == {0, 2, 3}


def test_every_gitlab_command_runs_against_the_sandbox(repository: Path) -> None:
    commands = gitlab_commands()
    ran = list(run_all(commands, repository))
    jobs = [(command.where.split(": ")[1], args[0], code) for command, args, code in ran]
    assert jobs[:2] == [("plan", "validate", 0), ("plan", "plan", 2)]
    assert jobs[2:6] == [("apply", "apply", 0)] * 4
    assert [args[-1] for _, args, _ in ran[2:6]] == ["1/4", "2/4", "3/4", "4/4"]
    assert jobs[6][:2] == ("drift", "plan")
    assert {c.where.split(": ")[1]: c.expected for c in commands}["drift"] == {0, 2, 3}
    assert (repository / "plan.md").read_text(encoding="utf-8").startswith(MARKER + "\n")


def test_a_command_out_of_a_lines_start_is_caught() -> None:
    with pytest.raises(AssertionError, match="not at a line's start"):
        commands_in('test -f x && reconciler apply "$CONFIG"\n', "t", {}, ({},))
    assert commands_in('echo "### reconciler plan"\n', "t", {}, ({},)) == []


def check_schema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_recipes_match_the_published_workflow_schemas(tmp_path: Path) -> None:
    workflows = [GITHUB / name for name in WORKFLOWS]
    assert check_schema("vendor.github-workflows", *workflows).returncode == 0
    assert check_schema("vendor.gitlab-ci", GITLAB).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text((GITHUB / "plan.yml").read_text().replace("runs-on:", "runs-in:"))
    assert check_schema("vendor.github-workflows", broken).returncode == 1


def test_github_workflows_have_what_reconciler_needs() -> None:
    for name in WORKFLOWS:
        workflow = load(GITHUB / name)
        assert workflow.get("on", workflow.get(True)), name  # YAML 1.1 reads `on` as true
        for job in workflow["jobs"].values():
            assert job["runs-on"] and job["steps"], name
            assert all(("uses" in s) != ("run" in s) for s in job["steps"]), name
        uses = [line for line in (GITHUB / name).read_text().splitlines() if "uses:" in line]
        assert uses and all(PINNED.match(line) for line in uses), name  # commit, then version


def test_the_plan_workflow_keeps_one_comment_and_uploads_the_plan() -> None:
    steps = load(GITHUB / "plan.yml")["jobs"]["plan"]["steps"]
    script = next(s["with"]["script"] for s in steps if "github-script" in s.get("uses", ""))
    assert f"'{MARKER}'" in script
    assert "updateComment" in script and "createComment" in script
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "plan.json"


def test_applies_never_overlap_and_shard_four_ways() -> None:
    workflow = load(GITHUB / "apply.yml")
    assert workflow["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    assert workflow["jobs"]["sharded"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    assert "--plan plan.json" in workflow["jobs"]["reviewed"]["steps"][-1]["run"]
    pipeline = load(GITLAB)
    assert pipeline["apply"]["resource_group"] == "reconciler-apply"
    assert pipeline["apply"]["parallel"] == 4
    assert MARKER in pipeline["plan"]["script"][-1]
    assert pipeline["drift"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    drift = load(GITHUB / "drift.yml")
    assert drift.get("on", drift.get(True))["schedule"][0]["cron"]


# `validate --format github`: GitHub's workflow-command syntax and escaping.


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("%0A is not a newline", "%250A is not a newline", "%250A is not a newline"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
        ("esc\x1b[2J rlo\u202e", "esc\\x1b[2J rlo\\u202e", "esc\\x1b[2J rlo\\u202e"),
    ],
)
def test_escaping_follows_githubs_rules(text: str, data: str, prop: str) -> None:
    assert (escape_data(text), escape_property(text)) == (data, prop)


def unescape(text: str, *, prop: bool) -> str:
    """The runner's reading of an escaped value (the inverse of the documented rules)."""
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for escaped, char in [*pairs, ("%25", "%")]:
        text = text.replace(escaped, char)
    return text


HOSTILE_FILE = "acc:ounts/a,b%2C\nc\r.yaml"
HOSTILE_MESSAGE = "'50%' is not one of ['a,b', 'c:d']\n::error file=x::forged"
ANNOTATION = re.compile(
    r"^::(?P<level>error|warning) file=(?P<file>[^,:]*),line=(?P<line>\d+),col=(?P<col>\d+)"
    r"::(?P<message>[^\r\n]*)$"
)


def test_an_annotation_is_one_command_that_reads_back_as_the_diagnostic() -> None:
    diagnostic = Diagnostic(HOSTILE_FILE, 14, 7, "/accounts/0/users/2/seat", HOSTILE_MESSAGE)
    for level in ("error", "warning"):
        line = annotation(diagnostic, level)
        match = ANNOTATION.match(line)
        assert match is not None, line
        assert match["level"] == level
        assert unescape(match["file"], prop=True) == HOSTILE_FILE
        assert (match["line"], match["col"]) == ("14", "7")
        assert unescape(match["message"], prop=False) == (
            "/accounts/0/users/2/seat: " + HOSTILE_MESSAGE
        )


def test_validate_github_prints_one_annotation_per_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "a, b: 100%.yaml"
    bad.write_text(
        "partner: {name: N, employee_domains: [northwind.agency], actor: a@northwind.agency}\n"
        "accounts:\n  - id: 1\n    users:\n      - {email: a@northwind.agency, seat: partnr}\n"
        "  - id: x\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", bad.name, "--format", "github"])
    text = CliRunner().invoke(main, ["validate", bad.name])
    assert result.exit_code == text.exit_code == 1
    lines = result.stdout.splitlines()
    places = [re.match(r"^(.*?):(\d+):(\d+): (.*)$", line) for line in text.stderr.splitlines()]
    diagnostics = [m for m in places if m]
    assert len(lines) == len(diagnostics) == 2
    for line, place in zip(lines, diagnostics, strict=True):
        match = ANNOTATION.match(line)
        assert match is not None, line
        assert match["level"] == "error"
        assert match["file"] == "a%2C b%3A 100%25.yaml"
        assert (match["line"], match["col"]) == (place[2], place[3])
        assert unescape(match["message"], prop=False) == place[4]
    assert result.stderr == "2 problems found\n"


def test_validate_github_on_a_valid_config_annotates_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", "examples/northwind", "--format", "github"])
    assert result.exit_code == 0
    assert not [line for line in result.stdout.splitlines() if line.startswith("::")]


def test_validate_github_annotates_a_warning_and_keeps_exit_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.yaml").write_text(
        "partner: {name: N, employee_domains: [northwind.agency], actor: a@northwind.agency}\n"
        "accounts:\n  - id: 1\n    users:\n"
        '      - {email: "ana@n\\u043erthwind.agency", access: basic, seat: core}\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "c.yaml", "--format", "github"])
    assert result.exit_code == 0
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(annotations) == 1
    match = ANNOTATION.match(annotations[0])
    assert match is not None
    assert match.group("level", "file", "line", "col") == ("warning", "c.yaml", "5", "17")
    assert match["message"].startswith("/accounts/0/users/0/email: ")
    assert result.stderr == ""  # said once, as the annotation


def test_the_pre_commit_hook_runs_validate_on_the_config(repository: Path) -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "reconciler-validate")
    assert hook["name"] and hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert [bool(files.search(f)) for f in ("a/b.yaml", "c.yml", "d.json", "e.yaml.bak")] == [
        True,
        True,
        False,
        False,
    ]
    entry = shlex.split(hook["entry"])
    assert entry[0] == "reconciler"
    ok = CliRunner().invoke(main, [*entry[1:], *hook["args"]])
    assert ok.exit_code == 0 and ok.stdout.startswith("OK: 8 accounts, ")
    (repository / hook["args"][0] / "accounts" / "broken.yaml").write_text("accounts: [{id: x}]\n")
    broken = CliRunner().invoke(main, [*entry[1:], *hook["args"]])
    assert broken.exit_code == 1
