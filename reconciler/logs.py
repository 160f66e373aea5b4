"""``--verbose``: one log line per API request on stderr, as text or JSON lines.

Each line says the method, the path, the status and how long the request took,
and for which account: enough to see where a slow or failing run spends its
time. A line never carries a token, a header or a body: what is logged is
passed as those four fields, never a request or an exception's text. Without
``--verbose`` nothing is logged.

    12:04:31 GET /settings/v3/users 200 53 ms account 5001
    {"time": "2026-12-01T12:04:31.512Z", "account": 5001, "method": "GET", ...}
"""

from __future__ import annotations

import json
import logging
import sys
import time

#: The requests logger: the HTTP client logs each request here, at INFO.
REQUESTS = logging.getLogger("reconciler.requests")
FORMATS = ("text", "json")


def log_request(account: int, method: str, path: str, status: int | str, seconds: float) -> None:
    """One request, with no header and no body (``status``: a number, or why none came)."""
    if REQUESTS.isEnabledFor(logging.INFO):
        fields = {
            "account": account,
            "method": method,
            "path": path,
            "status": status,
            "ms": round(seconds * 1000),
        }
        REQUESTS.info("request", extra={"request": fields})


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "request", {})
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        return (
            f"{clock} {fields.get('method')} {fields.get('path')} {fields.get('status')}"
            f" {fields.get('ms')} ms account {fields.get('account')}"
        )


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        line = {"time": f"{stamp}.{millis:03d}Z", **getattr(record, "request", {})}
        return json.dumps(line, sort_keys=True)


def configure(verbose: bool, log_format: str = "text") -> None:
    """Log each request to stderr when ``verbose``, as text or JSON lines; else nothing."""
    for handler in list(REQUESTS.handlers):
        REQUESTS.removeHandler(handler)
    REQUESTS.propagate = False
    if not verbose:
        REQUESTS.setLevel(logging.WARNING)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if log_format == "json" else _TextFormatter())
    REQUESTS.addHandler(handler)
    REQUESTS.setLevel(logging.INFO)
