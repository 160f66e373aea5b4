"""The hubspot provider: HubSpot's public Settings User Provisioning API v3.

``provider``: the adapter the engine opens; ``capabilities``: what it can do
per version and token; ``client``: HTTP with pacing, retries and error
mapping; ``wire``: the client's requests on kept-alive connections;
``headers``: an answer's headers, read as httpx reads them; ``limiter``: the
per-token rolling window; ``mapping``: HubSpot's JSON ↔ the model;
``versions``: the API versions' paths and fields.
"""
