"""Time `reconciler plan` of N accounts x U users with drift, from YAML to printed plan.

In the same run, for comparison on the same files:
- the bare parse of the config files with PyYAML's C loader;
- the naive way with the design card's libraries: ``yaml.safe_load``, the
  pure-Python jsonschema validator and one DeepDiff over the whole state.

Each variant runs in its own process (start-up included) and reports wall time
and peak memory (ru_maxrss). Figures are printed and written to
``bench/results/plan.json``.

    python bench/bench_plan.py [--accounts 1000] [--users 50] [--drift 0.05] [--repeat 1] [--skip-naive]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

# Runs the measured command as its own child, so the peak memory reported is its own.
WRAP = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:])
print("PEAK", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(done.returncode)
"""

BARE = """
import sys
from pathlib import Path
import yaml
for path in sorted(Path(sys.argv[1]).rglob("*.yaml")):
    if path.name == "snapshot.yaml":
        continue
    with open(path, "rb") as handle:
        yaml.load(handle, Loader=yaml.CSafeLoader)
"""

NAIVE = """
import json, sys
from pathlib import Path
import yaml, jsonschema
from deepdiff import DeepDiff
from referencing import Registry, Resource
from reconciler.catalog import schemas_dir
from reconciler.sandbox.store import Store

root = Path(sys.argv[1])
schema = json.loads((schemas_dir() / "config.schema.json").read_text())
catalogue = json.loads((schemas_dir() / "permissions.json").read_text())
registry = Registry().with_resource(catalogue["$id"], Resource.from_contents(catalogue))
validator = jsonschema.Draft202012Validator(schema, registry=registry)
desired = {}
for path in sorted(root.rglob("*.yaml")):
    if path.name == "snapshot.yaml":
        continue
    data = yaml.safe_load(path.read_text())
    errors = list(validator.iter_errors(data))
    if errors:
        sys.exit(f"{path}: {errors[0].message}")
    for account in data.get("accounts", []):
        desired[account["id"]] = {u["email"].lower(): u for u in account.get("users", [])}
current = {}
with Store(root / ".reconciler" / "sandbox.db") as store:
    for account_id in sorted(desired):
        state = store.read_account(account_id, "automation@northwind.agency")
        current[account_id] = {k: u.to_data() for k, u in state.users.items()}
print(DeepDiff(current, desired, ignore_order=True).pretty())
"""


def run(command: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak KiB, bytes printed."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAP, *command], capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"benchmark child failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}"
        )
    lines = done.stderr.decode().splitlines()
    peak = next(int(line.split()[1]) for line in lines if line.startswith("PEAK "))
    return elapsed, peak, len(done.stdout)


def measure(name: str, command: list[str], repeat: int) -> dict[str, float]:
    runs = [run(command) for _ in range(repeat)]
    seconds = statistics.median(r[0] for r in runs)
    peak_mb = max(r[1] for r in runs) / 1024
    printed = runs[0][2]
    print(
        f"{name:<10} {seconds:8.2f} s   peak {peak_mb:7.0f} MB   printed {printed:,} bytes",
        flush=True,
    )
    return {"seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1), "printed_bytes": printed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--drift", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--out", default=str(HERE / "out" / "plan"))
    args = parser.parse_args()

    root = Path(args.out)
    generate(root, args.accounts, args.users, drift=args.drift)
    seeded = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "sandbox",
            "seed",
            str(root),
            str(root / "snapshot.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if seeded.returncode != 0:
        raise SystemExit(seeded.stderr)
    print(
        f"{args.accounts} accounts x {args.users} users, drift {args.drift:.0%}: {seeded.stdout.strip()}"
    )

    results: dict[str, object] = {
        "accounts": args.accounts,
        "users": args.users,
        "drift": args.drift,
        "repeat": args.repeat,
        "bare_parse": measure("bare parse", [sys.executable, "-c", BARE, str(root)], args.repeat),
        # What a user runs: the console command, start-up and exit included.
        "plan": measure(
            "plan", [sys.executable, "-m", "reconciler", "plan", str(root)], args.repeat
        ),
    }
    if not args.skip_naive:
        results["naive"] = measure("naive", [sys.executable, "-c", NAIVE, str(root)], args.repeat)
    plan = results["plan"]["seconds"]  # type: ignore[index]
    bare = results["bare_parse"]["seconds"]  # type: ignore[index]
    results["plan_over_bare_parse"] = round(plan / bare, 2)
    print(f"plan / bare parse = {plan / bare:.2f} (target <= 2)")
    if "naive" in results:
        naive = results["naive"]["seconds"]  # type: ignore[index]
        results["naive_over_plan"] = round(naive / plan, 1)
        print(f"naive / plan = {naive / plan:.1f}x (target >= 10)")
    target = HERE / "results" / "plan.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
