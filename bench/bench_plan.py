"""Time `reconciler plan` and `validate` of N accounts x U users with drift, from YAML on.

In the same run, for comparison on the same files:
- the bare parse of the config files with PyYAML's C loader;
- the naive way: ``yaml.safe_load``, the pure-Python jsonschema validator and
  one DeepDiff over the whole state.

``plan`` and ``validate`` run twice over: with an empty parse cache (``cold``:
every file parsed, and kept on the way), as on a fresh CI runner, and with the
cache filled (``warm``), as on the next run on the same machine; the cache is
in ``bench/out``, not the user's. Each variant runs in its own process
(start-up included) and reports wall time and peak memory (cold); with
``--repeat N``, all of them, the naive way too, run in turn N times, and each
reports its median. Peak memory is ``ru_maxrss`` of the processes the wrapper
waited for: the largest single process, the command itself or one of the
parse workers it started (a forked worker counts the pages it shares with its
parent), never their sum. Then ``plan`` alone runs at each ``--memory`` size
for its peak memory. Ratios (targets: plan <= 1.0x and validate <= 0.6x the
bare parse, naive >= 30x plan; memory <= 200 MB at 1,000 x 50 and <= 250 MB at
5,000 x 20) are printed and written to ``bench/results/plan.json``.

    python bench/bench_plan.py [--accounts 1000] [--users 50] [--drift 0.05] [--repeat 1]
        [--skip-naive] [--memory 1000x50,5000x20] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402
from installed import compile_package  # noqa: E402

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


def interleaved(
    commands: dict[str, list[str]],
    repeat: int,
    before: dict[str, Callable[[], object]] | None = None,
) -> dict[str, dict[str, float]]:
    """Each command's median over ``repeat`` rounds of all of them, in turn.

    A machine whose load drifts over the minutes this takes then moves every
    command alike, and the ratios between them hold. ``before[name]`` runs,
    untimed, before each run of that command.
    """
    runs: dict[str, list[tuple[float, int, int]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            (before or {}).get(name, lambda: None)()
            runs[name].append(run(command))
    results = {}
    for name, found in runs.items():
        seconds = statistics.median(r[0] for r in found)
        peak_mb = max(r[1] for r in found) / 1024
        label = name.replace("_", " ")
        print(
            f"{label:<10} {seconds:8.2f} s   peak {peak_mb:7.0f} MB   printed {found[0][2]:,} bytes"
        )
        results[name] = {
            "seconds": round(seconds, 3),
            "peak_mb": round(peak_mb, 1),
            "printed_bytes": found[0][2],
        }
    return results


def prepare(root: Path, accounts: int, users: int, drift: float, reuse: bool) -> str:
    """Generate the corpus and seed its sandbox (``reuse``: keep one already there)."""
    if reuse and (root / ".reconciler" / "sandbox.db").exists():
        return f"reused {root}"
    generate(root, accounts, users, drift=drift)
    command = [sys.executable, "-m", "reconciler", "sandbox", "seed", "--reset", str(root)]
    seeded = subprocess.run(
        [*command, str(root / "snapshot.yaml")], capture_output=True, text=True, check=False
    )
    if seeded.returncode != 0:
        raise SystemExit(seeded.stderr)
    return seeded.stdout.strip()


def memory(sizes: str, drift: float, reuse: bool, out: Path, done: str) -> dict[str, float]:
    """Peak MB of ``plan`` at each ``AxU`` size but ``done`` (measured already)."""
    peaks: dict[str, float] = {}
    for size in sizes.split(","):
        if size == done:
            continue
        accounts, users = (int(n) for n in size.split("x"))
        root = out.parent / f"plan-{accounts}x{users}"
        print(f"{size}: {prepare(root, accounts, users, drift, reuse)}", flush=True)
        cold = out.parent / "cache-cold"
        shutil.rmtree(cold, ignore_errors=True)
        peaks[size] = measure(f"plan {size}", reconciler(cold, "plan", root), 1)["peak_mb"]
    return peaks


def reconciler(cache: Path, *args: str | Path) -> list[str]:
    """``reconciler ARGS...`` with its parse cache in ``cache``, not the user's.

    The package is compiled first, as an installed one is (:mod:`installed`).
    """
    compile_package()
    return ["env", f"RECONCILER_CACHE_DIR={cache}", sys.executable, "-m", "reconciler"] + [
        str(arg) for arg in args
    ]


def ratios(results: dict[str, Any]) -> None:
    """Print the ratios against their targets, and add them to ``results``."""
    bare = results["bare_parse"]["seconds"]
    for cache in ("cold", "warm"):
        plan = results[f"plan_{cache}"]["seconds"]
        validate = results[f"validate_{cache}"]["seconds"]
        results[f"plan_{cache}_over_bare_parse"] = round(plan / bare, 2)
        results[f"validate_{cache}_over_bare_parse"] = round(validate / bare, 2)
        print(f"plan ({cache} cache) / bare parse = {plan / bare:.2f} (target <= 1.0, stretch 0.5)")
        print(f"validate ({cache} cache) / bare parse = {validate / bare:.2f} (target <= 0.6)")
        if "naive" in results:
            naive = results["naive"]["seconds"]
            results[f"naive_over_plan_{cache}"] = round(naive / plan, 1)
            print(f"naive / plan ({cache} cache) = {naive / plan:.1f}x (target >= 30)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--drift", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--memory", default="1000x50,5000x20", help="sizes for peak memory")
    parser.add_argument("--reuse", action="store_true", help="reuse corpora already generated")
    parser.add_argument("--out", default=str(HERE / "out" / "plan"))
    args = parser.parse_args()

    root = Path(args.out)
    seeded = prepare(root, args.accounts, args.users, args.drift, args.reuse)
    print(f"{args.accounts} accounts x {args.users} users, drift {args.drift:.0%}: {seeded}")

    cold, warm = root.parent / "cache-cold", root.parent / "cache-warm"
    shutil.rmtree(warm, ignore_errors=True)
    subprocess.run(reconciler(warm, "validate", root), capture_output=True, check=True)
    commands = {
        "bare_parse": [sys.executable, "-c", BARE, str(root)],
        # What a user runs: the console command, start-up and exit included,
        # with an empty parse cache (filled on the way) and a filled one.
        "plan_cold": reconciler(cold, "plan", root),
        "plan_warm": reconciler(warm, "plan", root),
        "validate_cold": reconciler(cold, "validate", root),
        "validate_warm": reconciler(warm, "validate", root),
    }
    if not args.skip_naive:
        # In the same rounds as the others, so that the machine's drift over the
        # minutes it takes moves it and `plan` alike.
        commands["naive"] = [sys.executable, "-c", NAIVE, str(root)]
    results: dict[str, object] = {
        "accounts": args.accounts,
        "users": args.users,
        "drift": args.drift,
        "repeat": args.repeat,
        **interleaved(
            commands,
            args.repeat,
            before={
                "plan_cold": lambda: shutil.rmtree(cold, ignore_errors=True),
                "validate_cold": lambda: shutil.rmtree(cold, ignore_errors=True),
            },
        ),
        "cpus": os.cpu_count(),
    }
    ratios(results)
    main_size = f"{args.accounts}x{args.users}"
    peaks = {main_size: results["plan_cold"]["peak_mb"]}  # type: ignore[index]
    peaks.update(memory(args.memory, args.drift, args.reuse, root, main_size))
    results["plan_peak_mb"] = peaks
    for size, peak in peaks.items():
        print(f"plan peak memory at {size}: {peak:.0f} MB")
    target = HERE / "results" / "plan.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
