"""Positions looked up many at once, and the desired state built with them, are what one at a time gives.

Building the desired state looks up every user's place in one pass over a file's
packed positions, and makes users and locations without the frozen dataclasses'
field-by-field start: the same values (equal, same hash, same repr) either way.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.config import load_config
from reconciler.config.loader import read_document
from reconciler.config.positions import PackedPositions, lookup, pack_positions

ROOT = Path(__file__).resolve().parent.parent


def test_lookups_in_one_pass_are_single_lookups() -> None:
    many = {f"/a/{n}": (n + 1, n % 7 + 1, n + 1, 1) for n in range(300)}
    many["/b~1c"] = (400, 2, 400, 1)
    packed = pack_positions(many)
    assert isinstance(packed, PackedPositions)
    missing = ["/a/300", "/a", "", "/a/1\0/a/2", "/b/c"]
    for order in (list(many), list(reversed(many)), sorted(many), [*many][::7] * 3):
        pointers = [*order[:40], *missing, *order[40:]]
        expected = [many.get(pointer) for pointer in pointers]
        assert packed.lookup(pointers) == expected
        assert lookup(packed, pointers) == lookup(many, pointers) == expected
        assert [packed.get(pointer) for pointer in pointers] == expected


def test_a_config_built_from_packed_positions_places_each_user_where_it_is_written() -> None:
    config = load_config(ROOT / "examples" / "northwind")
    for account in config.accounts:
        assert account.source is not None
        document, _ = read_document(account.source.file)
        assert document is not None
        for user in account.users.values():
            source = user.source
            assert source is not None
            if source.file == account.source.file:
                assert (source.line, source.col) == document.locate(source.pointer)
                assert source.pointer.startswith(account.source.pointer + "/users/")
