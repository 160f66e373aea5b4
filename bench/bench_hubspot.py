"""How close the hubspot provider's apply gets to HubSpot's rate limit, over a real socket.

Starts ``reconciler sandbox serve`` in its own process with a rolling window of
``--rate`` requests per ``--window-ms`` per token (HubSpot's is 100 per 10 s;
scaled down by default so the run is short), plans ``--accounts`` accounts of
``--creates`` user creates each through the hubspot provider, then times the
apply, which is one write per step, every account in parallel on its own token.

Reported, from the server's own request log:

- ``share_of_rate``: requests per second per token over the apply, as a share
  of ``rate / window``;
- ``share_of_window``: requests as a share of what the rolling window admits in
  the time the apply took (``rate`` at once, then ``rate`` more each window),
  which a client that starts with a full window can reach but not pass;
- the count of 429 answers and of steps that did not apply.

Then the wire plan: a second server answers every request ``--latency`` seconds
late (50 ms), and ``--plan-accounts`` accounts of ``--plan-users`` users each
(200 x 50) are planned through the hubspot provider at its default parallelism.
Reported: the plan's time against its floor, and the requests per account from
the server's log. The floor is (requests on an account's longest chain x
latency) x accounts / parallelism, where the longest chain is the account
details, then the token's scopes, then the seats (the users' pages and the
permission sets then teams run beside them). Target: at most 1.3x the floor.
Then the same requests again, from the server's log, by a client that only
sends them and reads the answers (``bare_client``): how far from the floor the
server and this machine alone keep a wire plan.

Figures are printed and written to ``bench/results/hubspot.json``. The targets are
``share_of_window`` of at least 0.85 with no failed step, and the plan within 1.3x
of its floor.

    python bench/bench_hubspot.py [--accounts 10] [--creates 110] [--rate 20] [--window-ms 1000]
        [--plan-accounts 200] [--plan-users 50] [--latency 0.05] [--parallelism N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from reconciler.affinity import one_cpu  # noqa: E402
from reconciler.apply import Status  # noqa: E402
from reconciler.engine import apply_plan, make_plan  # noqa: E402
from reconciler.providers.hubspot.provider import HubSpotProvider  # noqa: E402
from reconciler.providers.hubspot.versions import TOKEN_INFO  # noqa: E402
from tests.served import Fleet, bulk_fleet, token_for  # noqa: E402


def start_server(
    config: Path, rate: int, window_ms: int, latency: float = 0.0, under: Sequence[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """``sandbox serve`` in its own process, and its URL once it serves.

    ``under``: a command to run it under (valgrind); its stderr is then kept for the caller.
    """
    command = [
        *under,
        sys.executable,
        "-m",
        "reconciler",
        "sandbox",
        "serve",
        str(config),
        "--port",
        "0",
        "--rate-limit",
        str(rate),
        "--window-ms",
        str(window_ms),
        "--latency",
        str(latency),
    ]
    stderr = subprocess.PIPE if under else None
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving on "):
        process.kill()
        process.wait()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, line.removeprefix("serving on ").strip()


def stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        files = bulk_fleet(args.accounts, args.creates).write(Path(tmp) / "fleet")
        os.environ.update(files.environment())
        process, url = start_server(files.served, args.rate, args.window_ms)
        try:
            config = files.hubspot_config(url, concurrency=args.accounts)
            provider = HubSpotProvider(config)
            try:
                started = time.perf_counter()
                plan = make_plan(config, provider)
                planned = time.perf_counter() - started
                # The request log answers only to a token of the sandbox.
                admin = {"Authorization": f"Bearer {next(iter(files.environment().values()))}"}
                httpx.delete(f"{url}/__sandbox/requests", headers=admin).raise_for_status()
                started = time.perf_counter()
                report = apply_plan(plan, config, provider)
                elapsed = time.perf_counter() - started
            finally:
                provider.close()
            answer = httpx.get(f"{url}/__sandbox/requests", headers=admin)
            log = answer.raise_for_status().json()["requests"]
        finally:
            stop_server(process)
    steps = [s for s in plan.steps if s.channel == "api"]
    outcomes = Counter(o.status for a in report.accounts for o in a.outcomes)
    statuses = Counter(r["status"] for r in log)
    window = args.window_ms / 1000
    per_token = len(log) / args.accounts
    allowed_rate = args.rate / window
    admitted = args.rate * (math.floor(elapsed / window) + 1)
    return {
        "accounts": args.accounts,
        "api_steps": len(steps),
        "applied": outcomes[Status.APPLIED],
        "failed_steps": len(steps) - outcomes[Status.APPLIED],
        "requests": len(log),
        "throttled_429": statuses[429],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "limit": {"requests": args.rate, "window_ms": args.window_ms, "per": "token"},
        "plan_seconds": round(planned, 3),
        "apply_seconds": round(elapsed, 3),
        "requests_per_second_per_token": round(per_token / elapsed, 2),
        "allowed_per_second_per_token": round(allowed_rate, 2),
        "share_of_rate": round(per_token / elapsed / allowed_rate, 3),
        "share_of_window": round(per_token / admitted, 3),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def wide_fleet(accounts: int, users: int) -> Fleet:
    """``accounts`` accounts of ``users`` users, current as desired but every tenth user."""
    fleet = bulk_fleet(accounts, users)
    for current, desired in zip(fleet.current, fleet.desired, strict=True):
        current["users"] += [u for n, u in enumerate(desired["users"]) if n % 10]
    return fleet


def wire_plan(args: argparse.Namespace) -> dict[str, Any]:
    """Plan ``--plan-accounts`` x ``--plan-users`` through a server ``--latency`` late."""
    with tempfile.TemporaryDirectory() as tmp:
        files = wide_fleet(args.plan_accounts, args.plan_users).write(Path(tmp) / "fleet")
        os.environ.update(files.environment())
        process, url = start_server(files.served, 100, 10_000, args.latency)
        try:
            options = {"concurrency": args.parallelism} if args.parallelism else {}
            config = files.hubspot_config(url, **options)
            admin = {"Authorization": f"Bearer {next(iter(files.environment().values()))}"}
            with HubSpotProvider(config) as provider:
                parallelism = provider.parallelism
                httpx.delete(f"{url}/__sandbox/requests", headers=admin).raise_for_status()
                started = time.perf_counter()
                plan = make_plan(config, provider)
                elapsed = time.perf_counter() - started
            log = httpx.get(f"{url}/__sandbox/requests", headers=admin).raise_for_status()
            requests = log.json()["requests"]
            bare = bare_client(url, requests, parallelism)
        finally:
            stop_server(process)
    per_account = Counter(r["account"] for r in requests)
    pages = math.ceil((args.plan_users * 9 // 10 + 1) / 100) if args.plan_users else 1
    chain = 1 + max(2, pages)  # details, then the longest of: scopes -> seats, users' pages
    floor = chain * args.latency * args.plan_accounts / parallelism
    return {
        "accounts": args.plan_accounts,
        "users_per_account": args.plan_users,
        "latency_ms": round(args.latency * 1000),
        "parallelism": parallelism,
        "failed_accounts": sum(1 for a in plan.accounts if a.error),
        "requests": len(requests),
        "requests_per_account": {
            "min": min(per_account.values()),
            "max": max(per_account.values()),
        },
        "longest_chain": chain,
        "plan_seconds": round(elapsed, 3),
        "floor_seconds": round(floor, 3),
        "plan_over_floor": round(elapsed / floor, 2) if floor else None,
        "bare_client_seconds": round(bare, 3),
        "bare_client_over_floor": round(bare / floor, 2) if floor else None,
    }


#: One request as the server logged it: method, path, query string.
Logged = tuple[str, str, str]


def bare_client(url: str, requests: list[dict[str, Any]], parallelism: int) -> float:
    """Seconds a client that does nothing but send takes for the same requests.

    Each account's requests, as the server logged them, sent in the same three
    chains the provider runs after the account details (token information then
    seats, the pages of users, permission sets then teams), ``parallelism``
    accounts at once over kept-alive connections, on one CPU as the provider's
    threads are; the answers are read, not decoded. What this takes over the
    floor is the server's and the machine's share of a wire plan's time, not the
    client's.
    """
    per_account: dict[int, list[Logged]] = defaultdict(list)
    for request in requests:
        per_account[request["account"]].append(
            (request["method"], request["path"], request["query"])
        )
    address = urlsplit(url)
    local = threading.local()

    def send(account: int, request: Logged) -> None:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(address.hostname or "", address.port)
            local.connection = connection
        method, path, query = request
        headers = {"Authorization": f"Bearer {token_for(account)}"}
        body = None
        if path == TOKEN_INFO:
            body = json.dumps({"tokenKey": token_for(account)})
            headers["Content-Type"] = "application/json"
        connection.request(method, f"{path}?{query}" if query else path, body, headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"bare client: {method} {path} answered {answer.status}")

    def chain(account: int, requests: list[Logged]) -> None:
        for request in requests:
            send(account, request)

    # On one CPU, as the provider's threads are (reconciler/affinity.py): like with like.
    with (
        one_cpu(),
        ThreadPoolExecutor(2 * parallelism) as sides,
        ThreadPoolExecutor(parallelism) as main,
    ):

        def read(account: int) -> None:
            details, *rest = per_account[account]
            send(account, details)
            scopes = [r for r in rest if r[1] == TOKEN_INFO or r[1].endswith("/seats")]
            directory = [r for r in rest if r[1].endswith(("/roles", "/teams"))]
            users = [r for r in rest if r not in scopes and r not in directory]
            beside = [sides.submit(chain, account, scopes), sides.submit(chain, account, directory)]
            chain(account, users)
            for done in beside:
                done.result()

        started = time.perf_counter()
        list(main.map(read, sorted(per_account)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--creates", type=int, default=110, help="api steps per account")
    parser.add_argument("--rate", type=int, default=20, help="requests per window per token")
    parser.add_argument("--window-ms", type=int, default=1000)
    parser.add_argument("--plan-accounts", type=int, default=200)
    parser.add_argument("--plan-users", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--parallelism", type=int, help="default: the provider's own")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hubspot.json")
    args = parser.parse_args()
    results = run(args)
    results["wire_plan"] = wire_plan(args)
    print(json.dumps(results, indent=2))
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    ok = results["share_of_window"] >= 0.85 and results["failed_steps"] == 0
    print(f"{'OK' if ok else 'BELOW TARGET'}: {results['share_of_window']:.1%} of the window")
    wire = results["wire_plan"]
    ok = wire["plan_over_floor"] <= 1.3 and not wire["failed_accounts"]
    print(
        f"{'OK' if ok else 'BELOW TARGET'}: wire plan {wire['plan_seconds']} s ="
        f" {wire['plan_over_floor']}x its floor of {wire['floor_seconds']} s (target <= 1.3x);"
        f" the same requests by a client that only sends them: {wire['bare_client_over_floor']}x"
    )


if __name__ == "__main__":
    main()
