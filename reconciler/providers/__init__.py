"""Providers: adapters between a backend (the sandbox, HubSpot) and the model."""
