"""The audit journal: one JSON line per step of every apply, as it happens."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_workflow import example, run

__all__ = ["example"]


def test_every_step_of_an_apply_is_journalled_with_its_outcome(example: Path) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    plan = json.loads(Path("plan.json").read_text(encoding="utf-8"))
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    assert result.exit_code == 0, result.output
    lines = Path(".reconciler/journal.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    planned = {s["id"]: s for a in plan["accounts"] for s in a["steps"]}
    assert sorted(r["step"] for r in records) == sorted(planned)
    for record in records:
        step = planned[record["step"]]
        assert record["plan"] == plan["digest"]
        assert (record["account"], record["type"], record["user"]) == (
            step["account"],
            step["type"],
            step["user"],
        )
        assert (record["before"], record["after"]) == (step["before"], step["after"])
        assert record["outcome"] in ("applied", "pending", "waiting")
        assert record["time"].endswith("+00:00")
    outcomes = {r["outcome"] for r in records}
    assert {"applied", "pending"} <= outcomes
    # A second apply appends; an explicit --journal goes where it is told.
    assert run("apply", ".", "--auto-approve", "--journal", "audit/run.jsonl").exit_code == 0
    assert Path("audit/run.jsonl").read_text(encoding="utf-8").count("\n") >= 1
    assert Path(".reconciler/journal.jsonl").read_text(encoding="utf-8").splitlines() == lines


def test_an_unwritable_journal_is_a_one_line_error_before_any_write(example: Path) -> None:
    Path("blocked").write_text("a file, not a folder", encoding="utf-8")
    before = run("sandbox", "export", ".").output
    result = run("apply", ".", "--auto-approve", "--journal", "blocked/journal.jsonl")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot write the journal blocked/journal.jsonl: ")
    assert result.stderr.count("\n") == 1
    assert run("sandbox", "export", ".").output == before
