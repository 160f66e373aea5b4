"""No token in any output, log, plan file, journal or error message, whatever the command.

Every command runs with real-looking HubSpot tokens in the environment, against
``sandbox serve`` (which accepts them), through the hubspot provider; then
again with tokens that are refused, belong to another portal, or are missing,
and with nothing listening at all.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.errors import ProviderError
from reconciler.providers.hubspot.client import Credential, HubSpotClient
from reconciler.providers.hubspot.provider import HubSpotProvider
from reconciler.sandbox.http.server import ServedSandbox
from reconciler.sandbox.store import Store
from tests.served import FleetFiles, rich_fleet, token_env, token_for, write_fleet

#: A token no server knows, shaped like a real one.
UNKNOWN = "pat-eu1-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


class Transcript:
    """Everything the commands said, on any stream, plus the log."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def run(self, *args: str, expect: tuple[int, ...] = (0,)) -> Result:
        result = CliRunner().invoke(main, list(args), catch_exceptions=True)
        self.parts += [result.output, result.stderr, repr(result.exception or "")]
        assert result.exit_code in expect, (args, result.exit_code, result.output)
        return result


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FleetFiles:
    """As the shared fixture, and run from the test's own folder (plans are written there)."""
    monkeypatch.chdir(tmp_path)
    return write_fleet(rich_fleet(), tmp_path / "fleet", monkeypatch)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "reconciler"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return caplog


def secrets(files: FleetFiles) -> list[str]:
    return [*files.environment().values(), UNKNOWN]


def written_files(root: Path) -> str:
    """Every file the commands may have written: plans, imports, configs (not the test's own)."""
    texts = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "snapshot.yaml" and ".db" not in path.name:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


def assert_nowhere(tokens: list[str], *texts: str) -> None:
    haystack = "\n".join(texts)
    for token in tokens:
        assert token not in haystack
        assert token.split("-", 2)[2] not in haystack  # not even the tail of one


def test_no_command_shows_a_token(
    files: FleetFiles,
    served: tuple[ServedSandbox, Store],
    logged: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, store = served
    files.hubspot_config(server.url, max_retries=2)
    hubspot, plan_file = str(files.hubspot), str(tmp_path / "out" / "plan.json")
    said = Transcript()
    said.run("validate", hubspot)
    said.run("validate", hubspot, "--format", "json")
    for fmt in ("text", "json", "markdown"):
        said.run("plan", hubspot, "--format", fmt)
    said.run("plan", hubspot, "--out", plan_file, "--detailed-exitcode", expect=(2,))
    for fmt in ("text", "json", "markdown"):
        said.run("show", plan_file, "--format", fmt)
    said.run("apply", "--plan", plan_file, "--auto-approve")
    said.run("apply", hubspot, "--auto-approve")
    said.run("plan", hubspot, "--detailed-exitcode", expect=(3,))  # only people left
    said.run("import", hubspot)
    said.run("import", hubspot, "--out", str(tmp_path / "imported"))
    said.run("sandbox", "export", str(files.served))
    said.run("validate", str(files.served))
    assert "5001" in "".join(said.parts)  # the commands did run against the accounts

    # Refused, foreign and missing tokens: every account fails, and says why.
    monkeypatch.setenv(token_env(5001), UNKNOWN)
    monkeypatch.setenv(token_env(5002), token_for(5004))
    monkeypatch.delenv(token_env(5003))
    for command in (("plan", hubspot), ("apply", hubspot, "--auto-approve"), ("import", hubspot)):
        said.run(*command, expect=(1,))
    failures = "".join(said.parts[-9:])
    assert f"HubSpot refused the token in {token_env(5001)}" in failures
    assert f"the token in {token_env(5002)} is for HubSpot account 5004" in failures
    assert f"environment variable {token_env(5003)} is not set" in failures

    # Nothing listening: the connection errors name the URL, which holds no token.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    files.hubspot_config(f"http://127.0.0.1:{port}", max_retries=0)
    said.run("plan", hubspot, expect=(1,))
    assert "ConnectError" in said.parts[-3]

    journal = json.dumps(store.journal())
    log = logged.text + "\n".join(str(r.args) for r in logged.records)
    requests = repr(server.api.requests())
    assert (tmp_path / "fleet" / "hubspot" / ".reconciler" / "journal.jsonl").exists()
    assert_nowhere(secrets(files), *said.parts, written_files(tmp_path), journal, log, requests)


def test_objects_that_hold_a_token_never_show_it(
    files: FleetFiles, served: tuple[ServedSandbox, Store]
) -> None:
    server, _ = served
    config = files.hubspot_config(server.url)
    with HubSpotProvider(config) as provider:
        credential = Credential(token_env(5001), token_for(5001))
        shown = [repr(credential), str(credential), repr(provider), repr(provider.client)]
        request = provider.client._http.build_request(
            "GET", "/settings/v3/users/", headers=credential.headers()
        )
        shown += [repr(request), repr(request.headers), str(request.url)]
        shown.append(credential.scrub(f"echoed {token_for(5001)} back"))
    assert_nowhere(secrets(files), *shown)
    assert token_env(5001) in repr(credential)


def test_an_answer_that_echoes_the_token_is_scrubbed_before_it_is_cut() -> None:
    token = token_for(5001)
    credential = Credential(token_env(5001), token)
    # Plain text with the token across the 300th character, and a 403 naming it as a scope.
    bodies = {
        "/text": httpx.Response(400, text="x" * 280 + f" Bearer {token} was refused"),
        "/scopes": httpx.Response(
            403,
            json={
                "category": "MISSING_SCOPES",
                "message": "missing scopes",
                "errors": [{"context": {"requiredScopes": [token]}}],
            },
        ),
    }
    transport = httpx.MockTransport(lambda request: bodies[request.url.path])
    client = HubSpotClient("http://hubspot.test", transport=transport)
    messages = []
    try:
        for path in bodies:
            with pytest.raises(ProviderError) as refused:
                client.request(credential, 5001, "GET", path)
            messages.append(str(refused.value))
    finally:
        client.close()
    assert "[token from" in messages[0]
    assert f"it needs [token from {token_env(5001)}]" in messages[1]
    assert_nowhere([token], *messages)


@pytest.mark.parametrize(
    "value,why",
    [
        (token_for(5001) + "\nX-Injected: 1", "it has spaces or control characters"),
        ("pat-na1-ünïcødé-" + token_for(5001)[8:], "it has characters outside ASCII"),
        ("pat-na1 " + token_for(5001)[8:], "it has spaces or control characters"),
        ("pat-na1-" + "a" * 700, "it is longer than 600 characters"),
    ],
    ids=["header injection", "non-ascii", "space", "too long"],
)
def test_a_token_that_cannot_be_one_is_refused_without_showing_it(
    files: FleetFiles,
    served: tuple[ServedSandbox, Store],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    why: str,
) -> None:
    server, _ = served
    files.hubspot_config(server.url)
    monkeypatch.setenv(token_env(5001), value)
    said = Transcript()
    result = said.run("plan", str(files.hubspot), "--account", "5001", expect=(1,))
    assert (
        f"environment variable {token_env(5001)} does not hold a usable HubSpot token ({why});"
        " nothing was sent"
    ) in result.output
    assert "Traceback" not in "".join(said.parts)
    assert [r for r in server.api.requests() if r.account == 5001] == []
    assert_nowhere([value], *said.parts)
    assert value.strip()[8:40] not in "".join(said.parts)


@pytest.mark.parametrize(
    "url,refused",
    [
        ("https://api.hubapi.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
        ("http://api.hubapi.com", True),
        ("http://10.0.0.5:8080", True),
        ("ftp://api.hubapi.com", True),
    ],
)
def test_tokens_go_only_over_https_or_to_this_machine(
    files: FleetFiles, url: str, refused: bool
) -> None:
    files.write_config("hubspot", {"type": "hubspot", "base_url": url})
    result = CliRunner().invoke(main, ["validate", str(files.hubspot)])
    if not refused:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if "/provider/base_url" in x]
    assert (
        line.endswith(
            "/provider/base_url: tokens are sent only over https://, or over http:// to this"
            " machine (127.0.0.1, ::1, localhost)"
        )
        or "must be an http(s) URL" in line
    )


def test_a_token_is_scrubbed_from_reprs_of_text_and_bytes() -> None:
    token = token_for(5001) + "\nX-Injected: 1"
    credential = Credential(token_env(5001), token)
    texts = [
        f"Illegal header value {(b'Bearer ' + token.encode())!r}",
        f"value {token!r} refused",
        f"plain {token}",
    ]
    scrubbed = [credential.scrub(text) for text in texts]
    assert all("[token from" in text for text in scrubbed)
    assert_nowhere([token_for(5001)], *scrubbed)
