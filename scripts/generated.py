"""What every generator in scripts/ does last: write its page, or with ``--check`` say it is stale."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def refresh(
    description: str, target: Path, render: Callable[[], str], command: str, argv: list[str] | None
) -> int:
    """Write what ``render`` gives to ``target`` when it differs; with ``--check``, exit 1 instead."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    shown = os.path.relpath(target, ROOT)
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != text:
            print(f"{shown} is stale; run: {command}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {shown}", file=sys.stderr)
    return 0
