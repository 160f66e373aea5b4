"""Saved plans are applied exactly as reviewed or not at all.

Each case edits a saved plan file the way a careless hand or an attacker
would, then runs ``apply --plan``: it must be refused before the first write,
with one clear error and the account state unchanged. Every edit is tried
twice: as it is (the file's digest no longer matches) and sealed again with a
correct digest (as a careful forger would), which only making the plan again
from the config and current state can catch.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_workflow import example, export, run, sealed

__all__ = ["example"]

Edit = Callable[[dict[str, Any]], None]


def steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of the first account with api steps (Acme Corp in the example)."""
    account = next(a for a in data["accounts"] if any(s["channel"] == "api" for s in a["steps"]))
    return account["steps"]  # type: ignore[no-any-return]


def api_step(data: dict[str, Any], type_: str | None = None) -> dict[str, Any]:
    return next(
        s for s in steps(data) if s["channel"] == "api" and (type_ is None or s["type"] == type_)
    )


def rename(data: dict[str, Any]) -> None:
    create = api_step(data, "create_user")
    create["after"]["first_name"] = "Mallory"


def replace_with_mallory(data: dict[str, Any]) -> None:
    create = api_step(data, "create_user")
    create["user"] = "mallory@evil.example"
    create["after"]["email"] = "mallory@evil.example"


def escalate(data: dict[str, Any]) -> None:
    create = api_step(data, "create_user")
    create["after"]["access"] = "super_admin"


def manual_to_api(data: dict[str, Any]) -> None:
    manual = next(s for a in data["accounts"] for s in a["steps"] if s["channel"] == "manual")
    manual["channel"] = "api"
    manual.pop("instructions", None)


def forge_removal(data: dict[str, Any]) -> None:
    account = next(a for a in data["accounts"] if a["steps"])
    victim = "ceo@acme.example"
    account["steps"].append(
        {
            "id": "4410021-remove_user-0000000000",
            "account": account["account"],
            "type": "remove_user",
            "user": victim,
            "before": {"email": victim, "access": "super_admin", "seat": "core"},
            "after": None,
            "reason": "state: absent",
            "channel": "api",
            "depends_on": [],
        }
    )


def retarget(data: dict[str, Any]) -> None:
    api_step(data)["user"] = "ceo@acme.example"


def duplicate(data: dict[str, Any]) -> None:
    listed = steps(data)
    listed.append(copy.deepcopy(api_step(data)))


def reorder(data: dict[str, Any]) -> None:
    listed = steps(data)
    listed.reverse()


def remove_step(data: dict[str, Any]) -> None:
    listed = steps(data)
    listed.remove(api_step(data))


def move_account(data: dict[str, Any]) -> None:
    data["accounts"][0]["account"], data["accounts"][1]["account"] = (
        data["accounts"][1]["account"],
        data["accounts"][0]["account"],
    )


def blank_config_digest(data: dict[str, Any]) -> None:
    data["config_digest"] = ""


def other_config_digest(data: dict[str, Any]) -> None:
    data["config_digest"] = "sha256:" + "0" * 64


def other_state_digest(data: dict[str, Any]) -> None:
    data["accounts"][0]["state_digest"] = "sha256:" + "1" * 64


def extra_field(data: dict[str, Any]) -> None:
    api_step(data)["after"]["x_sneaky"] = True


EDITS: dict[str, Edit] = {
    "edited name in a create": rename,
    "create replaced by another user": replace_with_mallory,
    "escalated access": escalate,
    "manual made api": manual_to_api,
    "forged removal": forge_removal,
    "retargeted step": retarget,
    "duplicated step": duplicate,
    "reordered steps": reorder,
    "removed step": remove_step,
    "swapped accounts": move_account,
    "blanked config digest": blank_config_digest,
    "edited config digest": other_config_digest,
    "edited state digest": other_state_digest,
    "unknown field": extra_field,
}


def apply_edited(text: str) -> tuple[int, str]:
    Path("plan.json").write_text(text, encoding="utf-8")
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    return result.exit_code, result.stderr


@pytest.mark.parametrize("reseal", [False, True], ids=["as edited", "digest made again"])
@pytest.mark.parametrize("name", list(EDITS))
def test_a_tampered_plan_is_refused_before_any_write(
    example: Path, name: str, reseal: bool
) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    data = json.loads(Path("plan.json").read_text(encoding="utf-8"))
    EDITS[name](data)
    if reseal:
        data = sealed(data)
    before = export()
    code, stderr = apply_edited(json.dumps(data))
    assert code == 1, stderr
    assert stderr.startswith("error: "), stderr
    assert "nothing was changed" in stderr or "not a valid plan file" in stderr, stderr
    assert "Traceback" not in stderr
    assert export() == before


@pytest.mark.parametrize(
    "mangle",
    [
        lambda text: text[: len(text) // 2],
        lambda text: text.replace("{", "[", 1),
        lambda text: "[" * 50_000 + text + "]" * 50_000,
        lambda text: '{"a":' * 50_000 + "1" + "}" * 50_000,
        lambda text: "",
    ],
    ids=["truncated", "broken", "deep list", "deep object", "empty"],
)
def test_a_broken_plan_file_is_refused_in_one_line(
    example: Path, mangle: Callable[[str], str]
) -> None:
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    before = export()
    code, stderr = apply_edited(mangle(Path("plan.json").read_text(encoding="utf-8")))
    assert code == 1
    assert stderr.startswith("error: plan.json") and stderr.count("\n") == 1, stderr
    assert export() == before


def test_the_untouched_plan_still_applies(example: Path) -> None:
    # The control case: the same file, unedited, is applied.
    assert run("plan", ".", "--out", "plan.json").exit_code == 0
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    assert result.exit_code == 0, result.output
