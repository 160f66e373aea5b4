"""Shared fixtures: Hypothesis profiles (CI bounded; ``--hypothesis-profile=long`` runs many), a private cache, the rich fleet served."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from reconciler.sandbox.http.server import ServedSandbox
from reconciler.sandbox.store import Store
from tests.served import FleetFiles, rich_fleet, serving, write_fleet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from generate import generate

settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locks and anything else kept in the user's cache stay inside the test's own folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated partner of 70 accounts (more files than the parse pool's threshold), with drift."""
    root = tmp_path_factory.mktemp("corpus") / "partner"
    generate(root, 70, 4, drift=0.2)
    return root


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FleetFiles:
    """The rich fleet of the hubspot tests, its tokens in the environment."""
    return write_fleet(rich_fleet(), tmp_path / "fleet", monkeypatch)


@pytest.fixture
def served(files: FleetFiles) -> Iterator[tuple[ServedSandbox, Store]]:
    """``sandbox serve`` over the fleet, in a thread."""
    with serving(files) as running:
        yield running
