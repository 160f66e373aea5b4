"""Instructions, not seconds: what parsing, checking, planning and the wire cost, per unit.

Seconds on a shared machine drift (this one's by up to 2x within minutes), so a
change of a few percent never shows in them. The number of instructions a piece
of work executes does not drift: it is the same on every run of the same code
and input. Each figure is valgrind's count (``cachegrind``, no cache
simulation) of a process doing the work, minus the count of the same process
doing everything but the work, divided by the units done:

- ``parse``: one config file through the loader (``parse_yaml``), per file;
- ``check``: everything ``validate`` does after the parse (schema, rules,
  building the desired state), the parse taken from a filled cache, per account;
- ``plan``: planning one account read from the sandbox (``build_plan``), per account;
- ``wire_client``: the hubspot provider's side of a plan through ``sandbox
  serve`` (requests, reading, planning), the server run outside valgrind, per account;
- ``wire_server``: ``sandbox serve``'s side of the same plan, per request.

Figures are printed and written to ``bench/results/instructions.json``. They
compare runs of one machine and Python; they are not seconds. Needs valgrind
(``apt install valgrind``).

    python bench/bench_instructions.py [--only parse,check,plan,wire_client,wire_server]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
CORPUS = HERE / "out" / "instructions"
ACCOUNTS = 60
USERS = 50
KINDS = ("parse", "check", "plan", "wire_client", "wire_server")
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")


def valgrind(command: list[str]) -> list[str]:
    return [*VALGRIND, *command]


def instructions(stderr: str) -> int:
    found = _REFS.search(stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def counted(kind: str, units: int) -> int:
    """Instructions of this script's ``--child kind units`` under valgrind."""
    command = valgrind([sys.executable, __file__, "--child", kind, str(units)])
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"--child {kind} {units} failed:\n{done.stderr[-2000:]}")
    return instructions(done.stderr)


# -- the work, in a child process ------------------------------------------------------


def corpus_files() -> list[str]:
    return sorted(str(path) for path in (CORPUS / "accounts").glob("*.yaml"))


def child(kind: str, units: int) -> None:
    import gc

    gc.disable()  # as reconciler itself runs: the collector's passes are not the work
    if kind == "parse":
        from reconciler.config.loader import parse_yaml

        raws = [(Path(file).read_bytes(), file) for file in corpus_files()]
        for raw, file in raws[:units]:
            parse_yaml(raw, file)
    elif kind == "check":
        os.environ["RECONCILER_CACHE_DIR"] = tempfile.mkdtemp()
        os.environ["RECONCILER_PARALLEL_PARSE"] = "0"
        from reconciler.config import check_config

        check_config(CORPUS)  # fills the parse cache; then `units` whole checks
        for _ in range(units):
            check_config(CORPUS)
    elif kind == "plan":
        from reconciler.catalog import load_catalogue
        from reconciler.config import load_config
        from reconciler.engine import open_provider, read_state
        from reconciler.planner import build_plan

        config = load_config(CORPUS)
        provider = open_provider(config)  # the sandbox's database: seeded before measuring
        pairs = [read_state(provider, account) for account in config.accounts]
        args = (config.partner, load_catalogue(), provider.capabilities, provider.name)
        for pair in pairs[:units]:
            build_plan([pair], *args)
    elif kind == "wire_client":
        wire_client(units)
    else:
        raise SystemExit(f"unknown kind {kind!r}")


def wire_client(plans: int) -> None:
    """One plan first (imports, first connections), then ``plans`` more."""
    from bench_hubspot import start_server, stop_server, wide_fleet

    from reconciler.engine import make_plan
    from reconciler.providers.hubspot.provider import HubSpotProvider

    with tempfile.TemporaryDirectory() as tmp:
        files = wide_fleet(ACCOUNTS, USERS).write(Path(tmp) / "fleet")
        os.environ.update(files.environment())
        process, url = start_server(files.served, 100_000, 10_000)
        try:
            config = files.hubspot_config(url)
            for _ in range(1 + plans):
                with HubSpotProvider(config) as provider:
                    make_plan(config, provider)
        finally:
            stop_server(process)


# -- the server, under valgrind --------------------------------------------------------


def served_requests(plan: bool) -> tuple[int, int]:
    """``sandbox serve`` under valgrind: its instructions, and the requests it logged."""
    import httpx
    from bench_hubspot import start_server, wide_fleet

    from reconciler.engine import make_plan
    from reconciler.providers.hubspot.provider import HubSpotProvider

    with tempfile.TemporaryDirectory() as tmp:
        files = wide_fleet(ACCOUNTS, USERS).write(Path(tmp) / "fleet")
        os.environ.update(files.environment())
        process, url = start_server(files.served, 100_000, 10_000, under=VALGRIND)
        admin = {"Authorization": f"Bearer {next(iter(files.environment().values()))}"}
        if plan:
            config = files.hubspot_config(url)
            with HubSpotProvider(config) as provider:
                make_plan(config, provider)
        logged = httpx.get(f"{url}/__sandbox/requests", headers=admin, timeout=120)
        requests = len(logged.raise_for_status().json()["requests"])
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=600)
        return instructions(stderr), requests


# -- the figures -----------------------------------------------------------------------


def measure(kind: str) -> dict[str, Any]:
    if kind == "wire_server":
        base, _ = served_requests(plan=False)
        total, requests = served_requests(plan=True)
        return {"per": "request", "units": requests, "instructions": (total - base) // requests}
    # A child's n counts files parsed or accounts planned; for check and the wire client,
    # whole runs over every account.
    per, units = ("file", len(corpus_files())) if kind == "parse" else ("account", ACCOUNTS)
    n = units if kind in ("parse", "plan") else 1
    base, work = counted(kind, 0), counted(kind, n)
    return {"per": per, "units": units, "instructions": (work - base) // units}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS)
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "UNITS"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "instructions.json")
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(HERE))
        child(args.child[0], int(args.child[1]))
        return
    kinds = [kind.strip() for kind in args.only.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        parser.error(f"unknown --only {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: this benchmark counts instructions with it")
    if not (CORPUS / "accounts").is_dir():
        generate = [sys.executable, str(HERE / "generate.py"), "--accounts", str(ACCOUNTS)]
        generate += ["--users", str(USERS), "--drift", "0.05", "--out", str(CORPUS)]
        subprocess.run(generate, check=True, stdout=subprocess.DEVNULL)
    # The sandbox seeds its database on first use: before any count, not in one of two.
    subprocess.run([sys.executable, __file__, "--child", "plan", "0"], check=True, cwd=ROOT)
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "accounts": ACCOUNTS,
        "users": USERS,
    }
    for kind in kinds:
        figure = results[kind] = measure(kind)
        print(
            f"{kind:12} {figure['instructions']:>14,} instructions per {figure['per']}", flush=True
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
