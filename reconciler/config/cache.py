"""Parsed configuration files kept between runs, found again by their bytes.

Parsing is most of what ``validate`` and ``plan`` cost on a large
configuration, and between two runs most files have not changed. A file that
parsed cleanly is kept here as what the parse gave (its data and packed
positions), under a digest of its bytes and of the code that parsed them (the
loader's own source, PyYAML's and Python's versions). The next run reads the
file's bytes, and when the digest is known, takes the parse from here instead
of parsing again. Same bytes, same code: the same document, so every message
and plan is what a fresh parse gives (``tests/test_parse_cache.py``
compares both). A file that does not parse is never kept (its messages come
from the parser, each time), nor one holding what looks like a secret.

The cache lives in the user's cache folder, ``$XDG_CACHE_HOME/reconciler/parse``,
never in the repository: an entry there could be committed by anyone who can
open a pull request, and would make the plan disagree with the YAML the
reviewers read. ``RECONCILER_CACHE_DIR`` moves it (a CI job can keep it between
runs), ``RECONCILER_CACHE=0`` turns it off. When the folder cannot be written
the run goes on without it. Entries not written for :data:`MAX_AGE_DAYS` days
are removed, at most once a day.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
import time
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from reconciler.cachedir import user_cache
from reconciler.config.files import read_bytes
from reconciler.config.loader import LoadedDocument
from reconciler.config.positions import PackedPositions
from reconciler.errors import Diagnostic

#: ``0``: neither read nor write the cache.
SWITCH = "RECONCILER_CACHE"
#: Where the cache is, instead of the user's cache folder.
DIRECTORY = "RECONCILER_CACHE_DIR"
#: Entries not written for this long are removed.
MAX_AGE_DAYS = 30
#: The modules whose code decides what a parse gives.
_PARSERS = ("loader.py", "positions.py", "scalars.py", "cache.py")
_SUFFIX = ".parsed"
_PRUNED = "pruned"
_DAY = 86_400


class ParseCache:
    """Documents by the digest of their bytes; off (every lookup missing) without a folder."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        #: The files this run took from the cache: nothing to write back for them.
        self.hits: set[str] = set()
        self._seed = _code_digest() if folder is not None else None

    @classmethod
    def from_environment(cls) -> ParseCache:
        if os.environ.get(SWITCH) == "0":
            return cls(None)
        folder = os.environ.get(DIRECTORY)
        return cls(Path(folder) if folder else user_cache() / "parse")

    def get(self, file: str) -> LoadedDocument | None:
        """The document ``file`` parsed into last time its bytes were these, if kept."""
        if self.folder is None:
            return None
        raw = read_bytes(file)
        if isinstance(raw, Diagnostic):
            return None  # the parse says so, in its words
        name = self._entry(raw)
        try:
            with open(self.folder / name, "rb") as handle:
                kept = marshal.loads(handle.read())
        except (OSError, EOFError, ValueError, TypeError):
            return None
        document = _document(file, raw, name, kept)
        if document is not None:
            self.hits.add(file)
        return document

    def put(self, documents: Iterable[LoadedDocument], secret: set[str]) -> None:
        """Keep the documents parsed this run, but those of the ``secret`` files."""
        if self.folder is None:
            return
        written = False
        for document in documents:
            positions = document.positions
            if document.file in self.hits or document.file in secret or not document.text:
                continue
            if not isinstance(positions, PackedPositions):
                continue  # pointers the packing could not tell apart: rare, parsed each time
            pointers, places = positions.packed()
            name = self._entry(document.text.encode("utf-8"))
            if not self._write(name, (name, document.data, pointers, places.tobytes())):
                return
            written = True
        if written:
            self._prune()

    def _entry(self, raw: bytes) -> str:
        """The entry's file name: the digest of the code and ``raw``."""
        assert self._seed is not None
        digest = self._seed.copy()
        digest.update(raw)
        return digest.hexdigest() + _SUFFIX

    def _write(self, name: str, kept: tuple[Any, ...]) -> bool:
        """Write one entry whole or not at all; ``False`` (and off) when the folder refuses."""
        assert self.folder is not None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    marshal.dump(kept, handle)
                os.replace(temporary, self.folder / name)
            except BaseException:
                os.unlink(temporary)
                raise
        except (OSError, ValueError):
            self.folder = None
            return False
        return True

    def _prune(self) -> None:
        """Once a day, remove the entries not written for :data:`MAX_AGE_DAYS` days."""
        assert self.folder is not None
        stamp = self.folder / _PRUNED
        now = time.time()
        try:
            if now - stamp.stat().st_mtime < _DAY:
                return
        except FileNotFoundError:
            pass
        except OSError:
            return
        oldest = now - MAX_AGE_DAYS * _DAY
        try:
            stamp.touch()
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    if entry.name.endswith((_SUFFIX, ".tmp")) and entry.stat().st_mtime < oldest:
                        os.unlink(entry.path)
        except OSError:
            return  # another run prunes, or the folder went: nothing lost either way


def _document(file: str, raw: bytes, name: str, kept: Any) -> LoadedDocument | None:
    """The entry as a document; ``None`` when it is not what this code wrote under ``name``.

    An entry holds its own name: one renamed or copied over another is not believed.
    """
    if not (isinstance(kept, tuple) and len(kept) == 4 and kept[0] == name):
        return None
    _, data, pointers, places_bytes = kept
    if not (
        isinstance(data, dict) and isinstance(pointers, str) and isinstance(places_bytes, bytes)
    ):
        return None
    places = array("I")
    if len(places_bytes) % (4 * places.itemsize):
        return None
    places.frombytes(places_bytes)
    if pointers.count("\0") != len(places) // 4 + 1:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return LoadedDocument(file, data, PackedPositions(pointers, places), text)


def _code_digest() -> hashlib.blake2b:
    """A digest of the parsing code and its versions, to which each file's bytes are added."""
    digest = hashlib.blake2b(digest_size=20)
    here = Path(__file__).parent
    for name in _PARSERS:
        digest.update((here / name).read_bytes())
    libyaml = yaml._yaml.get_version_string() if yaml.__with_libyaml__ else "none"
    versions = (sys.version, yaml.__version__, libyaml)
    digest.update("\0".join(versions).encode("utf-8"))
    return digest
