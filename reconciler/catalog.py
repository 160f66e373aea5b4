"""The permission catalogue (``schemas/permissions.json``) and what each access level implies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reconciler.model import Access, Role, User


def schemas_dir() -> Path:
    """Schemas ship inside the wheel as ``reconciler/schemas``; in a checkout they are ``schemas/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "schemas"
    return packaged if packaged.is_dir() else here.parent / "schemas"


@dataclass(frozen=True)
class Permission:
    id: str
    label: str
    category: str


@dataclass(frozen=True)
class Catalogue:
    permissions: dict[str, Permission]
    partner_admin_forbidden: frozenset[str]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.permissions)

    def template(self, access: Access, roles: dict[str, Role] | None = None) -> frozenset[str]:
        """The permissions an access level grants before individual changes."""
        if access.kind == "super_admin":
            return self.ids
        if access.kind == "partner_admin":
            return self.ids - self.partner_admin_forbidden
        if access.kind == "role" and roles is not None and access.role in roles:
            return roles[access.role].permissions
        return frozenset()

    def effective(self, user: User, roles: dict[str, Role] | None = None) -> frozenset[str]:
        granted = self.template(user.access, roles) | user.permissions.add
        return granted - user.permissions.remove


@cache
def load_catalogue() -> Catalogue:
    doc = json.loads((schemas_dir() / "permissions.json").read_text(encoding="utf-8"))
    data = doc["x-catalogue"]
    permissions = {
        p["id"]: Permission(p["id"], p["label"], p["category"]) for p in data["permissions"]
    }
    forbidden = frozenset(data["templates"]["partner_admin"]["except"])
    return Catalogue(permissions, forbidden)
