"""How long `reconciler validate` takes next to a bare YAML parse of the same files.

Generates a synthetic partner (default 1,000 accounts x 50 users, one file per
account) and times, as medians of ``--repeat`` runs:

- the bare parse: ``yaml.load(f, Loader=yaml.CSafeLoader)`` per config file;
- ``load_config`` in this process (parse, locations, schema, rules, typed state);
- ``python -m reconciler validate DIR`` as a subprocess (start-up included).

Prints the figures and their ratio and writes them to ``bench/results/validate.json``.
The target is validate within 1.5x of the bare parse.

    python bench/bench_validate.py [--accounts 1000] [--users 50] [--repeat 3] [--reuse]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402
from installed import compile_package  # noqa: E402

from reconciler.config import load_config  # noqa: E402


def bare_parse(files: list[Path]) -> None:
    for file in files:
        with open(file, "rb") as stream:
            yaml.load(stream, Loader=yaml.CSafeLoader)


def timed(action: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def run_cli(directory: Path) -> None:
    compile_package()  # as an installed package is: start-up without compiling
    command = [sys.executable, "-m", "reconciler", "validate", str(directory)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"validate failed:\n{done.stdout}{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="reuse bench/out/ if it exists")
    parser.add_argument("--out", default=str(HERE / "results" / "validate.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as temporary:
        directory = HERE / "out" if args.reuse else Path(temporary) / "config"
        if not (args.reuse and (directory / "partner.yaml").exists()):
            generate(directory, args.accounts, args.users, drift=0.05)
        files = sorted(p for p in directory.rglob("*.yaml") if p.name != "snapshot.yaml")
        size = sum(p.stat().st_size for p in files)
        bare_parse(files)  # warm the page cache and the imports alike

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        config = load_config(directory)  # warm: schema compilation is a one-off
        users = sum(len(account.users) for account in config.accounts)
        del config
        # Interleaved rounds, so that load from other processes on a shared machine
        # falls on all three alike and the ratios stay meaningful.
        bare: list[float] = []
        in_process: list[float] = []
        subprocess_times: list[float] = []
        for _ in range(args.repeat):
            bare += timed(lambda: bare_parse(files), 1)
            in_process += timed(lambda: load_config(directory), 1)
            subprocess_times += timed(lambda: run_cli(directory), 1)
        rss_in_process = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_cli = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    results = {
        "accounts": args.accounts,
        "users_per_account": args.users,
        "users": users,
        "files": len(files),
        "megabytes": round(size / 1e6, 1),
        "repeat": args.repeat,
        "bare_parse_seconds": round(statistics.median(bare), 3),
        "load_config_seconds": round(statistics.median(in_process), 3),
        "validate_subprocess_seconds": round(statistics.median(subprocess_times), 3),
        "ratio_in_process": round(statistics.median(in_process) / statistics.median(bare), 2),
        "ratio_subprocess": round(statistics.median(subprocess_times) / statistics.median(bare), 2),
        "peak_rss_mb_before_load_config": round(rss_before / 1024),
        "peak_rss_mb_in_process": round(rss_in_process / 1024),
        "peak_rss_mb_validate_subprocess": round(rss_cli / 1024),
        "python": platform.python_version(),
        "libyaml": yaml.__with_libyaml__,
    }
    print(
        f"{args.accounts} accounts x {args.users} users: {len(files)} files, "
        f"{results['megabytes']} MB, medians of {args.repeat}"
    )
    print(f"  bare parse (CSafeLoader)      {results['bare_parse_seconds']:7.2f} s")
    print(
        f"  load_config (in process)      {results['load_config_seconds']:7.2f} s"
        f"   ratio {results['ratio_in_process']:.2f}"
    )
    print(
        f"  reconciler validate (process) {results['validate_subprocess_seconds']:7.2f} s"
        f"   ratio {results['ratio_subprocess']:.2f}"
    )
    print(
        f"  peak RSS: {results['peak_rss_mb_in_process']} MB in process "
        f"({results['peak_rss_mb_before_load_config']} MB before it, generation included), "
        f"{results['peak_rss_mb_validate_subprocess']} MB for the validate subprocess"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
