"""The pure core stays pure: no CLI, YAML, HTTP, SQLite or clock behind the planner."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "reconciler.model",
    "reconciler.invariants",
    "reconciler.diff",
    "reconciler.planner",
    "reconciler.plan",
    "reconciler.render.text",
    "reconciler.render.markdown",
    "reconciler.render.json",
]
FORBIDDEN = [
    "click",
    "yaml",
    "httpx",
    "sqlite3",
    "starlette",
    "uvicorn",
    "rich",
    "time",
    "datetime",
]


def test_core_modules_import_no_io_library() -> None:
    script = (
        "import sys, json\n"
        f"before = set(sys.modules)\n"
        f"for name in {CORE!r}: __import__(name)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert sorted(m for m in FORBIDDEN if m in loaded) == []
