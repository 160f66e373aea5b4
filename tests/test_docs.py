"""The docs: generated references current and complete, every link inside the repository."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

from reconciler.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def script(name: str) -> ModuleType:
    """A generator from scripts/, imported from its file (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONFIG_REFERENCE = script("config_reference")
CLI_REFERENCE = script("cli_reference")


def schema() -> dict[str, Any]:
    data = json.loads((ROOT / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_configuration_reference_is_current() -> None:
    text = CONFIG_REFERENCE.render_reference(schema())
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert committed == text, (
        "docs/configuration.md is stale; run: python scripts/config_reference.py"
    )


def test_the_cli_reference_is_current() -> None:
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == CLI_REFERENCE.render_reference(main), (
        "docs/cli.md is stale; run: python scripts/cli_reference.py"
    )


@pytest.mark.parametrize("module", [CONFIG_REFERENCE, CLI_REFERENCE], ids=["config", "cli"])
def test_check_fails_on_a_stale_file_and_writing_makes_it_current(
    module: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "reference.md"
    target.write_text("# an old reference\n", encoding="utf-8")
    monkeypatch.setattr(module, "TARGET", target)
    assert module.main(["--check"]) == 1
    assert module.COMMAND in capsys.readouterr().err
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
    assert target.read_text(encoding="utf-8").startswith("# ")


def properties(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, key) under a ``properties`` anywhere in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    yield path, name
                    yield from properties(sub, f"{path}.{name}")
            else:
                yield from properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for number, value in enumerate(node):
            yield from properties(value, f"{path}/{number}")


def test_the_configuration_reference_has_every_key_and_definition() -> None:
    text = CONFIG_REFERENCE.render_reference(schema())
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, re.M))
    missing = sorted({f"{path}: {key}" for path, key in properties(schema()) if key not in rows})
    assert missing == []
    headings = set(re.findall(r"^### (\S+)$", text, re.M))
    assert headings == set(schema()["$defs"])
    for target in re.findall(r"\]\(#([^)]+)\)", text):  # every link lands on a heading
        assert any(
            CONFIG_REFERENCE.anchor(h) == target for h in re.findall(r"^#+ (\S+)$", text, re.M)
        ), target


def commands(group: click.Command, path: str = "reconciler") -> Iterator[tuple[str, click.Command]]:
    yield path, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from commands(command, f"{path} {name}")


def test_the_cli_reference_has_every_command_option_and_exit_code() -> None:
    text = CLI_REFERENCE.render_reference(main)
    for path, command in commands(main):
        assert f"`{path}`" in text, path
        for param in command.params:
            for name in [*param.opts, *param.secondary_opts]:
                if name.startswith("--"):
                    assert name in text, f"{path} {name}"
    codes = re.findall(r"^\| (\d+) \|", text, re.M)
    assert codes == ["0", "1", "2", "3", "64"]


def links(markdown: str) -> list[str]:
    """The targets of Markdown links, outside code blocks and code spans."""
    prose = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return LINK.findall(re.sub(r"``.*?``|`[^`\n]*`", "", prose))


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.name)
def test_every_relative_link_lands_inside_the_repository(page: Path) -> None:
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (page.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"


def test_the_readme_lists_the_documentation() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    linked = {Path(target).name for target in links(listed)}
    assert {"concepts.md", "configuration.md", "cli.md", "ci.md", "guarantees.md"} <= linked
