"""What parse workers send back is what the serial parse gives, and they vouch only for clean files.

A worker sends each document as its parse cache entry, with its text only when
the document fails the check it was given (a secret, a schema problem): such a
file is checked again in the parent, in full. The entries the pool keeps are the
serial path's; a file holding a secret is never kept, however it was parsed.
"""

from __future__ import annotations

import marshal
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config import _passes
from reconciler.config.cache import DIRECTORY, entry_name, make_entry
from reconciler.config.pool import (
    MIN_SLICE,
    SWITCH,
    Parsed,
    parse_files,
    slice_files,
    start_method,
)
from tests.test_parse_cache import entries, packs

ROOT = Path(__file__).resolve().parent.parent
SEED = b"parsing code digest!"
ACCOUNT = """\
accounts:
  - id: 4410021
    name: Acme Corp
    users:
      - {email: ceo@acme.example, first_name: Dana, access: super_admin, seat: core}
      - email: sam@northwind.agency
        access: {role: Marketing Manager}
        teams: {primary: Marketing, secondary: [Sales]}
"""
TOKEN = "pat-na1-" + "5f3c2a9e-1b7d-4c8e-9f0a-6d2b3e4f5a6b"
TEXTS = {
    "clean.yaml": ACCOUNT,
    "secret.yaml": ACCOUNT.replace("name: Acme Corp", f"token_env: {TOKEN}"),
    "invalid.yaml": ACCOUNT.replace("first_name", "frist_name"),
    "broken.yaml": ACCOUNT.replace("seat: core}", "seat: [core}"),
}


def parse_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[Parsed], list[Parsed]]:
    files = []
    for name, text in TEXTS.items():
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    monkeypatch.setenv(SWITCH, "1")
    pooled = parse_files(files, SEED, _passes)
    monkeypatch.setenv(SWITCH, "0")
    return files, pooled, parse_files(files, SEED, _passes)


def test_workers_vouch_only_for_files_with_nothing_to_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pooled, serial = parse_both(tmp_path, monkeypatch)
    clean, secret, invalid, broken = pooled
    assert clean.checked and clean.document is not None and clean.document.text == ""
    for failed, name in ((secret, "secret.yaml"), (invalid, "invalid.yaml")):
        assert not failed.checked and failed.document is not None
        assert failed.document.text == TEXTS[name]  # checked again, in full, by the parent
    assert broken.document is None and not broken.checked and broken.entry is None
    assert broken.problems == serial[3].problems and broken.problems
    # The serial parse checks nothing ahead: the later stages check every file.
    assert not any(parsed.checked or parsed.entry for parsed in serial)


def test_what_workers_send_is_the_serial_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, pooled, serial = parse_both(tmp_path, monkeypatch)
    for file, sent, here in zip(files, pooled, serial, strict=True):
        if here.document is None:
            continue
        assert sent.document is not None and sent.entry is not None
        assert sent.document.file == file
        assert sent.document.data == here.document.data
        assert dict(sent.document.positions) == dict(here.document.positions)
        name, payload = sent.entry
        assert name == entry_name(SEED, Path(file).read_bytes())
        kept = make_entry(name, here.document)
        assert kept is not None and marshal.loads(payload) == marshal.loads(kept)


def test_workers_started_by_a_fork_server_parse_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With another thread running, workers come from a fork server (their parent, not us)."""
    release = threading.Event()
    waiting = threading.Thread(target=release.wait)
    waiting.start()
    try:
        assert start_method() == "forkserver"
        _, pooled, serial = parse_both(tmp_path, monkeypatch)
    finally:
        release.set()
        waiting.join()
    assert [parsed.entry is not None for parsed in pooled] == [True, True, True, False]
    assert [parsed.checked for parsed in pooled] == [True, False, False, False]
    for sent, here in zip(pooled, serial, strict=True):
        assert (sent.document and sent.document.data) == (here.document and here.document.data)


def test_slices_take_every_file_once_in_order_and_shrink() -> None:
    for count in (1, 7, 64, 65, 1000, 5001):
        for workers in (2, 3, 8):
            files = [f"f{index}.yaml" for index in range(count)]
            slices = slice_files(files, workers)
            assert [file for part in slices for file in part] == files
            sizes = [len(part) for part in slices]
            assert sizes == sorted(sizes, reverse=True)
            assert all(size >= MIN_SLICE for size in sizes[:-1])


@pytest.mark.parametrize("pool", ["0", "1"])
def test_the_entries_kept_are_the_same_with_and_without_the_pool(
    pool: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both fill the cache with entries equal to those of the other (and the same names)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(corpus, tmp_path / "partner", ignore=shutil.ignore_patterns(".reconciler"))
    kept = {}
    for switch in ("0", "1"):
        monkeypatch.setenv(SWITCH, switch)
        monkeypatch.setenv(DIRECTORY, str(tmp_path / f"cache{switch}"))
        assert CliRunner().invoke(main, ["validate", "partner"]).exit_code == 0
        kept[switch] = {
            name: marshal.loads(entry)
            for name, entry in entries(tmp_path / f"cache{switch}").items()
        }
    assert (
        kept["0"] == kept["1"]
        and len(kept["0"]) == len(list((tmp_path / "partner").rglob("*.yaml"))) - 1
    )
    # Warm: every file from the cache, whichever path filled it.
    monkeypatch.setenv(SWITCH, pool)
    warm = CliRunner().invoke(main, ["validate", "partner"])
    assert warm.exit_code == 0 and warm.stdout.startswith("OK: 70 accounts")


@pytest.mark.parametrize("pool", ["0", "1"])
def test_a_file_holding_a_secret_is_never_kept_however_it_was_parsed(
    pool: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "partner"
    shutil.copytree(corpus, config, ignore=shutil.ignore_patterns(".reconciler"))
    account = sorted((config / "accounts").iterdir())[7]
    account.write_text(account.read_text() + f"\n# leaked\nnotes: {TOKEN}\n")
    monkeypatch.setenv(SWITCH, pool)
    monkeypatch.setenv(DIRECTORY, str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1 and f"{account}:" in result.stderr and TOKEN not in result.output
    assert entries(tmp_path / "cache")  # the other files are kept
    assert TOKEN.encode() not in packs(tmp_path / "cache")[0].read_bytes()
