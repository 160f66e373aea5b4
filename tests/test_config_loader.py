"""The YAML loader: data, the place of every value, and every way a file can be bad."""

from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

from reconciler.collector import gc_paused
from reconciler.config import check_config
from reconciler.config.files import (
    MAX_FILE_BYTES,
    MAX_SNAPSHOT_BYTES,
    find_yaml_files,
    read_bytes,
)
from reconciler.config.loader import MAX_DEPTH, load_yaml_documents, parse_yaml
from reconciler.errors import ConfigError, Diagnostic

FIXTURES = Path(__file__).parent / "fixtures" / "invalid"

#: Committed fixtures that fail while loading YAML -> the exact lines reported. A line
#: ending in "…" is a syntax error: its place is ours to assert, but the words after
#: "not valid YAML:" are the YAML library's and change between its versions.
LOADER_FIXTURES: dict[str, list[str]] = {
    "duplicate-key.yaml": [
        "duplicate-key.yaml:9:9: /accounts/0/users/0/seat: duplicate key 'seat'; "
        "first declared at line 8",
    ],
    "merge-not-mapping.yaml": [
        "merge-not-mapping.yaml:7:9: /accounts/0/users/0: "
        "'<<' merges only mappings (or a list of them)",
    ],
    "recursive-alias.yaml": [
        "recursive-alias.yaml:7:8: /extra/0: recursive alias: a collection contains itself",
    ],
    "alias-bomb.yaml": [
        "alias-bomb.yaml:4:6: /x-bomb/e/1/1/1: aliases expand to more than 100000 values; "
        "refusing a possible alias bomb",
    ],
    "top-level-list.yaml": [
        "top-level-list.yaml:1:1: /: expected a mapping of keys at the top of the file, "
        "found a list",
    ],
    "top-level-scalar.yaml": [
        "top-level-scalar.yaml:1:1: /: expected a mapping of keys at the top of the file, "
        "found a single value",
    ],
    "empty.yaml": ["empty.yaml:1:1: /: empty file: expected a mapping of keys"],
    "comments-only.yaml": ["comments-only.yaml:1:1: /: empty file: expected a mapping of keys"],
    "not-yaml.yaml": [
        "not-yaml.yaml:2:13: /: not valid YAML: …",
    ],
    "multiple-documents.yaml": [
        "multiple-documents.yaml:2:1: /: not valid YAML: …",
    ],
    "unsupported-tag.yaml": [
        "unsupported-tag.yaml:6:43: /accounts/0/users/0/access: unsupported YAML tag '!!binary'",
    ],
    "undefined-alias.yaml": ["undefined-alias.yaml:6:43: /: not valid YAML: …"],
    "no-yaml-files": ["no-yaml-files:1:1: /: no YAML files (*.yaml, *.yml) in this directory"],
    "broken-file-among-good": [
        "broken-file-among-good/b.yaml:4:1: /: not valid YAML: …",
    ],
}

#: Bytes that are awkward to commit, written to a temporary file -> expected lines.
BYTES_FIXTURES: dict[str, tuple[bytes, list[str]]] = {
    "tab": (
        b"partner:\n\tname: Northwind\n",
        ["bad.yaml:2:1: /: not valid YAML: found a tab character where YAML expects spaces"],
    ),
    "tab-after-key": (
        b"partner:\n  name:\tNorthwind\n  actor: a@b.example\n\tx: 1\n",
        ["bad.yaml:4:1: /: not valid YAML: found a tab character where YAML expects spaces"],
    ),
    "not-utf8": (
        b"partner:\n  name: Caf\xe9 Digital\n",
        ["bad.yaml:2:12: /: not valid UTF-8: byte 0xe9 at offset 20"],
    ),
    "not-utf8-after-multibyte": (
        "partner:\n  name: Zürich ".encode() + b"\xff\n",
        ["bad.yaml:2:16: /: not valid UTF-8: byte 0xff at offset 25"],
    ),
    "control-character": (
        "partner:\n  name: Zürich\x07\n".encode(),
        ["bad.yaml:2:15: /: not valid YAML: …"],
    ),
    "utf16": (
        "partner: {}\n".encode("utf-16"),
        ["bad.yaml:1:1: /: not valid UTF-8: byte 0xff at offset 0"],
    ),
    "deep-flow-nesting": (
        b"x: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
        # The top-level mapping is the first level, so the 64th bracket is one too many.
        [f"bad.yaml:1:{3 + MAX_DEPTH}: /: nested deeper than {MAX_DEPTH} levels"],
    ),
    "deep-block-nesting": (
        b"x:\n" + b"".join(b" " * i + b"- \n" for i in range(1, MAX_DEPTH + 5)),
        [
            f"bad.yaml:{MAX_DEPTH + 1}:{MAX_DEPTH + 1}: /x/0{'/0' * (MAX_DEPTH - 2)}: "
            f"nested deeper than {MAX_DEPTH} levels"
        ],
    ),
}


def lines(path: str) -> list[str]:
    return [str(d) for d in check_config(path).diagnostics]


def matches(actual: list[str], expected: list[str]) -> bool:
    """Equal, where an expected line ending in "…" only fixes the line's start."""
    return len(actual) == len(expected) and all(
        a.startswith(e[:-1]) and len(a) > len(e) if e.endswith("…") else a == e
        for a, e in zip(actual, expected, strict=True)
    )


@pytest.mark.parametrize("fixture", sorted(LOADER_FIXTURES))
def test_loader_fixture_reports_exact_places(fixture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    assert matches(lines(fixture), LOADER_FIXTURES[fixture])


@pytest.mark.parametrize("name", sorted(BYTES_FIXTURES))
def test_bytes_fixture_reports_exact_places(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, expected = BYTES_FIXTURES[name]
    (tmp_path / "bad.yaml").write_bytes(raw)
    monkeypatch.chdir(tmp_path)
    assert matches(lines("bad.yaml"), expected)


def test_symlink_loop_is_reported_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config" / "clients"
    config.mkdir(parents=True)
    (config / "acme.yaml").write_text("accounts: []\n")
    (config / "again").symlink_to("..", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    files, diagnostics = find_yaml_files("config")
    assert files == ["config/clients/acme.yaml"]
    assert [str(d) for d in diagnostics] == [
        "config/clients/again:1:1: /: symlink loop: 'config/clients/again' leads back to 'config'"
    ]


def test_symlinked_directory_inside_the_root_is_followed(tmp_path: Path) -> None:
    (tmp_path / "config" / ".shared").mkdir(parents=True)
    (tmp_path / "config" / ".shared" / "partner.yaml").write_text("partner: {}\n")
    (tmp_path / "config" / "shared").symlink_to(".shared", target_is_directory=True)
    files, diagnostics = find_yaml_files(tmp_path / "config")
    assert files == [str(tmp_path / "config" / "shared" / "partner.yaml")]
    assert diagnostics == []


def test_broken_symlink_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    monkeypatch.chdir(tmp_path)
    files, diagnostics = find_yaml_files(".")
    assert files == ["ok.yaml"]
    assert [str(d) for d in diagnostics] == [
        "gone.yaml:1:1: /: broken symlink: its target does not exist"
    ]


def test_missing_path_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert lines("nope") == ["nope:1:1: /: no such file or directory"]


def test_directory_order_is_sorted_recursive_and_skips_hidden_and_other_files(
    tmp_path: Path,
) -> None:
    for name in (
        "b.yml",
        "a/z.yaml",
        "a/y.yaml",
        "c.yaml",
        ".hidden/x.yaml",
        "notes.txt",
        "d.json",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("k: 1\n")
    files, diagnostics = find_yaml_files(tmp_path)
    shown = [os.path.relpath(f, tmp_path) for f in files]
    assert shown == ["a/y.yaml", "a/z.yaml", "b.yml", "c.yaml"]
    assert diagnostics == []


def test_every_value_has_its_place() -> None:
    text = (
        "accounts:\n"
        "  - id: 4410021\n"
        "    users:\n"
        "      - {email: ana@northwind.agency, seat: partner}\n"
        "      - email: ceo@acme.example\n"
        "        teams:\n"
        "          secondary: [Sales, 'Marketing']\n"
        "a/b: {c~d: 1}\n"
    )
    document, problems = parse_yaml(text.encode(), "f.yaml")
    assert problems == [] and document is not None
    assert document.locate("") == (1, 1)
    assert document.locate("/accounts") == (2, 3)
    assert document.locate("/accounts/0/id") == (2, 9)
    assert document.locate("/accounts/0/users/0") == (4, 9)
    assert document.locate("/accounts/0/users/0/seat") == (4, 45)
    assert document.locate_key("/accounts/0/users/0/seat") == (4, 39)
    assert document.locate("/accounts/0/users/1/teams/secondary/1") == (7, 30)
    assert document.locate("/a~1b/c~0d") == (8, 12)
    # A pointer with no value of its own gets the place of its nearest ancestor.
    assert document.locate("/accounts/0/users/1/teams/primary") == (7, 11)
    assert document.locate("/nothing/here") == (1, 1)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("42", 42),
        ("-17", -17),
        ("0x1F", 31),
        ("017", 15),
        ("0o17", "0o17"),  # YAML 1.2 octal: a string in YAML 1.1
        ("0b101", 5),
        ("1_000", 1000),
        ("1:30", 90),
        ("1:30.5", 90.5),
        ("190:20:30.15", 685230.15),
        ("1.5", 1.5),
        ("-.inf", -math.inf),
        ("1e3", "1e3"),  # YAML 1.1 floats need a dot
        ("yes", True),
        ("Off", False),
        ("TRUE", True),
        ("~", None),
        ("null", None),
        ("", None),
        ("'017'", "017"),
        ('"yes"', "yes"),
        ("2024-01-31", "2024-01-31"),
        ("!!str 5", "5"),
        ("plain text", "plain text"),
    ],
)
def test_scalars_resolve_as_yaml_1_1(written: str, expected: Any) -> None:
    document, problems = parse_yaml(f"value: {written}\n".encode(), "f.yaml")
    assert problems == [] and document is not None
    value = document.data["value"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("written", "shown"), [('!!int ""', "''"), ("!!float", "''"), ("!!int _", "'_'")]
)
def test_an_empty_explicit_number_is_invalid(written: str, shown: str) -> None:
    document, problems = parse_yaml(f"value: {written}\n".encode(), "f.yaml")
    assert document is None
    assert [str(p) for p in problems] == [f"f.yaml:1:8: /value: invalid number {shown}"]


def test_nan_resolves() -> None:
    document, _ = parse_yaml(b"value: .NaN\n", "f.yaml")
    assert document is not None and math.isnan(document.data["value"])


def test_merge_keys_written_keys_win_then_earlier_sources() -> None:
    text = (
        "base: &base {access: basic, seat: core, first_name: Base}\n"
        "extra: &extra {seat: sales, last_name: Extra}\n"
        "user:\n"
        "  <<: [*base, *extra]\n"
        "  first_name: Own\n"
    )
    document, problems = parse_yaml(text.encode(), "f.yaml")
    assert problems == [] and document is not None
    assert document.data["user"] == {
        "access": "basic",
        "seat": "core",
        "first_name": "Own",
        "last_name": "Extra",
    }
    assert document.locate("/user/first_name") == (5, 15)
    assert document.locate("/user/seat") == (1, 35)  # where the merged value is written
    assert document.locate("/user/last_name") == (2, 40)


def test_aliases_within_budget_expand_to_independent_copies() -> None:
    text = "a: &t {primary: Sales, secondary: [X]}\nb: *t\nc: *t\n"
    document, problems = parse_yaml(text.encode(), "f.yaml")
    assert problems == [] and document is not None
    assert document.data["b"] == document.data["c"] == {"primary": "Sales", "secondary": ["X"]}
    assert document.data["b"] is not document.data["c"]
    assert document.locate("/c/secondary/0") == (1, 36)


def test_byte_order_mark_is_accepted() -> None:
    document, problems = parse_yaml(b"\xef\xbb\xbfa: 1\n", "f.yaml")
    assert problems == [] and document is not None and document.data == {"a": 1}


def test_complex_keys_are_refused() -> None:
    document, problems = parse_yaml(b"? [a, b]\n: 1\n", "f.yaml")
    assert document is None
    assert [str(p) for p in problems] == [
        "f.yaml:1:3: /: mapping keys must be plain values, not lists or mappings"
    ]


def test_load_yaml_documents_raises_with_every_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.yaml").write_text("a: 1\na: 2\n")
    (tmp_path / "b.yaml").write_text("- not a mapping\n")
    (tmp_path / "c.yaml").write_text("fine: true\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_yaml_documents(".")
    assert [str(d) for d in caught.value.diagnostics] == [
        "a.yaml:2:1: /a: duplicate key 'a'; first declared at line 1",
        "b.yaml:1:1: /: expected a mapping of keys at the top of the file, found a list",
    ]


def test_load_yaml_documents_returns_documents_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("n: 2\n")
    (tmp_path / "a.yml").write_text("n: 1\n")
    documents = load_yaml_documents(tmp_path)
    assert [d.data for d in documents] == [{"n": 1}, {"n": 2}]
    assert [Path(d.file).name for d in documents] == ["a.yml", "b.yaml"]


def test_garbage_collector_is_restored(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: 1\n")
    assert gc.isenabled()
    load_yaml_documents(tmp_path)
    assert gc.isenabled()
    gc.disable()
    try:
        load_yaml_documents(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_is_built_while_paused_is_not_young_after(tmp_path: Path) -> None:
    """The collector, on again, does not walk what was built as young objects (it would,
    in its next pass), and a cycle made meanwhile is still collected in a full pass."""
    assert gc.isenabled()
    with gc_paused():
        built = [[n] for n in range(50_000)]
        cycle: list[object] = []
        cycle.append(cycle)
        gone = weakref.ref(Cyclic(cycle))
    assert gc.isenabled()
    assert any(found is built for found in gc.get_objects(generation=2))
    del cycle
    gc.collect()
    assert gone() is None


class Cyclic:
    def __init__(self, cycle: list[object]) -> None:
        self.me = self
        self.cycle = cycle


# --- hostile files: only regular files inside the config root are read -----------------

PARTNER = "partner: {name: N, employee_domains: [northwind.agency], actor: a@northwind.agency}\n"
#: What an attacker would like to see echoed: it must never appear in any output.
SECRET = "root:$6$SECRETHASHxyz:19000:0:99999:7:::"


def hostile_config(tmp_path: Path) -> Path:
    """``config/`` with one valid account, next to a secret file outside it."""
    (tmp_path / "secret.yaml").write_text(f"{SECRET}\nsecret_key: {SECRET}\n")
    config = tmp_path / "config"
    (config / "accounts").mkdir(parents=True)
    (config / "partner.yaml").write_text(PARTNER)
    (config / "accounts" / "acme.yaml").write_text("accounts: [{id: 1}]\n")
    return config


def test_a_symlink_out_of_the_root_is_refused_and_its_target_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hostile_config(tmp_path)
    (config / "accounts" / "x.yaml").symlink_to(tmp_path / "secret.yaml")
    (config / "accounts" / "up").symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    expected = [
        "config/accounts/up:1:1: /: symlink points outside the configuration directory",
        "config/accounts/x.yaml:1:1: /: symlink points outside the configuration directory",
    ]
    assert lines("config") == expected
    from click.testing import CliRunner

    from reconciler.cli import main

    for args in (["validate", "config"], ["validate", "--format", "json", "config"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        output = result.stdout + result.stderr
        assert "SECRETHASH" not in output and "secret_key" not in output
    assert CliRunner().invoke(main, ["validate", "config"]).stderr.splitlines() == [
        *expected,
        "2 problems found",
    ]


def test_a_file_named_on_the_command_line_is_read_wherever_it_is(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "c.yaml").write_text(PARTNER + "accounts: [{id: 1}]\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "c.yaml").symlink_to(tmp_path / "elsewhere" / "c.yaml")
    for path in (tmp_path / "elsewhere" / "c.yaml", tmp_path / "config" / "c.yaml"):
        assert check_config(path).valid


def test_a_symlink_to_the_filesystem_root_is_refused_not_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hostile_config(tmp_path)
    (config / "accounts" / "root").symlink_to("/", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    files, diagnostics = find_yaml_files("config")
    assert files == ["config/accounts/acme.yaml", "config/partner.yaml"]
    assert [str(d) for d in diagnostics] == [
        "config/accounts/root:1:1: /: symlink points outside the configuration directory"
    ]


def test_symlinks_that_loop_on_themselves_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hostile_config(tmp_path)
    (config / "a.yaml").symlink_to("b.yaml")
    (config / "b.yaml").symlink_to("a.yaml")
    (config / "accounts" / "self").symlink_to("self")
    monkeypatch.chdir(tmp_path)
    message = "symlink loop: this symlink never reaches a file or directory"
    assert lines("config") == [
        f"config/a.yaml:1:1: /: {message}",
        f"config/accounts/self:1:1: /: {message}",
        f"config/b.yaml:1:1: /: {message}",
    ]


def test_a_diamond_of_symlinks_reads_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty levels, each reached by two symlinks: 2^20 paths to the last, one read."""
    import reconciler.config.fastparse as config_package  # where each config file is read

    config = tmp_path / "config"
    levels = config / ".levels"
    for level in range(21):
        (levels / f"d{level}").mkdir(parents=True)
        (levels / f"d{level}" / "account.yaml").write_text(f"accounts: [{{id: {level + 1}}}]\n")
        if level:
            for name in ("a", "b"):
                (levels / f"d{level - 1}" / name).symlink_to(f"../d{level}")
    (config / "partner.yaml").write_text(PARTNER)
    (config / "start").symlink_to(".levels/d0")
    (config / "again").symlink_to(".levels/d0")
    reads: list[str] = []
    real_read = config_package.read_bytes

    def counted(file: str, *limit: int) -> bytes | object:
        reads.append(os.path.realpath(file))
        return real_read(file, *limit)

    monkeypatch.setattr(config_package, "read_bytes", counted)
    # The fast parse reads a file again for a place its scan did not find (the actor's).
    monkeypatch.setenv(config_package.SWITCH, "0")
    monkeypatch.chdir(tmp_path)
    result = check_config("config")
    assert result.diagnostics == []
    assert result.config is not None and len(result.config.accounts) == 21
    assert len(reads) == len(set(reads)) == len(result.files) == 22
    # Each under the first path that reaches it ("again" sorts before "start").
    assert "config/again/" + "a/" * 20 + "account.yaml" in result.files
    assert not any(file.startswith("config/start") or "/b/" in file for file in result.files)


def test_a_symlink_to_a_file_inside_the_root_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hostile_config(tmp_path)
    (config / "accounts" / "same.yaml").symlink_to("acme.yaml")
    (config / "alias.yaml").symlink_to("accounts/acme.yaml")
    monkeypatch.chdir(tmp_path)
    result = check_config("config")
    assert result.diagnostics == []  # not "account 1 is declared twice"
    assert result.files == ("config/accounts/acme.yaml", "config/partner.yaml")


def test_a_named_pipe_is_refused_without_opening_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hostile_config(tmp_path)
    os.mkfifo(config / "accounts" / "pipe.yaml")
    (config / "accounts" / "to-pipe.yaml").symlink_to("pipe.yaml")
    monkeypatch.chdir(tmp_path)
    message = "not a regular file (a named pipe); not opened"
    assert lines("config") == [
        f"config/accounts/pipe.yaml:1:1: /: {message}",
        f"config/accounts/to-pipe.yaml:1:1: /: {message}",
    ]
    assert lines("config/accounts/pipe.yaml") == [f"config/accounts/pipe.yaml:1:1: /: {message}"]
    assert lines("/dev/null") == [
        "/dev/null:1:1: /: not a regular file (a character device); not opened"
    ]


def test_an_oversized_file_is_refused_by_its_size_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hostile_config(tmp_path)
    with open(config / "accounts" / "huge.yaml", "wb") as huge:
        huge.truncate(200 * 1024 * 1024)  # sparse: no disk, and it must not be read
    with open(config / "accounts" / "just-over.yaml", "wb") as over:
        over.truncate(MAX_FILE_BYTES + 1)
    monkeypatch.chdir(tmp_path)
    limit = "more than the 16 MiB allowed for one file; not read"
    assert lines("config") == [
        f"config/accounts/huge.yaml:1:1: /: file too large: 209715200 bytes, {limit}",
        f"config/accounts/just-over.yaml:1:1: /: file too large: {MAX_FILE_BYTES + 1} bytes, {limit}",
    ]


def test_read_bytes_reads_up_to_the_limit_and_no_further(tmp_path: Path) -> None:
    (tmp_path / "ten.yaml").write_bytes(b"a: 1234567")
    assert read_bytes(str(tmp_path / "ten.yaml"), max_bytes=10) == b"a: 1234567"
    refused = read_bytes(str(tmp_path / "ten.yaml"), max_bytes=9)
    assert isinstance(refused, Diagnostic) and refused.message == (
        "file too large: 10 bytes, more than the 9 bytes allowed for one file; not read"
    )


@pytest.mark.parametrize(
    "name", ["snapshot.yaml", "snapshot.yml", "state/prod.snapshot.yaml", "x.snapshot.yml"]
)
def test_snapshots_are_never_read_as_config_by_their_name(tmp_path: Path, name: str) -> None:
    """Not by sniffing their bytes: a big snapshot anywhere in the tree is not even opened."""
    config = hostile_config(tmp_path)
    snapshot = config / name
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    with open(snapshot, "wb") as grow:
        grow.truncate(MAX_FILE_BYTES + 1)  # a config file this big would be refused
    result = check_config(config)
    assert result.diagnostics == [] and len(result.files) == 2


@pytest.mark.parametrize("name", ["state.yaml", "snapshots.yaml", "my-snapshot.yaml"])
def test_a_snapshot_the_provider_names_must_be_named_as_one(tmp_path: Path, name: str) -> None:
    config = hostile_config(tmp_path)
    (config / "provider.yaml").write_text(f"provider: {{type: sandbox, snapshot: {name}}}\n")
    result = check_config(config)
    assert [(Path(d.file).name, d.pointer) for d in result.diagnostics] == [
        ("provider.yaml", "/provider/snapshot")
    ]
    assert "snapshot.yaml or *.snapshot.yaml" in result.diagnostics[0].message


def test_the_bench_corpus_is_far_inside_the_limits(tmp_path: Path) -> None:
    """Accounts of 50 users (the bench's shape) stay 1,000 times under the file limit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        from generate import generate
    finally:
        sys.path.pop(0)
    files = generate(tmp_path / "bench", accounts=20, users=50)
    assert max(path.stat().st_size for path in files) < MAX_FILE_BYTES / 1000
    # The snapshot grows with the whole partner: ~14 MB at 1,000 accounts x 50 users.
    snapshot = (tmp_path / "bench" / "snapshot.yaml").stat().st_size
    assert snapshot * 1000 / 20 < MAX_SNAPSHOT_BYTES / 4
    result = check_config(tmp_path / "bench", warn=True)
    assert result.diagnostics == [] and result.warnings == []


def test_hostile_tree_end_to_end_in_a_real_process(tmp_path: Path) -> None:
    """A pipe, a way out and a huge file at once: exit 1, each placed, nothing leaked, no hang."""
    config = hostile_config(tmp_path)
    os.mkfifo(config / "accounts" / "pipe.yaml")
    (config / "accounts" / "leak.yaml").symlink_to(tmp_path / "secret.yaml")
    with open(config / "accounts" / "huge.yaml", "wb") as huge:
        huge.truncate(200 * 1024 * 1024)
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        "config/accounts/huge.yaml:1:1: /: file too large: 209715200 bytes, more than the "
        "16 MiB allowed for one file; not read",
        "config/accounts/leak.yaml:1:1: /: symlink points outside the configuration directory",
        "config/accounts/pipe.yaml:1:1: /: not a regular file (a named pipe); not opened",
        "3 problems found",
    ]
    assert "SECRETHASH" not in done.stderr
