"""The sandbox over HTTP: an imitation of HubSpot's API in front of the store.

``server``: the ASGI gate every request passes (token, rate limits, faults,
request log) and the means to run it; ``settings``: what it runs with;
``routing``: which endpoint answers a request; ``endpoints``: the routes, over
:class:`~reconciler.sandbox.store.Store` (``reads``: what they read of it);
``shapes``: HubSpot's JSON for a user, names and scopes; ``errors``: HubSpot's
error bodies; ``answer``: what leaves; ``ratelimit``, ``faults``,
``request_log``: the gate's parts.
"""
