"""Write docs/configuration.md from schemas/config.schema.json, so the reference never drifts.

    python scripts/config_reference.py          # rewrite docs/configuration.md
    python scripts/config_reference.py --check  # exit 1 when the committed file is stale

Every key of every object, with its type, whether it is required, its constraints
(enums, patterns, lengths, bounds, defaults) and the schema's own description; each
reusable definition (``$defs``) gets a section that the keys using it link to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated import ROOT, refresh

SCHEMA = ROOT / "schemas" / "config.schema.json"
TARGET = ROOT / "docs" / "configuration.md"
COMMAND = "python scripts/config_reference.py"

Node = dict[str, Any]


def code(value: Any) -> str:
    """A value as inline code: strings as written, others as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def anchor(name: str) -> str:
    """GitHub's anchor for a heading made of ``name`` alone."""
    return "".join(c for c in name.lower() if c.isalnum() or c in "-_")


def ref_name(node: Node) -> str | None:
    ref = node.get("$ref")
    return ref.rpartition("/")[2] if isinstance(ref, str) else None


def type_of(node: Node, path: str) -> str:
    """What a key holds, in words, linking to the definition or section that says more."""
    name = ref_name(node)
    if name is not None and not node["$ref"].startswith("#"):  # another schema file
        return f"id from [{name}](../schemas/{node['$ref']})"
    if name is not None:
        return f"[{name}](#{anchor(name)})"
    if "const" in node:
        return code(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(code(v) for v in node["enum"])
    types = node.get("type")
    names = types if isinstance(types, list) else [types] if types else []
    choices = node.get("then", {}).get("enum") if isinstance(node.get("then"), dict) else None
    words = []
    for kind in names:
        if kind == "string" and choices:  # `if: string, then: enum` (access)
            words.append("one of " + ", ".join(code(v) for v in choices))
        elif kind == "array":
            items = node.get("items")
            words.append(f"list of {type_of(items, path)}" if isinstance(items, dict) else "list")
        elif kind == "object" and "properties" in node:
            words.append(f"[object](#{anchor(path)})")
        elif kind == "object" and isinstance(node.get("additionalProperties"), dict):
            values = type_of(node["additionalProperties"], path)
            words.append(f"map of name → {values}")
        else:
            words.append(str(kind))
    return " or ".join(words) or "any"


def constraints(node: Node) -> list[str]:
    """The checks on a value beyond its type, in words."""
    said = []
    for key, word in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            said.append(f"{word} {node[key]}")
    if "minLength" in node and node["minLength"] > 0:
        n = node["minLength"]
        said.append(f"at least {n} character{'' if n == 1 else 's'}")
    if "maxLength" in node:
        said.append(f"at most {node['maxLength']} characters")
    if node.get("uniqueItems"):
        said.append("no repeats")
    if "pattern" in node:
        said.append(f"matches {code(node['pattern'])}")
    if "default" in node:
        said.append(f"default {code(node['default'])}")
    if "format" in node:
        said.append(f"format {node['format']}")
    return said


def describe(node: Node, schema: Node) -> str:
    """A key's description: its own, else the one of the definition it refers to."""
    text = node.get("description")
    name = ref_name(node)
    if text is None and name is not None:
        text = schema["$defs"][name].get("description")
    return text or ""


def key_table(node: Node, path: str, schema: Node) -> list[str]:
    """One row per key of an object node."""
    required = set(node.get("required", ()))
    lines = [
        "| Key | Type | Required | Constraints | Description |",
        "|---|---|---|---|---|",
    ]
    for key, sub in node.get("properties", {}).items():
        limits = "; ".join(constraints(sub)) or "–"
        lines.append(
            f"| `{key}` | {cell(type_of(sub, f'{path}.{key}'))} | {'yes' if key in required else 'no'}"
            f" | {cell(limits)} | {cell(describe(sub, schema))} |"
        )
    return lines


def object_notes(node: Node) -> list[str]:
    """What the table cannot show: other keys, key names, a string-or-object form."""
    notes = []
    if node.get("additionalProperties") is False:
        notes.append("No other keys are allowed.")
    names = node.get("propertyNames")
    if isinstance(names, dict):
        rule = "; ".join(constraints(names))
        notes.append(f"Names: {names.get('description', '')} ({rule}).".replace(" ()", ""))
    values = node.get("additionalProperties")
    if isinstance(values, dict):
        notes.append(f"Each value: {type_of(values, '')}.")
    return notes


def section(title: str, node: Node, schema: Node, level: str) -> list[str]:
    """A definition or an inline object: description, type, constraints, then its keys."""
    lines = [f"{level} {title}", ""]
    if node.get("description"):
        lines += [node["description"], ""]
    kind = "object" if "properties" in node else type_of(node, title)
    facts = [f"Type: {kind}."]
    limits = constraints(node)
    if limits:
        facts.append("Constraints: " + "; ".join(limits) + ".")
    if node.get("x-hint"):
        facts.append(f"Also accepted: {node['x-hint']}.")
    lines += [" ".join(facts), ""]
    lines += [*object_notes(node), ""] if object_notes(node) else []
    if "properties" in node:
        lines += [*key_table(node, title, schema), ""]
    branch = node.get("else")
    if isinstance(branch, dict) and "properties" in branch:
        lines += ["As an object:", "", *key_table(branch, title, schema), ""]
    return lines


def nested(title: str, node: Node) -> list[tuple[str, Node]]:
    """Inline objects with keys of their own, below ``node`` (``provider.seat_names``)."""
    found = []
    for key, sub in node.get("properties", {}).items():
        if isinstance(sub, dict) and "properties" in sub:
            path = f"{title}.{key}"
            found += [(path, sub), *nested(path, sub)]
    return found


def render_reference(schema: Node) -> str:
    """The whole reference page, from the schema alone."""
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated from schemas/config.schema.json by `{COMMAND}`; do not edit. -->",
        "",
        schema.get("description", ""),
        "",
        "Every file may start with `# yaml-language-server: $schema=<path to"
        " schemas/config.schema.json>` so that editors complete and explain these keys."
        " [concepts.md](concepts.md) explains the ideas behind them.",
        "",
        "## Top level",
        "",
        *key_table(schema, "top level", schema),
        "",
        *object_notes(schema),
        "",
        "## Definitions",
        "",
        "The types the keys above refer to, in the schema's order.",
        "",
    ]
    for name, node in schema.get("$defs", {}).items():
        lines += section(name, node, schema, "###")
        for path, sub in nested(name, node):
            lines += section(path, sub, schema, "####")
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    def render() -> str:
        return render_reference(json.loads(SCHEMA.read_text(encoding="utf-8")))

    return refresh(__doc__.splitlines()[0], TARGET, render, COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
