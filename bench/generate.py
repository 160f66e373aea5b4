"""Generate a synthetic partner: N accounts x U users, one YAML file per account.

Deterministic for a seed. Besides the config it writes ``snapshot.yaml``, the
matching current state for the sandbox (a snapshot), in which about ``drift`` of
the managed users differ from the config (renamed, moved team, other access,
or missing), so a plan against it has that much to do.

    python bench/generate.py --accounts 1000 --users 50 --out bench/out [--drift 0.05]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTOR = "automation@northwind.agency"
PAID = ("core", "sales", "service")
ROLES = {
    "Marketing Manager": "core",
    "Sales Rep": "sales",
    "Support Agent": "service",
    "Analyst": "view_only",
}
TEAMS = ("Marketing", "Sales", "Support", "Leadership", "Operations")
FIRST = (
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Eva",
    "Finn",
    "Gia",
    "Hugo",
    "Iris",
    "Jonas",
    "Kira",
    "Liam",
)
LAST = ("Silva", "Moss", "Nair", "Park", "Okafor", "Berg", "Lind", "Sato", "Reyes", "Vogel", "Cho")

# What the profiles below add to their users' permissions, as current state shows it.
PROFILE_PERMISSIONS = {"delivery-lead": {"remove": ["marketing.social.publish"]}}

PARTNER_YAML = """\
version: 1
partner:
  name: Northwind Digital
  employee_domains: [northwind.agency]
  employees: [contractor@freelance.example]
  actor: {actor}
provider:
  type: sandbox
  path: .reconciler/sandbox.db
  snapshot: snapshot.yaml
defaults:
  unmanaged_users: ignore
  min_super_admins: 1
  max_removals: 25%
profiles:
  delivery-lead:
    access: partner_admin
    seat: partner
    permissions:
      remove: [marketing.social.publish]
  client-admin:
    access: super_admin
    seat: core
"""


@dataclass
class User:
    """One desired user; ``profile`` users get access and seat from it."""

    email: str
    first_name: str
    last_name: str
    access: str | dict[str, str]
    seat: str
    profile: str | None = None
    teams: dict[str, Any] | None = None
    permissions: dict[str, list[str]] | None = None

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "access": self.access,
            "seat": self.seat,
        }
        if self.teams:
            data["teams"] = {"primary": self.teams["primary"], "secondary": self.teams["secondary"]}
        permissions = PROFILE_PERMISSIONS.get(self.profile or "") or self.permissions
        if permissions:
            data["permissions"] = permissions
        return data


@dataclass
class Account:
    id: int
    name: str
    users: list[User] = field(default_factory=list)


def make_accounts(accounts: int, users: int, seed: int) -> list[Account]:
    rng = random.Random(seed)
    result = []
    for index in range(accounts):
        account = Account(4_410_000 + index + 1, f"Client {index + 1:04d}")
        slug = f"client{index + 1:04d}.example"
        account.users.append(User(ACTOR, "Northwind", "Automation", "partner_admin", "partner"))
        account.users.append(
            User(
                f"owner@{slug}",
                rng.choice(FIRST),
                rng.choice(LAST),
                "super_admin",
                "core",
                "client-admin",
            )
        )
        for number in range(2, users):
            account.users.append(_user(rng, number, slug))
        result.append(account)
    return result


def _user(rng: random.Random, number: int, slug: str) -> User:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    roll = rng.random()
    if roll < 0.12:
        email = f"{first.lower()}.{last.lower()}{number}@northwind.agency"
        return User(email, first, last, "partner_admin", "partner", "delivery-lead")
    email = f"{first.lower()}.{last.lower()}{number}@{slug}"
    if roll < 0.2:
        return User(email, first, last, "basic", "none")
    role = rng.choice(list(ROLES))
    secondary = sorted(rng.sample(TEAMS, rng.randint(0, 2)))
    teams = {"primary": rng.choice(TEAMS), "secondary": secondary}
    permissions = {"add": ["reports.view"]} if roll > 0.9 else None
    return User(email, first, last, {"role": role}, ROLES[role], None, teams, permissions)


def account_yaml(account: Account) -> str:
    lines = [
        "accounts:",
        f"  - id: {account.id}",
        f"    name: {account.name}",
        f"    token_env: HUBSPOT_TOKEN_{account.id}",
        "    users:",
    ]
    for user in account.users:
        lines.append(f"      - email: {user.email}")
        lines.append(f"        first_name: {user.first_name}")
        lines.append(f"        last_name: {user.last_name}")
        if user.profile:
            lines.append(f"        profile: {user.profile}")
        else:
            access = user.access
            shown = f"{{role: {access['role']}}}" if isinstance(access, dict) else access
            lines.append(f"        access: {shown}")
            lines.append(f"        seat: {user.seat}")
        if user.teams:
            lines.append("        teams:")
            lines.append(f"          primary: {user.teams['primary']}")
            lines.append(f"          secondary: [{', '.join(user.teams['secondary'])}]")
        if user.permissions:
            lines.append("        permissions:")
            lines.append(f"          add: [{', '.join(user.permissions['add'])}]")
    return "\n".join(lines) + "\n"


def snapshot_accounts(accounts: list[Account], drift: float, seed: int) -> list[dict[str, Any]]:
    """Current state: the desired users, about ``drift`` of them changed or missing."""
    rng = random.Random(seed + 1)
    result = []
    for account in accounts:
        current = []
        for position, user in enumerate(account.users):
            data = user.snapshot()
            if position >= 2 and rng.random() < drift:  # never the actor or the first Super Admin
                kind = rng.choice(("name", "teams", "access", "missing"))
                if kind == "missing":
                    continue
                if kind == "name":
                    data["first_name"] = data["first_name"] + "x"
                elif kind == "teams" and "teams" in data:
                    data["teams"]["primary"] = next(
                        t for t in TEAMS if t != data["teams"]["primary"]
                    )
                elif data["access"] != "partner_admin":
                    data["access"], data["seat"] = "basic", "view_only"
                else:
                    data["first_name"] = data["first_name"] + "x"
            current.append(data)
        used = Counter(u.seat for u in account.users) + Counter(u["seat"] for u in current)
        result.append(
            {
                "id": account.id,
                "name": account.name,
                "seats_owned": {seat: used[seat] + 2 for seat in PAID},
                "roles": [{"name": name, "seat": seat} for name, seat in ROLES.items()],
                "teams": list(TEAMS),
                "users": current,
            }
        )
    return result


def generate(
    out_dir: str | Path, accounts: int, users: int, drift: float = 0.0, seed: int = 1
) -> list[Path]:
    """Write the config files and ``snapshot.yaml`` into ``out_dir`` (emptied first).

    Returns the config files written (not the snapshot).
    """
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "accounts").mkdir(parents=True)
    written = [out / "partner.yaml"]
    written[0].write_text(PARTNER_YAML.format(actor=ACTOR), encoding="utf-8")
    model = make_accounts(accounts, users, seed)
    for account in model:
        path = out / "accounts" / f"account-{account.id}.yaml"
        path.write_text(account_yaml(account), encoding="utf-8")
        written.append(path)
    snapshot = {"accounts": snapshot_accounts(model, drift, seed)}
    # JSON is YAML: one flow document, quick to write and to read back.
    (out / "snapshot.yaml").write_text(
        "# Current state for the sandbox (generated)\n" + json.dumps(snapshot, indent=1) + "\n",
        encoding="utf-8",
    )
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--out", default="bench/out")
    parser.add_argument("--drift", type=float, default=0.0, help="share of users that differ")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    files = generate(args.out, args.accounts, args.users, args.drift, args.seed)
    print(f"wrote {len(files)} config files and snapshot.yaml to {args.out}")


if __name__ == "__main__":
    main()
