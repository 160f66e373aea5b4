"""Time `reconciler report` against `reconciler plan` on the same N accounts x U users.

The review reads current state once, like a plan, and builds in one pass; it
must take no longer than the plan of the same corpus. Each command runs in its
own process (start-up included), as a user runs it; figures are printed and
written to ``bench/results/report.json``.

    python bench/bench_report.py [--accounts 1000] [--users 50] [--drift 0.05] [--repeat 1]
                                 [--formats text,html]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_plan import interleaved, reconciler  # noqa: E402
from generate import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--drift", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--formats", default="text,html", help="report formats to time")
    parser.add_argument("--out", default=str(HERE / "out" / "report"), help="corpus folder")
    parser.add_argument("--results", default=str(HERE / "results" / "report.json"))
    args = parser.parse_args()

    root = Path(args.out)
    generate(root, args.accounts, args.users, drift=args.drift)
    seed = [sys.executable, "-m", "reconciler", "sandbox", "seed", str(root)]
    seeded = subprocess.run(
        [*seed, str(root / "snapshot.yaml")], capture_output=True, text=True, check=False
    )
    if seeded.returncode != 0:
        raise SystemExit(seeded.stderr)
    print(f"{args.accounts} accounts x {args.users} users, drift {args.drift:.0%}")

    # Plan and reports alike parse every file: an empty parse cache (not the user's) each run.
    cache = HERE / "out" / "cache-report"
    commands = {"plan": reconciler(cache, "plan", root)}
    for fmt in args.formats.split(","):
        commands[f"report {fmt}"] = reconciler(cache, "report", root, "--format", fmt)
    empty = {name: lambda: shutil.rmtree(cache, ignore_errors=True) for name in commands}
    timed = interleaved(commands, args.repeat, before=empty)  # plan, each report, then again
    plan = timed["plan"]
    results: dict[str, object] = {
        "accounts": args.accounts,
        "users": args.users,
        "drift": args.drift,
        "repeat": args.repeat,
        "plan": plan,
    }
    for fmt in args.formats.split(","):
        ratio = timed[f"report {fmt}"]["seconds"] / plan["seconds"]
        results[f"report_{fmt}"] = timed[f"report {fmt}"]
        results[f"report_{fmt}_over_plan"] = round(ratio, 2)
        print(f"report {fmt} / plan = {ratio:.2f} (target <= 1)")
    target = Path(args.results)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
