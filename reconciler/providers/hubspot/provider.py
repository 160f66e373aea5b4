"""The hubspot provider: HubSpot's user provisioning API, one private-app token per account.

It speaks the version ``provider.api_version`` names (``v3``, ``2026-03`` or
``2026-09-beta``; see :mod:`.versions`) and sends and reads only the fields
that version documents. Reads go: the account details (is this token for this
portal?), the token's scopes, every page of users, the permission sets, the
teams and, where the version has them, the seats list. Each ``api`` step is
one write: create (with role, teams, names and, where documented, seat),
update, or delete, users addressed by email.

What the API cannot do is declared in :attr:`HubSpotProvider.capabilities`
and narrowed per account by the token's scopes, so the planner turns it into
steps for a person: making or unmaking Super Admins, Partner Admin, the partner
seat, individual permissions, access requests, clearing a permission set or a
primary team (not documented), and seats in versions without them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.errors import ProviderError
from reconciler.fields import NO_FIELDS
from reconciler.model import (
    PAID_SEATS,
    AccountState,
    Config,
    DesiredAccount,
    Role,
    unknown_capacity,
    user_key,
)
from reconciler.plan import Step
from reconciler.providers.base import Capabilities
from reconciler.providers.hubspot.capabilities import capabilities_of
from reconciler.providers.hubspot.client import (
    DEFAULT_BASE_URL,
    PROVIDER,
    Answer,
    Credential,
    HubSpotClient,
    RetryPolicy,
    check_base_url,
    credential_for,
)
from reconciler.providers.hubspot.mapping import (
    Directory,
    SeatNames,
    create_body,
    next_cursor,
    read_users,
    results_of,
    seats_owned,
    update_body,
)
from reconciler.providers.hubspot.versions import (
    BILLING_WRITE_SCOPE,
    TOKEN_INFO,
    version,
)
from reconciler.steps import Effect

DEFAULT_PARTNER_ADMIN_ROLE = "Partner Admin"
#: A bound on paging, so a server that never stops paging cannot keep a run going.
MAX_PAGES = 100_000
#: Accounts read or applied at once, unless ``provider.concurrency`` or ``--parallelism``
#: says otherwise. HubSpot limits each private-app token, and each account has its own,
#: so accounts never share a budget: one account's plan is six requests, far under its
#: 100 per 10 seconds. What bounds this is the client: a thread and up to
#: :data:`READS_AT_ONCE` connections per account (the reasoning: ``docs/hubspot-api.md``).
DEFAULT_PARALLELISM = 32
#: An account's reads sent at once after its portal is checked: the token's scopes (then
#: the seats), the pages of users, and the permission sets (then the teams).
READS_AT_ONCE = 3
#: Fewest requests left in a token's day for its reads to overlap. Closer to the end of
#: the day's budget an account is read one request at a time, so the first refusal
#: stops it with nothing more sent.
OVERLAP_DAILY_MINIMUM = 100


class HubSpotProvider:
    """Safe to use from the engine's threads: one account per thread at a time."""

    name = PROVIDER

    def __init__(
        self,
        config: Config,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        parallelism: int | None = None,
    ) -> None:
        options = config.provider.options
        self.api = version(options.get("api_version"))
        self.partner_admin_role = str(
            options.get("partner_admin_role") or DEFAULT_PARTNER_ADMIN_ROLE
        )
        self.seats = SeatNames.from_options(options)
        scopes = options.get("scopes")
        self.configured_scopes = frozenset(scopes) if scopes is not None else None
        self.page_size = int(options.get("page_size") or 100)
        self.parallelism = parallelism or int(options.get("concurrency") or DEFAULT_PARALLELISM)
        self.capabilities: Capabilities = capabilities_of(self.api, self.seats)
        base_url = str(options.get("base_url") or DEFAULT_BASE_URL)
        check_base_url(base_url)
        self.client = HubSpotClient(
            base_url,
            timeout=float(options.get("timeout") or 30.0),
            retry=retry or RetryPolicy(max_retries=int(options.get("max_retries", 8))),
            requests_per_window=int(options.get("requests_per_10s") or 100),
            window_seconds=10.0,
            transport=transport,
            connections=max(16, self.parallelism * READS_AT_ONCE),
        )
        self._verified: dict[int, frozenset[str] | None] = {}
        self._directories: dict[int, Directory] = {}
        self._lock = threading.Lock()
        # The side chains of every account's read (the caller's thread reads the users):
        # threads kept for the provider's life, not started anew for each account.
        self._reads = ThreadPoolExecutor(
            self.parallelism * (READS_AT_ONCE - 1), thread_name_prefix="hubspot-read"
        )

    def close(self) -> None:
        self._reads.shutdown(wait=True)
        self.client.close()

    def __enter__(self) -> HubSpotProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------

    def read_account(self, account: DesiredAccount) -> AccountState:
        credential = credential_for(account)
        scopes, users, directory, listed = self._read_overlapped(account, credential)
        try:
            current, unknown = read_users(users, directory, self.seats, self.api)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(
                f"GET {self.api.collection}: a user in the answer has no usable email ({exc!r})",
                provider=PROVIDER,
                account=account.id,
            ) from exc
        owned: dict[str, int] = {}
        seats = self.api.seats
        if seats is not None and listed is not None:
            used = Counter(u.seat for key, u in current.items() if f"{key}.seat" not in unknown)
            owned = seats_owned(results_of(listed, seats, account), self.seats, used)
        else:
            # No seats list in this version (or no scope to read it): paid seat counts
            # are unknown, and a person sees HubSpot's own checkout if one runs out.
            unknown |= {unknown_capacity(seat) for seat in PAID_SEATS}
        actor = user_key(account.actor) if account.actor else ""
        return AccountState(
            id=account.id,
            seats_owned=owned,
            roles={name: Role(name) for name in directory.role_names.values()},
            teams=frozenset(directory.team_names.values()),
            users=current,
            partner_access="granted" if actor in current else "none",
            unknown=frozenset(unknown),
            grants=scopes,
        )

    def _read_overlapped(
        self, account: DesiredAccount, credential: Credential
    ) -> tuple[frozenset[str] | None, list[Any], Directory, Any]:
        """Scopes, users, directory and seats list (None: not to be read), reads overlapped.

        The portal is checked first (nothing else is sent with a token for another
        account); then three chains run at once: the token's scopes and then the
        seats, the pages of users, the permission sets and then the teams. Failures
        are raised in the order a serial read meets them: scopes, users, directory,
        seats.
        """
        with self._lock:
            verified = account.id in self._verified
        if not verified:
            self._check_details(account, credential)
        left = self.client.daily_remaining(credential)
        if left is not None and left < OVERLAP_DAILY_MINIMUM:
            scopes = self._verify(account, credential, portal_checked=True)
            users_read = self._all_users(account, credential)
            directory_read = self._read_directory(account, credential)
            return scopes, users_read, directory_read, self._seats(account, credential, scopes)
        scoped = self._reads.submit(self._scopes_then_seats, account, credential)
        directory = self._reads.submit(self._read_directory, account, credential)
        try:
            users = self._all_users(account, credential)
        finally:  # the side chains end before this read does, whatever happened here
            scopes, seats = scoped.result()
            read = directory.exception() or directory.result()
        if isinstance(seats, ProviderError):
            raise seats
        if isinstance(read, BaseException):
            raise read
        return scopes, users, read, seats

    def _scopes_then_seats(
        self, account: DesiredAccount, credential: Credential
    ) -> tuple[frozenset[str] | None, Any]:
        """The token's scopes, and the seats list if this version and the scopes allow it.

        A failure to read the seats is returned, for the caller to raise in its turn.
        """
        scopes = self._verify(account, credential, portal_checked=True)
        try:
            return scopes, self._seats(account, credential, scopes)
        except ProviderError as exc:
            return scopes, exc

    def _seats(
        self, account: DesiredAccount, credential: Credential, scopes: frozenset[str] | None
    ) -> Any:
        """The seats list, if this version has one and the scopes allow reading it (else None)."""
        path = self.api.seats
        if path is None or (scopes is not None and BILLING_WRITE_SCOPE not in scopes):
            return None
        return self._get(account, credential, path).data

    def _all_users(self, account: DesiredAccount, credential: Credential) -> list[Any]:
        users: list[Any] = []
        after: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"limit": self.page_size}
            if after is not None:
                params["after"] = after
            page = self._get(account, credential, self.api.collection, params).data
            users.extend(results_of(page, self.api.collection, account))
            after = next_cursor(page)
            if after is None:
                return users
            if after in seen:
                break
            seen.add(after)
        raise ProviderError(
            f"GET {self.api.collection}: the paging cursor does not advance; stopped reading",
            provider=PROVIDER,
            account=account.id,
        )

    # -- writing ----------------------------------------------------------------------

    def execute(self, step: Step, account: DesiredAccount) -> None:
        """One API write per step, after checking the token is for this account.

        A step beyond :attr:`capabilities` (the planner makes those ``manual``) is
        refused before anything is sent.
        """
        self._refuse_beyond(self.capabilities, step, account)
        credential = credential_for(account)
        scopes = self._verify(account, credential)
        grants = AccountState(account.id, grants=scopes)
        self._refuse_beyond(self.capabilities.for_account(grants), step, account)
        directory = self._directory(account, credential)
        email = step.user or ""
        effect = step.kind.effect
        if effect is Effect.CREATE and step.after is not None:
            body = create_body(step.after, directory, self.seats, self.api, account.id)
            self.client.request(
                credential,
                account.id,
                "POST",
                self.api.collection,
                body=body,
                recover=lambda: self._created(account, credential, email),
            )
        elif effect is Effect.REMOVE:
            self.client.request(
                credential,
                account.id,
                "DELETE",
                self._user_path(email),
                params={"idProperty": "EMAIL"},
                recover=lambda: self._removed(account, credential, email),
            )
        else:
            body = update_body(step.after or NO_FIELDS, directory, self.seats, account.id)
            self.client.request(
                credential,
                account.id,
                "PUT",
                self._user_path(email),
                params={"idProperty": "EMAIL"},
                body=body,
            )

    def _refuse_beyond(
        self, capabilities: Capabilities, step: Step, account: DesiredAccount
    ) -> None:
        if not capabilities.executes(step.type, step.before, step.after):
            raise ProviderError(
                f"the HubSpot API ({self.api.name}, with this token's scopes) cannot do"
                f" {step.type} for {step.user}; it is a step for a person",
                provider=PROVIDER,
                account=account.id,
            )

    def _user_path(self, email: str) -> str:
        return self.api.user(quote(email, safe=""))

    def _created(
        self, account: DesiredAccount, credential: Credential, email: str
    ) -> Answer | None:
        """After a create whose answer was lost: the user, if the create happened."""
        found = self._lookup(account, credential, email)
        return found if found.status == 200 else None

    def _removed(
        self, account: DesiredAccount, credential: Credential, email: str
    ) -> Answer | None:
        """After a delete whose answer was lost: done, if the user is gone."""
        found = self._lookup(account, credential, email)
        return found if found.status == 404 else None

    def _lookup(self, account: DesiredAccount, credential: Credential, email: str) -> Answer:
        return self.client.request(
            credential,
            account.id,
            "GET",
            self._user_path(email),
            params={"idProperty": "EMAIL"},
            accept=frozenset({404}),
        )

    # -- tokens, portals, directories -------------------------------------------------

    def _verify(
        self, account: DesiredAccount, credential: Credential, *, portal_checked: bool = False
    ) -> frozenset[str] | None:
        """The token must belong to this portal, or nothing is read or written with it.

        Returns the token's scopes: from HubSpot's private-app token information,
        else from ``provider.scopes``, else None (not known; a 403 then names the
        missing scope). ``portal_checked``: the caller checked the account details.
        """
        with self._lock:
            if account.id in self._verified:
                return self._verified[account.id]
        if not portal_checked:
            self._check_details(account, credential)
        scopes = self._token_scopes(account, credential)
        with self._lock:
            self._verified[account.id] = scopes
        return scopes

    def _check_details(self, account: DesiredAccount, credential: Credential) -> None:
        """The account details must name this account's portal."""
        details = self._get(account, credential, self.api.details).data
        portal = details.get("portalId") if isinstance(details, Mapping) else None
        self._check_portal(account, credential, portal)

    def _check_portal(self, account: DesiredAccount, credential: Credential, portal: Any) -> None:
        if str(portal) != str(account.id):
            raise ProviderError(
                f"the token in {credential.variable} is for HubSpot account {portal},"
                f" not {account.id}; nothing was read or changed",
                provider=PROVIDER,
                account=account.id,
            )

    def _token_scopes(
        self, account: DesiredAccount, credential: Credential
    ) -> frozenset[str] | None:
        """The private app's scopes, as HubSpot's token information gives them."""
        answer = self.client.request(
            credential,
            account.id,
            "POST",
            TOKEN_INFO,
            body=credential.token_info_body(),
            accept=frozenset({400, 401, 403, 404}),
        )
        info = answer.data if answer.status == 200 and isinstance(answer.data, Mapping) else {}
        scopes = info.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            # Not a private-app token, or no answer HubSpot documents: the config's word.
            return self.configured_scopes
        if "hubId" in info:
            self._check_portal(account, credential, info["hubId"])
        return frozenset(scopes)

    def _directory(self, account: DesiredAccount, credential: Credential) -> Directory:
        """The account's permission sets and teams as last read (read now if never)."""
        with self._lock:
            directory = self._directories.get(account.id)
        return directory or self._read_directory(account, credential)

    def _read_directory(self, account: DesiredAccount, credential: Credential) -> Directory:
        api = self.api
        roles = results_of(self._get(account, credential, api.roles).data, api.roles, account)
        teams = results_of(self._get(account, credential, api.teams).data, api.teams, account)
        try:
            directory = Directory.from_results(roles, teams, self.partner_admin_role)
        except KeyError as exc:
            raise ProviderError(
                f"a permission set or team in the answer has no {exc}",
                provider=PROVIDER,
                account=account.id,
            ) from exc
        with self._lock:
            self._directories[account.id] = directory
        return directory

    def _get(
        self,
        account: DesiredAccount,
        credential: Credential,
        path: str,
        params: Mapping[str, str | int] | None = None,
    ) -> Answer:
        return self.client.request(credential, account.id, "GET", path, params=params)
