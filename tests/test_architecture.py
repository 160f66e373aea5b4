"""The pure core stays pure (no CLI, YAML, HTTP, SQLite or clock behind the planner),
and no reconciler module imports itself back through others."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _from_module(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of the module a ``from … import`` statement imports from."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def import_graph(root: Path = ROOT, package: str = "reconciler") -> dict[str, set[str]]:
    """Each module of ``package`` (under ``root``) → the modules of it that it imports.

    Every import statement counts, wherever it is (inside a function, under
    ``TYPE_CHECKING``): a circle that closes only when a function runs, or only
    for the type checker, is still a circle.
    """
    paths = sorted((root / package).rglob("*.py"))
    files = {_module_name(path, root): path for path in paths}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _from_module(node, module, path.name == "__init__.py")
                for alias in node.names:
                    # ``from a import b``: the module ``a.b`` if there is one, else ``a``.
                    name = f"{base}.{alias.name}"
                    targets.add(name if name in files else base)
        graph[module] = {t for t in targets if t in files} - {module}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """A cycle ``a → … → a`` in each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set(stack[stack.index(node) :])
            del stack[stack.index(node) :]
            if len(group) > 1:
                cycles.append(_cycle_in(graph, group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, within the group."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in {sorted(group)}")


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set(), "e": {"d"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


def test_the_import_graph_sees_every_import_statement(tmp_path: Path) -> None:
    modules = {
        "pkg/__init__.py": "",
        "pkg/a.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n"
        ),
        "pkg/b.py": "import os\n\ndef f():\n    from . import c\n",
        "pkg/c.py": "import pkg.sub.helper\nfrom pkg import a, thing\n",
        "pkg/sub/__init__.py": "from pkg.sub import helper\n",
        "pkg/sub/helper.py": "from ..a import x\nfrom .. import b\n",
    }
    for name, text in modules.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert import_graph(tmp_path, "pkg") == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg", "pkg.a", "pkg.sub.helper"},
        "pkg.sub": {"pkg.sub.helper"},
        "pkg.sub.helper": {"pkg.a", "pkg.b"},
    }
    assert find_cycles(import_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_the_import_graph_covers_the_reconciler_modules() -> None:
    graph = import_graph()
    # Inside a function (``sandbox_serve_command``).
    assert "reconciler.sandbox.http.server" in graph["reconciler.cli.sandbox"]
    # ``from reconciler.config import load_config`` imports the package itself.
    assert {"reconciler.config", "reconciler.collector"} <= graph["reconciler.cli.commands"]


def test_the_reconciler_modules_import_one_another_without_a_cycle() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)
