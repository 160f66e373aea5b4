"""The audit journal: one JSON Lines record per step an apply meets, appended as it happens.

For compliance reviews (who changed which client's access, when, from which
reviewed plan and commit), and for finding out what a killed apply got done.
Each record is written and flushed to disk before the next step starts, so the
journal of an apply that dies stops at its last finished step. Records hold
what plan files hold (emails, access levels, seats), never a token.

A record: ``time`` (UTC), ``account``, ``step`` (its id), ``type``, ``user``,
``before``, ``after``, ``channel``, ``outcome`` (applied, pending, waiting,
failed, not attempted), ``message``, ``plan`` (the plan's digest) and
``commit`` (the config's commit, where known).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from reconciler.apply import StepOutcome
from reconciler.errors import ReconcilerError

#: Where the commit comes from in CI, before asking git.
COMMIT_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_SOURCEVERSION", "GIT_COMMIT")


class Journal:
    """Appends records to ``path`` from the engine's threads, one whole line at a time."""

    def __init__(self, path: Path, plan_digest: str, commit: str | None) -> None:
        self.path = path
        self.plan_digest = plan_digest
        self.commit = commit
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ReconcilerError(
                f"cannot write the journal {path}: {exc.strerror or exc}"
            ) from exc

    def record(self, outcome: StepOutcome) -> None:
        step = outcome.step
        line = json.dumps(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "account": step.account,
                "step": step.id,
                "type": step.type,
                "user": step.user,
                "before": step.before,
                "after": step.after,
                "channel": step.channel,
                "outcome": outcome.status,
                "message": outcome.message,
                "plan": self.plan_digest,
                "commit": self.commit,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def current_commit(folder: Path) -> str | None:
    """The commit the config comes from: CI's variable, else git's HEAD, else unknown."""
    for variable in COMMIT_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.strip()
    return head if done.returncode == 0 and head else None
