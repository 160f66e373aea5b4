"""HTTP to HubSpot for the provider: paced per token, retried, errors mapped, tokens hidden.

One :class:`HubSpotClient` serves every account; each token gets its own
:class:`~reconciler.providers.hubspot.limiter.WindowLimiter`. Answers 429 (the
rolling window), 5xx and lost connections are retried with exponential backoff
and jitter, honouring ``Retry-After``; a 429 for the DAILY policy stops that
token at once; other 4xx are never retried and become a ProviderError carrying
HubSpot's ``message`` and ``correlationId``.

A request that may have reached HubSpot although its answer was lost (a
timeout, a dropped connection, a 5xx) is not simply sent again when sending it
twice would do it twice: the caller's ``recover`` looks first (a create looks
the user up by email), so no user is ever created twice.

The token travels only in the ``Authorization`` header of each request: never
in a URL, and so never in an httpx exception; httpx hides the header in
reprs; messages built from answers have the token value scrubbed anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.config.rules import url_problem
from reconciler.errors import ProviderError, RateLimitError, ReconcilerError
from reconciler.logs import log_request
from reconciler.model import DesiredAccount
from reconciler.providers.hubspot.limiter import WindowLimiter, header_int
from reconciler.providers.hubspot.wire import DeferredTransport, Received, Wire, wire_sends

PROVIDER = "hubspot"
DAILY = "DAILY"
DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry 429, 5xx and lost connections."""

    max_retries: int = 8
    base_delay: float = 0.25
    max_delay: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential, with jitter over the upper half so that threads spread out."""
        ceiling: float = min(self.max_delay, self.base_delay * 2.0**attempt)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Credential:
    """A token and the name of the environment variable it came from.

    Its ``repr`` and ``str`` show the variable, never the token.
    """

    __slots__ = ("_value", "key", "variable")

    def __init__(self, variable: str, value: str) -> None:
        self.variable = variable
        self._value = value
        #: Identifies the token (for its limiter) without holding its value.
        self.key = hashlib.sha256(value.encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return f"Credential({self.variable})"

    __str__ = __repr__

    def token_info_body(self) -> dict[str, str]:
        """HubSpot's token-information request names the token in its body."""
        return {"tokenKey": self._value}

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._value}"}

    def scrub(self, text: str) -> str:
        """``text`` without the token, as it is or as a repr shows it (``b'Bearer …\\n…'``)."""
        if not self._value:
            return text
        mask = f"[token from {self.variable}]"
        for form in {self._value, repr(self._value)[1:-1], repr(self._value.encode())[2:-1]}:
            text = text.replace(form, mask)
        return text


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Token:
    limiter: WindowLimiter
    daily_spent: bool = False
    #: What the last answer said is left of the day's requests (None: not said yet).
    daily_remaining: int | None = None


@dataclass
class _Call:
    """One request as the caller asked for it, across its attempts."""

    credential: Credential
    account: int
    method: str
    path: str
    params: Mapping[str, str | int] | None
    body: Mapping[str, Any] | None
    recover: Callable[[], Answer | None] | None
    accept: frozenset[int]
    #: An attempt may have been applied although its answer was lost.
    maybe_applied: bool = False

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"

    def recovered(self) -> Answer | None:
        """After a lost answer: the result, if the caller can tell the write happened."""
        if self.maybe_applied and self.recover is not None:
            return self.recover()
        return None


@dataclass(frozen=True)
class _Retry:
    """An attempt to make again: after ``delay`` seconds (rate limits wait in the limiter)."""

    delay: float
    failure: str
    rate_limited: bool = False


class HubSpotClient:
    """Safe to share between threads; each token is paced on its own."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        requests_per_window: int = 100,
        window_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        connections: int = 16,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._requests_per_window = requests_per_window
        self._window_seconds = window_seconds
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._random = random.Random()
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        sends = wire_sends(base_url, transport)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=DeferredTransport(limits) if sends else transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "reconciler"},
            limits=limits,
        )
        self._wire = Wire(self._http, timeout=timeout, connections=connections) if sends else None

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
        self._http.close()

    def daily_remaining(self, credential: Credential) -> int | None:
        """Requests left today on this token, as HubSpot last said (None: not said yet)."""
        return self._token(credential).daily_remaining

    def _token(self, credential: Credential) -> _Token:
        with self._lock:
            token = self._tokens.get(credential.key)
            if token is None:
                limiter = WindowLimiter(self._requests_per_window, self._window_seconds)
                token = self._tokens[credential.key] = _Token(limiter)
            return token

    def request(
        self,
        credential: Credential,
        account: int,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        recover: Callable[[], Answer | None] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> Answer:
        """One API call, retried as HubSpot asks; raises ProviderError when it cannot succeed.

        ``recover``: after an attempt that may have been applied although its
        answer was lost, it is asked before sending again and may return the
        result instead. ``accept``: error statuses returned as answers rather
        than raised (e.g. 404 when looking up).
        """
        call = _Call(credential, account, method, path, params, body, recover, accept)
        token = self._token(credential)
        attempt = 0
        while True:
            if token.daily_spent:
                raise RateLimitError(
                    f"the daily API limit of the token in {credential.variable} is spent; "
                    "nothing more is sent with it today",
                    provider=PROVIDER,
                    account=account,
                )
            recovered = call.recovered()
            if recovered is not None:
                return recovered
            token.limiter.acquire()
            outcome = self._attempt(call, token, attempt)
            if isinstance(outcome, Answer):
                return outcome
            if attempt >= self.retry.max_retries:
                error = RateLimitError if outcome.rate_limited else ProviderError
                raise error(
                    f"{call.what}: gave up after {attempt + 1} attempts; last: {outcome.failure}",
                    provider=PROVIDER,
                    account=account,
                    retryable=True,
                )
            attempt += 1
            if not outcome.rate_limited:
                time.sleep(outcome.delay)

    def _attempt(self, call: _Call, token: _Token, attempt: int) -> Answer | _Retry:
        """Send once: the answer, or why and when to try again (raises what must not be)."""
        credential = call.credential
        try:
            response = self._send(call)
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise ProviderError(
                f"{call.what}: cannot send the request: {credential.scrub(str(exc))}",
                provider=PROVIDER,
                account=call.account,
            ) from exc
        except httpx.TransportError as exc:
            unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            call.maybe_applied = call.maybe_applied or not unsent
            failure = f"{type(exc).__name__}: {credential.scrub(str(exc)) or 'no answer'}"
            return _Retry(self.retry.backoff(attempt, self._random), failure)
        token.limiter.observe(response.headers)
        _observe_daily(token, response.headers)
        return self._answer(call, token, response, attempt)

    def _send(self, call: _Call) -> httpx.Response | Received:
        """One HTTP request, logged (``--verbose``) by method, path, status and duration only.

        Sent by the :mod:`~reconciler.providers.hubspot.wire` where it can, else by httpx.
        """
        started = time.perf_counter()
        wire, headers = self._wire, call.credential.headers()
        try:
            if wire is not None and not wire.cookies_seen:
                response: httpx.Response | Received = wire.request(
                    call.method, call.path, call.params, call.body, headers
                )
            else:
                response = self._http.request(
                    call.method, call.path, params=call.params, json=call.body, headers=headers
                )
        except httpx.HTTPError as exc:
            log_request(call.account, call.method, call.path, type(exc).__name__, _since(started))
            raise
        log_request(call.account, call.method, call.path, response.status_code, _since(started))
        return response

    def _answer(
        self, call: _Call, token: _Token, response: httpx.Response | Received, attempt: int
    ) -> Answer | _Retry:
        """What one HTTP answer means: done, try again (and when), or a refusal raised."""
        data = _json(response)
        status = response.status_code
        if response.is_success or status in call.accept:
            return Answer(status, data, response.headers)
        if status == 409:
            recovered = call.recovered()
            if recovered is not None:
                return recovered
        failure = f"HTTP {status} {_describe(data, call.credential)}"
        if status == 429:
            if isinstance(data, Mapping) and data.get("policyName") == DAILY:
                token.daily_spent = True
                raise RateLimitError(
                    f"{call.what}: HubSpot's daily limit for the token in "
                    f"{call.credential.variable} is reached ({_describe(data, call.credential)})",
                    provider=PROVIDER,
                    account=call.account,
                )
            wait = _retry_after(response.headers)
            delay = wait if wait is not None else self.retry.backoff(attempt, self._random)
            token.limiter.hold(delay)
            return _Retry(delay, failure, rate_limited=True)
        if status >= 500:
            call.maybe_applied = True
            return _Retry(self.retry.backoff(attempt, self._random), failure)
        raise self._refusal(call.what, status, data, call.credential, call.account)

    def _refusal(
        self, what: str, status: int, data: Any, credential: Credential, account: int
    ) -> ProviderError:
        detail = _describe(data, credential)
        if status == 401:
            message = f"{what}: HubSpot refused the token in {credential.variable} (401 {detail})"
        elif status == 403:
            scopes = _required_scopes(data)
            needs = f"; it needs {', '.join(scopes)}" if scopes else ""
            message = (
                f"{what}: the token in {credential.variable} may not do this{needs} (403 {detail})"
            )
        else:
            message = f"{what}: HubSpot answered {status} {detail}"
        # The scopes come from the answer too.
        return ProviderError(
            credential.scrub(message), provider=PROVIDER, account=account, retryable=False
        )


def _since(started: float) -> float:
    return time.perf_counter() - started


def _observe_daily(token: _Token, headers: Mapping[str, str]) -> None:
    remaining = header_int(headers, DAILY_REMAINING)
    if remaining is not None:
        token.daily_remaining = remaining


def _json(response: httpx.Response | Received) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


def _describe(data: Any, credential: Credential) -> str:
    """HubSpot's error body in one line: category, message, correlationId."""
    if isinstance(data, Mapping):
        category = data.get("category") or data.get("policyName") or data.get("errorType")
        message = str(data.get("message") or "no message")
        parts = [f"{category}: {message}" if category else message]
        correlation = data.get("correlationId")
        if correlation:
            parts.append(f"(correlationId {correlation})")
        return credential.scrub(" ".join(parts))
    if data:
        # Cut after scrubbing: a cut through a token would leave a piece of it unscrubbed.
        return credential.scrub(" ".join(str(data).split()))[:300]
    return "with no body"


def _required_scopes(data: Any) -> list[str]:
    scopes: list[str] = []
    if isinstance(data, Mapping):
        for error in data.get("errors") or ():
            context = error.get("context") if isinstance(error, Mapping) else None
            if isinstance(context, Mapping):
                for key in ("requiredGranularScopes", "requiredScopes"):
                    scopes.extend(str(s) for s in context.get(key) or ())
    return scopes


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


DEFAULT_BASE_URL = "https://api.hubapi.com"
#: HubSpot says to allow tokens "up to 300 characters"; twice that is surely not one.
MAX_TOKEN = 600


def token_problem(value: str) -> str | None:
    """What makes ``value`` unusable as a bearer token (never quoting it), or None.

    HubSpot's tokens are printable ASCII; anything else could only break the
    request header (or inject another one) and would land in an error message.
    """
    if not value.isascii():
        return "it has characters outside ASCII"
    if " " in value or not value.isprintable():  # in ASCII: space, then 0-31 and 127
        return "it has spaces or control characters"
    if len(value) > MAX_TOKEN:
        return f"it is longer than {MAX_TOKEN} characters"
    return None


def check_base_url(url: str) -> None:
    """Tokens go only over HTTPS, or to this machine (``validate`` says so with its line)."""
    problem = url_problem(url)
    if problem:
        raise ReconcilerError(f"provider.base_url {url!r}: {problem}")


def credential_for(account: DesiredAccount) -> Credential:
    """The account's token, from the environment variable its ``token_env`` names."""
    variable = account.token_env
    if not variable:
        raise ProviderError(
            "no token_env: name the environment variable that holds this account's HubSpot token",
            provider=PROVIDER,
            account=account.id,
        )
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ProviderError(
            f"environment variable {variable} is not set (it holds the HubSpot token"
            f" for account {account.id})",
            provider=PROVIDER,
            account=account.id,
        )
    problem = token_problem(value)
    if problem:
        # Said without the value: it is a secret, whatever is wrong with it.
        raise ProviderError(
            f"environment variable {variable} does not hold a usable HubSpot token"
            f" ({problem}); nothing was sent",
            provider=PROVIDER,
            account=account.id,
        )
    return Credential(variable, value)
