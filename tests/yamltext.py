"""Random YAML text shaped like configuration files, for comparing two parsers.

Each text is drawn from a ``random.Random``: a mapping with an ``accounts`` list of
mappings with ``users`` lists, other keys beside them, written in block or flow
style, with indents, compact lists, comments and quotes chosen at random, and
scalars drawn from the words where YAML 1.1 and 1.2 disagree. Some texts are then
damaged (a character changed, a line repeated or dropped), so that broken YAML is
compared too.
"""

from __future__ import annotations

import random
from typing import Any

#: Scalars where YAML 1.1 (PyYAML) and 1.2 (yaml_rs) may read differently, and plain ones.
WORDS = [
    "yes", "No", "on", "OFF", "y", "n", "true", "True", "FALSE", "null", "Null", "~", "",
    "0", "-0", "+1", "7", "012", "0o17", "0x1F", "0b101", "1_000", "1__0", "1:30", "190:20:30",
    "1.5", ".5", "1e3", "1.0e+3", ".inf", "-.Inf", ".NaN", "2024-01-31", "2024-01-31 10:00:00",
    "=", "<<", "-", "--", "a: b", "a #b", "a#b", "C#", "x:y", "http://x.example/a",
    "ana@acme.example", "Ana O'Brien", "Sales Rep", "25%", "partner_admin", "é", "日本",
    "+1 555 0100", "1password@acme.example", "'", '"', "\\", "a\\nb", "@x", "`x", "%x", "!x",
    "&a", "*a", "|", ">", "[a]", "{a: b}", "a, b", "?x", "? x", "- x", "a\tb", "\u0085", "\u2028",
    "\ufeff", "\x07",
]  # fmt: skip
#: Scalars both read alike, most of what a configuration holds.
PLAIN = [
    "ana@acme.example", "ben.okafor@northwind.agency", "Ana", "O'Brien", "Sales Rep", "core",
    "partner_admin", "super_admin", "Client 0001", "view_only", "reports.view", "42", "-3",
    "4410021", "25%", "Müller", "x-y", "a/b",
]  # fmt: skip
KEYS = [
    "email", "first_name", "last_name", "access", "seat", "teams", "primary", "id", "name",
    "yes", "on", "1", "~", "<<", "a b", "x.y", "users", "accounts", "leavers", "profile",
]  # fmt: skip
DAMAGE = ["\t", ":", "-", " ", "#", "'", '"', "[", "{", "&", "*", "!", "|", "\n", "\\", "0", "y"]


def text(rng: random.Random) -> str:
    """One random configuration-like text."""
    document: dict[str, Any] = {}
    for _ in range(rng.randint(0, 2)):
        document[_key(rng) if rng.random() < 0.3 else "profiles"] = _value(rng, 2)
    accounts = [_account(rng) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.5:
        document["accounts"] = accounts
    else:
        document = {"accounts": accounts, **document}
    written = _Writer(rng).block(document, 0)
    if rng.random() < 0.25:
        written = _damage(rng, written)
    return written


def _account(rng: random.Random) -> dict[str, Any]:
    account: dict[str, Any] = {
        "id": rng.choice([1, 4410021, "7", "012"] if rng.random() < 0.1 else [5, 4410021])
    }
    users = [_user(rng) for _ in range(rng.randint(0, 3))]
    keys = ["name", "users", "leavers", "actor"]
    rng.shuffle(keys)
    for key in keys:
        if key == "users":
            account["users"] = users
        elif rng.random() < 0.4:
            account[key] = _value(rng, 1) if key == "leavers" else _word(rng)
    return account


def _user(rng: random.Random) -> dict[str, Any]:
    user: dict[str, Any] = {}
    for key in rng.sample(KEYS[:8], rng.randint(1, 4)):
        user[key] = _word(rng) if key != "teams" else _value(rng, 1)
    if rng.random() < 0.8:
        user = {"email": _word(rng), **user}
    return user


def _word(rng: random.Random) -> str:
    """Mostly a plain word, now and then one the two YAMLs may read apart."""
    return rng.choice(WORDS if rng.random() < 0.02 else PLAIN)


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.5:
        return _word(rng)
    if roll < 0.75:
        return [_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {_key(rng): _value(rng, depth - 1) for _ in range(rng.randint(0, 3))}


def _key(rng: random.Random) -> str:
    """Mostly a plain key, now and then one the two YAMLs may read apart."""
    return rng.choice(KEYS[9:15] if rng.random() < 0.05 else KEYS[:9] + KEYS[15:])


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.step = rng.choice([2, 2, 2, 4, 1, 3])

    def scalar(self, value: Any) -> str:
        if not isinstance(value, str):
            return str(value)
        style = self.rng.random()
        if style < 0.85:
            return value
        if style < 0.8:
            return "'" + value.replace("'", "''") + "'"
        return '"' + value + '"'

    def flow(self, value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {self.flow(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.flow(v) for v in value) + "]"
        return self.scalar(value)

    def block(self, value: Any, indent: int) -> str:
        """``value`` as lines at ``indent``, each ending in a newline."""
        rng = self.rng
        pad = " " * indent
        lines: list[str] = []
        if rng.random() < 0.1:
            lines.append(f"{pad}# a comment\n")
        if isinstance(value, dict):
            for key, item in value.items():
                lines.append(self.entry(pad, indent, key, item))
        else:
            for item in value:
                lines.append(self.item(pad, indent, item))
        return "".join(lines)

    def entry(self, pad: str, indent: int, key: str, item: Any) -> str:
        rng = self.rng
        if isinstance(item, dict | list) and item and rng.random() < 0.85:
            inner = indent if isinstance(item, list) and rng.random() < 0.3 else indent + self.step
            comment = " # here" if rng.random() < 0.1 else ""
            return f"{pad}{key}:{comment}\n" + self.block(item, inner)
        written = self.flow(item) if isinstance(item, dict | list) else self.scalar(item)
        return f"{pad}{key}: {written}\n" if written else f"{pad}{key}:\n"

    def item(self, pad: str, indent: int, item: Any) -> str:
        rng = self.rng
        dash = "-" + " " * rng.choice([1, 1, 1, 2, 3])
        if isinstance(item, dict) and item and rng.random() < 0.85:
            inner = self.block(item, indent + len(dash))
            return pad + dash + inner[indent + len(dash) :]  # the first key on the dash's line
        if isinstance(item, list) and item and rng.random() < 0.1:
            return f"{pad}-\n" + self.block(item, indent + self.step)
        written = self.flow(item) if isinstance(item, dict | list) else self.scalar(item)
        return f"{pad}{dash}{written}\n"


def _damage(rng: random.Random, written: str) -> str:
    lines = written.split("\n")
    roll = rng.random()
    at = rng.randrange(len(lines))
    if roll < 0.5 and lines[at]:
        column = rng.randrange(len(lines[at]))
        lines[at] = lines[at][:column] + rng.choice(DAMAGE) + lines[at][column + 1 :]
    elif roll < 0.75:
        lines.insert(at, lines[at])
    else:
        del lines[at]
    return "\n".join(lines)
