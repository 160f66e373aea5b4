"""The hubspot provider: HubSpot's public Settings User Provisioning API v3.

``provider``: the adapter the engine opens; ``client``: HTTP with pacing,
retries and error mapping; ``limiter``: the per-token rolling window;
``mapping``: HubSpot's JSON ↔ the model.
"""

from reconciler.providers.hubspot.client import RetryPolicy
from reconciler.providers.hubspot.provider import HubSpotCapabilities, HubSpotProvider

__all__ = ["HubSpotCapabilities", "HubSpotProvider", "RetryPolicy"]
