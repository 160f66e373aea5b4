"""What ``reconciler sandbox serve`` runs with: rate limits, time zones, faults, names, sizes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from reconciler.providers.hubspot.versions import DEFAULT_SEAT_NAMES, DEFAULT_TIME_ZONE
from reconciler.sandbox.http.faults import Faults
from reconciler.sandbox.http.ratelimit import RateLimits
from reconciler.sandbox.http.request_log import MAX_ENTRIES
from reconciler.sandbox.http.shapes import DEFAULT_PARTNER_ADMIN_ROLE

#: The largest request body the server reads: 1 MiB. HubSpot's user bodies are a
#: few hundred bytes; the limit only has to keep a hostile client from filling memory.
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    limits: RateLimits = field(default_factory=RateLimits)
    #: Each account's time zone, as its account details show it; the daily limit
    #: resets at midnight there.
    time_zone: str = DEFAULT_TIME_ZONE
    time_zones: Mapping[int, str] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    partner_admin_role: str = DEFAULT_PARTNER_ADMIN_ROLE
    seat_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SEAT_NAMES))
    #: Writes act as this user where it is a user of the account (the partner's
    #: actor: the identity that authorised the app); elsewhere only the account's
    #: own rules apply.
    actor: str | None = None
    #: The largest request body, in bytes; a larger one is answered 413.
    max_body: int = MAX_BODY
    #: How many requests the request log keeps (the last ones).
    request_log_size: int = MAX_ENTRIES

    def zone(self, account: int) -> ZoneInfo:
        return ZoneInfo(self.time_zones.get(account, self.time_zone))
