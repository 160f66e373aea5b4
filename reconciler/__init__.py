"""reconciler: HubSpot partner access as code."""

__version__ = "0.1.0"
