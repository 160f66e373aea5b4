"""HubSpot's error answers, as the sandbox server gives them.

Every error leaves as ``{status, message, correlationId, category, errors}``;
the functions below are the answers the server gives more than once or whose
wording is HubSpot's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from reconciler.sandbox.http.answer import Answer, json_answer
from reconciler.sandbox.rules import CONFLICT, NOT_FOUND, RefusedError


class ApiError(Exception):
    """An error answer in HubSpot's shape: ``status, message, correlationId, category, errors``."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def answer(self) -> Answer:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return json_answer(body, self.status, self.headers)


def invalid(message: str, field_name: str | None = None, code: str = "INVALID") -> ApiError:
    detail: dict[str, Any] = {"message": message, "code": code}
    if field_name:
        detail["in"] = field_name
    return ApiError(400, "VALIDATION_ERROR", message, errors=[detail])


def not_found(message: str) -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", message)


def unauthenticated() -> ApiError:
    return ApiError(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 "
        "authentication and you can find more details at "
        "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )


def missing_scope(scope: str) -> ApiError:
    return ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        "Read more about required scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
        extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}},
    )


def server_error(status: int = 500) -> ApiError:
    """A 500 or a 503: the answer to a request that failed or met an error fault."""
    category = "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
    return ApiError(status, category, "The server could not handle the request.")


def too_large(limit: int) -> ApiError:
    """413 for a body over the server's limit.

    HubSpot documents no body limit for these endpoints and no category for the
    answer; ``VALIDATION_ERROR`` is the category of its other answers about a
    request's body, and like them it says "do not retry this as it is" (clients
    retry only 429s and 5xx).
    """
    message = f"The request body is larger than this API accepts ({limit} bytes)"
    return ApiError(
        413,
        "VALIDATION_ERROR",
        message,
        errors=[{"message": message, "code": "PAYLOAD_TOO_LARGE"}],
    )


def refused(exc: RefusedError) -> ApiError:
    """A store's refusal, answered as HubSpot would."""
    message = exc.detail[:1].upper() + exc.detail[1:]
    if exc.rule == NOT_FOUND:
        return not_found(message)
    if exc.rule == CONFLICT:
        return ApiError(409, "CONFLICT", message)
    return invalid(message, code=exc.rule.upper())
