"""Fuzzing ``validate``, ``plan`` and ``show``: whatever the bytes, a placed error, never a traceback.

Bounded by the Hypothesis profile (``ci`` by default; ``--hypothesis-profile=long``
for a soak).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from reconciler.cli import main

PARTNER = (
    "version: 1\n"
    "partner: {name: N, employee_domains: [northwind.agency], actor: a@northwind.agency}\n"
    "provider: {type: sandbox, path: .reconciler/sandbox.db}\n"
)
#: Words of the config's own vocabulary, so the structures reach past the first check.
KEYS = [
    "version", "partner", "accounts", "id", "name", "users", "email", "access", "seat",
    "teams", "primary", "secondary", "permissions", "add", "remove", "profile", "profiles",
    "state", "defaults", "max_removals", "provider", "type", "token_env", "seat_confirmed",
    "unmanaged_users", "actor", "employee_domains", "role",
]  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["super_admin", "partner_admin", "basic", "core", "partner", "absent"]),
)
TREES = st.recursive(
    VALUES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


def assert_handled(result: Result, codes: tuple[int, ...] = (0, 1)) -> None:
    """Ended on purpose with a known code: no exception escaped, no traceback printed."""
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert result.exit_code in codes, (result.exit_code, result.output)
    assert "Traceback" not in result.output


@contextmanager
def in_folder(files: dict[str, bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        folder = Path(name)
        for file, data in files.items():
            (folder / file).write_bytes(data)
        yield folder


@given(st.binary(max_size=3000))
def test_validate_takes_any_bytes(data: bytes) -> None:
    with in_folder({"partner.yaml": PARTNER.encode(), "accounts.yaml": data}) as folder:
        assert_handled(invoke("validate", str(folder)))


@given(st.text(max_size=2000))
def test_validate_takes_any_text(text: str) -> None:
    with in_folder({"partner.yaml": PARTNER.encode(), "accounts.yaml": text.encode()}) as folder:
        result = invoke("validate", str(folder))
    assert_handled(result)
    for line in result.stderr.splitlines():
        assert line.startswith(("warning: ", str(folder))) or line.endswith("found"), line


@given(TREES)
def test_validate_and_plan_take_any_structure(tree: Any) -> None:
    text = yaml.safe_dump({"accounts": tree}, allow_unicode=True)
    with in_folder({"partner.yaml": PARTNER.encode(), "accounts.yaml": text.encode()}) as folder:
        assert_handled(invoke("validate", str(folder)))
        assert_handled(invoke("plan", str(folder)), (0, 1))


@given(st.recursive(VALUES, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_show_takes_any_json(data: Any) -> None:
    with in_folder({"plan.json": json.dumps(data).encode()}) as folder:
        result = invoke("show", str(folder / "plan.json"))
    assert_handled(result, (1,))
    assert result.stderr.count("\n") == 1, result.stderr


@given(st.binary(max_size=2000))
def test_show_takes_any_bytes(data: bytes) -> None:
    with in_folder({"plan.json": data}) as folder:
        result = invoke("show", str(folder / "plan.json"))
    assert_handled(result, (1,))
