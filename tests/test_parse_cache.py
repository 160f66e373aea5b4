"""Parsed files kept between runs change nothing a user sees, and are never trusted blindly.

Every fixture, the example and a generated corpus give byte-identical messages
and plans with the cache off, empty (cold) and filled (warm). An entry is used
only for the very bytes it was parsed from, by the same parsing code; anything
else in the folder is ignored; a secret is never written there.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config import check_config
from reconciler.config.cache import DIRECTORY, MAX_AGE_DAYS, SWITCH, ParseCache, _read_pack
from reconciler.config.pool import SWITCH as POOL_SWITCH

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "invalid").iterdir())


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, cache: Path | None) -> tuple[int, str]:
    """Exit code, stdout and stderr of the command, with the cache in ``cache`` (None: off)."""
    if cache is None:
        monkeypatch.setenv(SWITCH, "0")
    else:
        monkeypatch.delenv(SWITCH, raising=False)
        monkeypatch.setenv(DIRECTORY, str(cache))
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout + "\n--- stderr ---\n" + result.stderr


def packs(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.pack")) if cache.exists() else []


def entries(cache: Path) -> dict[bytes, memoryview]:
    """Every entry of the cache's one pack, by name."""
    (pack,) = packs(cache)
    return _read_pack(pack)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_validate_says_the_same_with_the_cache_off_cold_and_warm(
    fixture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    cache = tmp_path / "cache"
    for fmt in ("text", "json"):
        args = ["validate", str(fixture.relative_to(ROOT)), "--format", fmt]
        off = run(args, monkeypatch, None)
        assert off[0] == 1
        assert run(args, monkeypatch, cache) == off  # cold the first time, then warm
        assert run(args, monkeypatch, cache) == off


@pytest.mark.parametrize("pool", ["0", "1"])
@pytest.mark.parametrize("name", ["example", "corpus"])
def test_plans_are_the_same_with_the_cache_off_cold_and_warm(
    name: str, pool: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = ROOT / "examples" / "northwind" if name == "example" else corpus
    shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(POOL_SWITCH, pool)
    cache = tmp_path / "cache"
    for args in (["validate", name], ["plan", name, "--format", "json"], ["plan", name]):
        off = run(args, monkeypatch, None)
        assert off[0] == 0, off[1]
        assert run(args, monkeypatch, cache) == off
        assert entries(cache)
        assert run(args, monkeypatch, cache) == off


def test_a_changed_file_is_parsed_again(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "partner"
    shutil.copytree(corpus, config, ignore=shutil.ignore_patterns(".reconciler"))
    cache = tmp_path / "cache"
    assert run(["validate", str(config)], monkeypatch, cache)[0] == 0
    kept = len(entries(cache))
    account = sorted((config / "accounts").iterdir())[5]
    account.write_text(account.read_text().replace("email:", "emial:", 1))
    broken = run(["validate", str(config)], monkeypatch, cache)
    assert broken == run(["validate", str(config)], monkeypatch, None)
    assert broken[0] == 1 and f"{account}:" in broken[1]
    # It parses, so it is kept (its problem is the schema's); its old entry is let go.
    assert len(entries(cache)) == kept


def test_an_entry_is_used_only_for_the_bytes_it_was_parsed_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries swapped between files, a pack cut short or not ours: parsed again, and mended."""
    config = tmp_path / "northwind"
    shutil.copytree(ROOT / "examples" / "northwind", config)
    cache = tmp_path / "cache"
    first = run(["plan", str(config)], monkeypatch, cache)
    (pack,) = packs(cache)
    whole = pack.read_bytes()
    kept = entries(cache)
    assert first[0] == 0 and len(kept) >= 3
    names = list(kept)
    swapped = whole.replace(names[0], b"\0" * 20).replace(names[1], names[0])
    for damaged in (swapped, whole[: len(whole) // 2], b"\x00not a pack", whole[:-1]):
        pack.write_bytes(damaged)
        assert run(["plan", str(config)], monkeypatch, cache) == first
        assert pack.read_bytes() == whole


def test_a_file_holding_a_secret_is_never_written_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "northwind"
    shutil.copytree(ROOT / "examples" / "northwind", config)
    token = "pat-na1-" + "0f3e9a7c-4b21-4d6e-9f0a-1c2b3d4e5f60"
    partner = config / "partner.yaml"
    partner.write_text(partner.read_text() + f"\n# leaked\nnotes: {token}\n")
    cache = tmp_path / "cache"
    result = run(["validate", str(config)], monkeypatch, cache)
    assert result[0] == 1 and token not in result[1]
    assert entries(cache)  # the other files are kept
    assert token.encode() not in packs(cache)[0].read_bytes()


def test_an_unwritable_cache_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ROOT / "examples" / "northwind"
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    off = run(["validate", str(config)], monkeypatch, None)
    assert run(["validate", str(config)], monkeypatch, blocked / "cache") == off
    assert blocked.read_text() == "not a folder"


def test_packs_not_written_for_a_month_are_removed_once_a_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    old = time.time() - (MAX_AGE_DAYS + 1) * 86_400
    stale = cache / ("0" * 24 + ".pack")
    recent = cache / ("1" * 24 + ".pack")
    for pack, when in ((stale, old), (recent, time.time() - 86_400)):
        pack.write_bytes(b"")
        os.utime(pack, (when, when))
    config = tmp_path / "northwind"
    shutil.copytree(ROOT / "examples" / "northwind", config)
    assert run(["validate", str(config)], monkeypatch, cache)[0] == 0
    assert not stale.exists() and recent.exists()
    # Pruned today: another stale pack waits for tomorrow.
    stale.write_bytes(b"")
    os.utime(stale, (old, old))
    (config / "partner.yaml").write_text((config / "partner.yaml").read_text() + "\n# edited\n")
    assert run(["validate", str(config)], monkeypatch, cache)[0] == 0
    assert stale.exists()


def test_the_digest_covers_the_parsing_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another version of the parser (here: another Python) finds none of the entries."""
    config = str(ROOT / "examples" / "northwind")
    partner = str(ROOT / "examples" / "northwind" / "partner.yaml")
    monkeypatch.setenv(DIRECTORY, str(tmp_path / "cache"))
    assert ParseCache.from_environment(config).get(partner) is None
    assert check_config(config).valid
    assert ParseCache.from_environment(config).get(partner) is not None
    monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    assert ParseCache.from_environment(config).get(partner) is None
