"""Positions looked up many at once, and the desired state built with them, are what one at a time gives.

Building the desired state looks up every user's place in one pass over a file's
packed positions, and makes users and locations without the frozen dataclasses'
field-by-field start: the same values (equal, same hash, same repr) either way.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

from reconciler.config import load_config
from reconciler.config.loader import read_document
from reconciler.config.positions import PackedPositions, lookup, pack_positions
from reconciler.model import Access, DesiredUser, Location, Permissions, Teams

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


def test_made_users_and_locations_equal_those_the_constructors_make() -> None:
    place = Location("accounts/acme.yaml", 12, 9, "/accounts/0/users/3")
    made_place = Location.of("accounts/acme.yaml", 12, 9, "/accounts/0/users/3")
    values = (
        "Dana@Acme.example",
        "present",
        Access.parse({"role": "Marketing Manager"}),
        "core",
        None,
        "Dana",
        "Whitfield",
        Teams.from_data({"primary": "Marketing", "secondary": ["Sales"]}),
        Permissions.from_data({"add": ["reports.view"]}),
        place,
    )
    names = [field.name for field in dataclasses.fields(DesiredUser)]
    assert len(names) == len(values)  # a new field must be given to DesiredUser.of too
    given: dict[str, Any] = dict(zip(names, values, strict=True))
    user = DesiredUser(**given)
    made = DesiredUser.of(*values[:-1], made_place)
    for built, fast in ((place, made_place), (user, made)):
        assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
        assert vars(fast) == vars(built)
        assert pickle.loads(pickle.dumps(fast)) == built
        assert dataclasses.replace(fast) == built
    assert made.key == "dana@acme.example" and str(made_place) == "accounts/acme.yaml:12:9"
    assert [field.name for field in dataclasses.fields(Location)] == list(vars(made_place))
