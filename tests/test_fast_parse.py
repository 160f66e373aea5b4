"""The fast parse (``reconciler/config/fastparse.py``) changes nothing a user sees.

- ``validate`` and ``plan`` print byte for byte the same with it on and off, on every
  fixture, the example and a generated corpus, broken or not.
- Where it takes a file, it gives the full parse's data and places; on random
  configuration-like text, broken or not, it gives them or declines.
- It declines every text where YAML 1.1 (what the full parse reads) and yaml_rs's
  YAML 1.2 disagree.
"""

from __future__ import annotations

import pickle
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml_rs
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.config import check_config, fastparse
from reconciler.config.cache import SWITCH as CACHE_SWITCH
from reconciler.config.cache import make_entry, open_entry
from reconciler.config.fastparse import SWITCH, LazyPositions, fast_parse, read_document
from reconciler.config.loader import LoadedDocument, parse_yaml
from reconciler.config.pool import SWITCH as POOL_SWITCH
from tests import yamltext

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "invalid").iterdir())
EXAMPLE = ROOT / "examples" / "northwind"


def invoke(args: list[str], fast: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Exit code, and stdout then stderr, with the fast parse on or off and no parse cache."""
    monkeypatch.setenv(SWITCH, fast)
    monkeypatch.setenv(CACHE_SWITCH, "0")
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout + "\n--- stderr ---\n" + result.stderr


def scanned(document: LoadedDocument) -> dict[str, Any]:
    """The places the fast parse's scan found (no full parse asked for)."""
    assert isinstance(document.positions, LazyPositions)
    return dict(document.positions.packed()[2].items())


def same(fast: LoadedDocument, full: LoadedDocument) -> None:
    """The same data (types and key order too), and each place scanned is libyaml's."""
    assert repr(fast.data) == repr(full.data)
    for pointer, place in scanned(fast).items():
        assert full.positions[pointer] == place, pointer


@pytest.mark.parametrize(
    "fixture", [*FIXTURES, EXAMPLE], ids=[f.name for f in [*FIXTURES, EXAMPLE]]
)
def test_validate_says_the_same_with_the_fast_parse_on_and_off(
    fixture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    for fmt in ("text", "json"):
        args = ["validate", str(fixture.relative_to(ROOT)), "--format", fmt]
        assert invoke(args, "1", monkeypatch) == invoke(args, "0", monkeypatch)


@pytest.mark.parametrize("name", ["example", "corpus"])
@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_plans_are_the_same_with_the_fast_parse_on_and_off(
    name: str, fmt: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = EXAMPLE if name == "example" else corpus
    shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns(".reconciler"))
    monkeypatch.chdir(tmp_path)
    for args in (["validate", name], ["plan", name, "--format", fmt]):
        full = invoke(args, "0", monkeypatch)
        assert full[0] == 0, full[1]
        assert invoke(args, "1", monkeypatch) == full


def test_a_corpus_with_mistakes_is_placed_the_same(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mistakes in places the scan does not find, each in a file the fast parse takes."""
    broken = tmp_path / "partner"
    shutil.copytree(corpus, broken, ignore=shutil.ignore_patterns(".reconciler"))
    accounts = sorted((broken / "accounts").iterdir())
    mistakes = {
        3: ("email:", "emial:"),  # an unknown key: the schema's message
        7: ("seat: ", "seat: 7 # "),  # a number for a seat
        11: ("last_name:", "profile: nobody\n        last_name:"),  # an unknown profile
        15: ("seat: ", "seat:\t["),  # not YAML (a tab too): the full parse says why
    }
    for index, (old, new) in mistakes.items():
        text = accounts[index].read_text()
        assert old in text
        accounts[index].write_text(text.replace(old, new, 1))
    taken = [fast_parse(p.read_bytes(), p.read_text(), str(p)) for p in accounts[:16]]
    assert [index for index, document in enumerate(taken) if document is None] == [15]
    monkeypatch.chdir(tmp_path)
    for args in (["validate", "partner"], ["plan", "partner"]):
        full = invoke(args, "0", monkeypatch)
        assert full[0] == 1 and all(accounts[index].name in full[1] for index in mistakes)
        assert invoke(args, "1", monkeypatch) == full


def test_the_corpus_is_read_fast_and_each_file_once(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every account file takes the fast parse, its scan places every user, and checking the
    whole configuration reads no file twice but the partner's (for its actor's place)."""
    files = sorted(corpus.rglob("*.yaml"))
    for path in files:
        if path.parent.name != "accounts":
            continue
        document = fast_parse(path.read_bytes(), path.read_text(), str(path))
        assert document is not None, path
        users = document.data["accounts"][0]["users"]
        wanted = {"/accounts/0", *(f"/accounts/0/users/{index}" for index in range(len(users)))}
        assert set(scanned(document)) == wanted
    reads: list[str] = []
    real = fastparse.read_bytes

    def counted(file: str, *limit: int) -> bytes | object:
        reads.append(Path(file).name)
        return real(file, *limit)

    monkeypatch.setattr(fastparse, "read_bytes", counted)
    monkeypatch.setenv(POOL_SWITCH, "0")  # read here, where they are counted
    monkeypatch.setenv(CACHE_SWITCH, "0")
    result = check_config(corpus)
    assert result.valid, result.diagnostics
    config_files = Counter(path.name for path in files if path.name != "snapshot.yaml")
    assert Counter(reads) - config_files == Counter({"partner.yaml": 1})


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_the_fast_parse_gives_the_full_parse_or_declines(seed: int) -> None:
    text = yamltext.text(random.Random(seed))
    raw = text.encode("utf-8", "surrogatepass")
    fast = fast_parse(raw, text, "config.yaml")
    if fast is not None:
        full, problems = parse_yaml(raw, "config.yaml")
        assert full is not None, problems
        same(fast, full)


def test_random_texts_take_both_paths() -> None:
    """The property above is not empty: its texts take either path, and users are scanned."""
    taken = Counter()
    for seed in range(400):
        text = yamltext.text(random.Random(seed))
        fast = fast_parse(text.encode("utf-8", "surrogatepass"), text, "config.yaml")
        taken["full" if fast is None else "fast"] += 1
        if fast is not None and any("/users/" in pointer for pointer in scanned(fast)):
            taken["users scanned"] += 1
    assert taken["fast"] >= 60 and taken["full"] >= 60 and taken["users scanned"] >= 20


#: Texts where yaml_rs's data is not what the full parse gives (or it refuses what yaml_rs takes).
DISAGREE = {
    "a 1.1 boolean": "a: yes\n",
    "a 1.1 octal": "a: 012\n",
    "a 1.2 octal": "a: 0o17\n",
    "a sexagesimal": "a: 1:30\n",
    "an exponent without a dot": "a: 1e3\n",
    "a key that is a number": "1: a\n",
    "a key that is null": "~: a\n",
    "a merge key": "base: &b {x: 1}\nm:\n  <<: *b\n",
    "a 1.1 line break": "a: b\u0085c\n",
    "two documents": "- a\n---\n- b\n",
}


@pytest.mark.parametrize("text", DISAGREE.values(), ids=DISAGREE.keys())
def test_the_fast_parse_declines_where_the_two_yamls_disagree(text: str) -> None:
    full, _ = parse_yaml(text.encode("utf-8"), "config.yaml")
    theirs = yaml_rs.loads(text, parse_datetime=False)
    assert full is None or repr(theirs) != repr(full.data)  # a real disagreement
    assert fast_parse(text.encode("utf-8"), text, "config.yaml") is None


def test_a_duplicate_key_is_refused_by_the_full_parse() -> None:
    text = "accounts:\n  - id: 1\n    id: 2\n"
    assert fast_parse(text.encode("utf-8"), text, "config.yaml") is None
    assert parse_yaml(text.encode("utf-8"), "config.yaml")[1][0].message.startswith(
        "duplicate key 'id'"
    )


#: Layouts of ``accounts`` and ``users`` lists, and how many places the scan finds in each.
LAYOUTS = {
    "compact lists": ("accounts:\n- id: 1\n  users:\n  - email: a@x\n  - email: b@x\n", 3),
    "users before another list": (
        "accounts:\n  - id: 1\n    users:\n      - email: a@x\n    leavers:\n"
        "      - email: c@x\n      - email: d@x\n",
        2,
    ),
    "users first, on the dash's line": (
        "accounts:\n  - users:\n      - email: a@x\n    id: 1\n",
        2,
    ),
    "spaces, comments and blank lines": (
        "# partner\naccounts:   # all\n  -   id: 1\n\n      users:\n        # first\n"
        "        -  email: a@x\n\n        - email: b@x   # second\n          seat: core\n",
        3,
    ),
    "accounts before other keys": (
        "accounts:\n  - id: 1\n    users:\n      - email: a@x\nversion: 1\n",
        2,
    ),
    "a user in flow style": (  # the second account's users are not scanned
        "accounts:\n  - id: 1\n    users:\n      - email: a@x\n  - id: 2\n"
        "    users:\n      - {email: b@x}\n      - email: c@x\n",
        3,
    ),
}


@pytest.mark.parametrize(("text", "places"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_the_scan_finds_libyamls_places(text: str, places: int) -> None:
    fast = fast_parse(text.encode("utf-8"), text, "config.yaml")
    full, _ = parse_yaml(text.encode("utf-8"), "config.yaml")
    assert fast is not None and full is not None
    same(fast, full)
    assert len(scanned(fast)) == places


def test_users_not_scanned_are_placed_from_a_full_parse(tmp_path: Path) -> None:
    path = tmp_path / "account.yaml"
    path.write_text(
        "accounts:\n  - id: 1\n    users:\n      - {email: a@x}\n      - {email: b@x}\n"
    )
    document, problems = read_document(str(path))
    assert document is not None and not problems
    assert set(scanned(document)) == {"/accounts/0"}  # the users are not
    assert document.locate("/accounts/0/users/1") == (5, 9)
    assert document.locate_key("/accounts/0/users") == (3, 5)


def read_account(tmp_path: Path) -> tuple[Path, LoadedDocument]:
    """An account file of one user, written and read by the fast parse."""
    path = tmp_path / "account.yaml"
    path.write_text("accounts:\n  - id: 1\n    users:\n      - email: a@x\n        seat: core\n")
    document, _ = read_document(str(path))
    assert document is not None and isinstance(document.positions, LazyPositions)
    return path, document


def test_a_file_changed_since_it_was_read_is_placed_by_the_scan_alone(tmp_path: Path) -> None:
    path, document = read_account(tmp_path)
    path.write_text("# changed\n" + path.read_text())
    # Not the line the seat is on now, nor the one it was on: the user's, which was scanned.
    assert document.locate("/accounts/0/users/0/seat") == (4, 9)


def test_lazy_places_travel_and_are_kept_whole(tmp_path: Path) -> None:
    """Through a worker's pipe (pickle) and the parse cache, the same places, found the same way."""
    path, document = read_account(tmp_path)
    full, _ = parse_yaml(path.read_bytes(), str(path))
    assert full is not None
    sent = pickle.loads(pickle.dumps(document.positions))
    name = b"n" * 20
    entry = make_entry(name, document)
    assert entry is not None
    kept = open_entry(str(path), name, entry, path.read_text())
    assert kept is not None and isinstance(kept.positions, LazyPositions)
    for positions in (sent, kept.positions):
        assert positions.packed()[2].items() == document.positions.packed()[2].items()
        assert dict(positions.items()) == dict(full.positions.items())


#: Lines holding one of the words, in each place a word can be.
SHAPES = ["a: {}\n", "- {}\n", "a: [{}]\n", "a: {{b: {}}}\n", "a: b\n  {}\n", "{}: a\n"]


@pytest.mark.parametrize("word", yamltext.WORDS + yamltext.PLAIN + ["...", "a: b\n...", "-- a"])
def test_each_word_in_each_shape_is_read_alike_or_declined(word: str) -> None:
    for shape in SHAPES:
        text = shape.format(word)
        fast = fast_parse(text.encode("utf-8", "surrogatepass"), text, "config.yaml")
        if fast is not None:
            full, problems = parse_yaml(text.encode("utf-8", "surrogatepass"), "config.yaml")
            assert full is not None, (text, problems)
            assert repr(fast.data) == repr(full.data), text


def test_a_text_nested_past_the_stack_is_left_to_the_full_parse(tmp_path: Path) -> None:
    """yaml_rs 0.1.6 ends the process (SIGSEGV) on 20,000 nested lists on one line."""
    script = (
        "from reconciler.config.fastparse import fast_parse\n"
        "text = 'a:\\n' + '- ' * 20_000 + 'x\\n'\n"
        "print(fast_parse(text.encode(), text, 'deep.yaml'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert (done.returncode, done.stdout) == (0, "None\n")
