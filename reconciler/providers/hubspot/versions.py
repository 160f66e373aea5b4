"""HubSpot's user provisioning API, version by version, as its documents describe it.

One table says, for each ``provider.api_version``, every path, every request and
response field and every scope the provider and ``sandbox serve`` use, each with
the page that documents it. The provider sends and reads a field only where its
version documents it; the server takes and shows exactly those fields; the
contract tests hold both to this table. What no page documents is listed in
``docs/hubspot-api.md`` with the choice made.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCS = "https://developers.hubspot.com/docs/api-reference"

V3 = "v3"
MARCH_2026 = "2026-03"
SEPTEMBER_2026_BETA = "2026-09-beta"
#: The newest generally available version (the beta is "subject to change").
DEFAULT_VERSION = MARCH_2026

#: Fields a user create body may carry in every version; ``email`` and
#: ``sendWelcomeEmail`` are required.
_CREATE = frozenset(
    {"email", "sendWelcomeEmail", "firstName", "lastName", "primaryTeamId", "roleId"}
    | {"secondaryTeamIds"}
)
_UPDATE = frozenset({"firstName", "lastName", "primaryTeamId", "roleId", "secondaryTeamIds"})
_USER = frozenset(
    {"email", "id", "roleIds", "superAdmin", "firstName", "lastName", "primaryTeamId"}
    | {"roleId", "secondaryTeamIds", "sendWelcomeEmail"}
)
ROLE_FIELDS = frozenset({"id", "name", "requiresBillingWrite"})
TEAM_FIELDS = frozenset({"id", "name", "userIds", "secondaryUserIds"})
SEAT_FIELDS = frozenset({"name", "description", "remainingSeats"})
DETAILS_FIELDS = frozenset(
    {"portalId", "accountType", "timeZone", "utcOffset", "utcOffsetMilliseconds"}
    | {"companyCurrency", "additionalCurrencies", "dataHostingLocation", "uiDomain"}
)
TOKEN_INFO_FIELDS = frozenset({"userId", "hubId", "appId", "scopes"})

READ_SCOPE = "settings.users.read"
WRITE_SCOPE = "settings.users.write"
TEAMS_READ_SCOPE = "settings.users.teams.read"
#: The scope the 2026-09-beta seats list needs; the guide's prose calls it "billing-write".
BILLING_WRITE_SCOPE = "settings.billing.write"
#: Equivalent granular scopes the user endpoints also accept.
CRM_READ_SCOPE = "crm.objects.users.read"
CRM_WRITE_SCOPE = "crm.objects.users.write"

#: ``POST`` with ``{"tokenKey": ...}``: the private app token's hub, app, creator and scopes.
TOKEN_INFO = "/oauth/v2/private-apps/get/access-token-info"
TOKEN_INFO_DOC = "https://developers.hubspot.com/docs/api/private-apps"
DETAILS_DOC = "https://developers.hubspot.com/docs/guides/api/settings/account-information-api"
LIMITS_DOC = "https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines"
ERRORS_DOC = f"{DOCS}/error-handling"
PERMISSION_SETS_DOC = "https://knowledge.hubspot.com/user-management/create-permission-sets"


@dataclass(frozen=True)
class ApiVersion:
    """One version of the user provisioning API: where it lives and what it documents."""

    name: str
    #: A user is ``users + "/" + id``.
    users: str
    #: List (GET) and create (POST): v3 documents it with a trailing slash.
    collection: str
    roles: str
    teams: str
    #: The seats list, where the version has one.
    seats: str | None
    details: str
    create_fields: frozenset[str]
    update_fields: frozenset[str]
    user_fields: frozenset[str]
    #: The documentation pages, by what they document.
    docs: dict[str, str]

    @property
    def has_seats(self) -> bool:
        """Whether seats can be read and written (``seatNames`` and the seats list)."""
        return self.seats is not None

    def user(self, key: str) -> str:
        return f"{self.users}/{key}"


def _version(
    name: str, users: str, details: str, *, slash: bool, seats: bool, docs: dict[str, str]
) -> ApiVersion:
    extra = frozenset({"seatNames"}) if seats else frozenset()
    return ApiVersion(
        name=name,
        users=users,
        collection=users + "/" if slash else users,
        roles=f"{users}/roles",
        teams=f"{users}/teams",
        seats=f"{users}/seats" if seats else None,
        details=details,
        create_fields=_CREATE | extra,
        update_fields=_UPDATE | extra,
        user_fields=_USER | extra,
        docs=docs,
    )


_V3_DOCS = f"{DOCS}/legacy/account/settings/user-provisioning"
_MARCH_DOCS = f"{DOCS}/2026-03/account/settings/user-provisioning"
_BETA_DOCS = f"{DOCS}/2026-09-beta/account/settings/user-provisioning"

VERSIONS: dict[str, ApiVersion] = {
    V3: _version(
        V3,
        "/settings/v3/users",
        "/account-info/v3/details",
        slash=True,
        seats=False,
        docs={
            "guide": f"{_V3_DOCS}/guide",
            "list": f"{_V3_DOCS}/users/get-users",
            "create": f"{DOCS}/settings-user-provisioning-v3/users/post-settings-v3-users-",
            "get": f"{_V3_DOCS}/guide",
            "update": f"{_V3_DOCS}/users/update-user",
            "delete": f"{_V3_DOCS}/users/delete-user",
            "roles": f"{DOCS}/settings-user-provisioning-v3/roles/get-settings-v3-users-roles",
            "teams": f"{DOCS}/settings-user-provisioning-v3/teams/get-settings-v3-users-teams",
            "details": DETAILS_DOC,
        },
    ),
    MARCH_2026: _version(
        MARCH_2026,
        "/settings/users/2026-03",
        "/account-info/2026-03/details",
        slash=False,
        seats=False,
        docs={
            "guide": f"{DOCS}/latest/account/settings/user-provisioning/guide",
            "list": f"{_MARCH_DOCS}/users/get-users",
            "create": f"{_MARCH_DOCS}/users/create-user",
            "get": f"{DOCS}/latest/account/settings/user-provisioning/guide",
            "update": f"{_MARCH_DOCS}/users/update-user",
            "delete": f"{_MARCH_DOCS}/users/delete-user",
            "roles": f"{_MARCH_DOCS}/roles/get-roles",
            "teams": f"{_MARCH_DOCS}/teams/get-teams",
            "details": DETAILS_DOC,
        },
    ),
    SEPTEMBER_2026_BETA: _version(
        SEPTEMBER_2026_BETA,
        "/settings/users/2026-09-beta",
        "/account-info/2026-03/details",
        slash=False,
        seats=True,
        docs={
            "guide": f"{_BETA_DOCS}/guide",
            "list": f"{_BETA_DOCS}/users/get-users",
            "create": f"{_BETA_DOCS}/users/create-user",
            "get": f"{_BETA_DOCS}/guide",
            "update": f"{_BETA_DOCS}/users/update-user",
            "delete": f"{_BETA_DOCS}/users/delete-user",
            "roles": f"{_BETA_DOCS}/roles/get-roles",
            "teams": f"{_BETA_DOCS}/teams/get-teams",
            "seats": f"{_BETA_DOCS}/seats/get-seats",
            "details": DETAILS_DOC,
        },
    ),
}

#: HubSpot's names for the seats ("Manage seats" in HubSpot's knowledge base). The
#: exact strings the API uses are not documented; ``provider.seat_names`` overrides.
DEFAULT_SEAT_NAMES: dict[str, str] = {
    "partner": "Partner Seat",
    "core": "Core Seat",
    "sales": "Sales Hub Seat",
    "service": "Service Hub Seat",
    "view_only": "View-Only Seat",
}
#: The time zone ``sandbox serve`` gives its accounts unless told otherwise (HubSpot's
#: example account details show "US/Eastern"; this is its canonical name).
DEFAULT_TIME_ZONE = "America/New_York"
SEAT_NAMES_DOC = "https://knowledge.hubspot.com/account-management/manage-seats"


def version(name: str | None) -> ApiVersion:
    """The version by name (the default when None); ValueError for a name HubSpot has not."""
    found = VERSIONS.get(name or DEFAULT_VERSION)
    if found is None:
        raise ValueError(f"unknown HubSpot API version {name!r} (one of {', '.join(VERSIONS)})")
    return found
