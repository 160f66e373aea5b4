"""The saved plan file (``plan --out``, ``apply --plan``, ``show``): its one home.

Written whole or not at all: to a scratch file beside the target, renamed into
place. Read back only if it is JSON of this format version that matches
``schemas/plan.schema.json``; :meth:`Plan.from_data` then checks its seal.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from reconciler.catalog import schemas_dir
from reconciler.errors import PlanError, ReconcilerError
from reconciler.plan import FORMAT_VERSION, Plan


def write_plan_file(plan: Plan, path: str) -> None:
    """Save ``plan`` at ``path``; a reader never sees half a file, a failed write leaves none."""
    target = Path(path)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Created like any new file (0666 less the umask), never over an existing one.
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with open(descriptor, "w", encoding="utf-8") as file:
                file.write(plan.to_json())
                file.flush()
                os.fsync(file.fileno())
            os.replace(scratch, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                scratch.unlink()
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot write the plan file: {exc.strerror}") from exc


def load_plan_file(path: str) -> Plan:
    """Read and check a saved plan: JSON, this format version, and its schema."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise PlanError(f"{path}: cannot read the plan file: {reason}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"{path}:{exc.lineno}:{exc.colno}: not a plan file (not JSON: {exc.msg})"
        ) from exc
    except RecursionError as exc:
        raise PlanError(f"{path}: not a plan file (JSON nested too deeply)") from exc
    if not isinstance(data, dict) or "format_version" not in data:
        raise PlanError(f"{path}: not a plan file (no format_version; make one with plan --out)")
    # The version first: another version's file breaks the schema in ways not worth listing.
    if data["format_version"] != FORMAT_VERSION:
        raise PlanError(
            f"{path}: plan file has format_version {data['format_version']!r};"
            f" this reconciler reads {FORMAT_VERSION}"
        )
    problem = plan_schema_problem(data)
    if problem:
        raise PlanError(f"{path}: not a valid plan file: {problem}")
    return Plan.from_data(data)


def plan_schema_problem(data: Any) -> str | None:
    """The first way ``data`` breaks ``schemas/plan.schema.json``, as ``/pointer: message``."""
    import jsonschema  # here: a tenth of a second to import, and only plan files need it

    schema = json.loads((schemas_dir() / "plan.schema.json").read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(data)
    )
    if error is None:
        return None
    pointer = "".join(f"/{part}" for part in error.absolute_path) or "/"
    return f"{pointer}: {error.message}"
