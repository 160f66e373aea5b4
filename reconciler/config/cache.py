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
the run goes on without it. Packs (one per configuration path) not written for
:data:`MAX_AGE_DAYS` days are removed, at most once a day.
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

import yaml

from reconciler.cachedir import user_cache
from reconciler.config import fastparse
from reconciler.config.fastparse import LazyPositions
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
_PARSERS = ("loader.py", "fastparse.py", "positions.py", "scalars.py", "cache.py")
_SUFFIX = ".pack"
_MAGIC = b"reconciler parse cache 1\n"
#: Bytes in an entry's name (a blake2b digest).
_NAME = 20
_PRUNED = "pruned"
_DAY = 86_400


class ParseCache:
    """Documents by the digest of their bytes; off (every lookup missing) without a folder.

    A configuration's entries are kept together, in one pack file named after the
    configuration's path: creating a thousand small files costs more than parsing
    some of them. A pack is a run of records, each the digest naming an entry, the
    entry's length and the entry (marshalled); only the entries a run uses are
    unmarshalled, and each run writes back exactly the entries it used.
    """

    def __init__(self, folder: Path | None, root: str = "") -> None:
        self.folder = folder
        name = hashlib.blake2b(os.path.abspath(root).encode("utf-8"), digest_size=12)
        self.pack = folder / (name.hexdigest() + _SUFFIX) if folder is not None else None
        #: The files this run took from the cache (nothing to parse), and their entries' names.
        self.hits: dict[str, bytes] = {}
        #: What names entries besides a file's bytes (see :func:`entry_name`); None when off.
        self.seed = _code_digest() if folder is not None else None
        #: The files parsed this run whose entries :meth:`keep` was given, by entry name.
        self._kept: dict[str, bytes] = {}
        self._index: dict[bytes, memoryview] | None = None
        #: The entries this run used, by name, marshalled: what the pack is written with.
        self._used: dict[bytes, bytes | memoryview] = {}

    @classmethod
    def from_environment(cls, root: str) -> ParseCache:
        if os.environ.get(SWITCH) == "0":
            return cls(None)
        folder = os.environ.get(DIRECTORY)
        return cls(Path(folder) if folder else user_cache() / "parse", root)

    def get(self, file: str) -> LoadedDocument | None:
        """The document ``file`` parsed into last time its bytes were these, if kept."""
        if self.pack is None:
            return None
        if self._index is None:
            self._index = _read_pack(self.pack)
        if not self._index:
            return None  # an empty cache: no file need be read twice
        raw = read_bytes(file)
        if isinstance(raw, Diagnostic):
            return None  # the parse says so, in its words
        name = entry_name(self.seed, raw)
        payload = self._index.get(name)
        if payload is None:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        document = open_entry(file, name, payload, text)
        if document is not None:
            self.hits[file] = name
            self._used[name] = payload
        return document

    def keep(self, file: str, name: bytes, payload: bytes) -> None:
        """The entry a worker made for ``file`` as it parsed it (:func:`make_entry`)."""
        if self.pack is not None:
            self._kept[file] = name
            self._used[name] = payload

    def put(self, documents: Iterable[LoadedDocument], secret: set[str]) -> None:
        """Write the pack anew with the entries of this run's documents, but the ``secret`` files'."""
        if self.pack is None:
            return
        for file in secret & self.hits.keys():  # a rule of the secrets scan changed since
            self._used.pop(self.hits[file], None)
        for file in secret & self._kept.keys():
            self._used.pop(self._kept[file], None)
        for document in documents:
            file = document.file
            if file in self.hits or file in self._kept or file in secret or not document.text:
                continue
            name = entry_name(self.seed, document.text.encode("utf-8"))
            payload = make_entry(name, document)
            if payload is not None:  # else pointers the packing could not tell apart: rare
                self._used[name] = payload
        index, self._index = self._index or {}, None
        # Rewritten when this run used other entries than the pack holds, or parsed one
        # anew that the pack holds but could not give back (a damaged record, mended).
        if self._used.keys() != index.keys() or len(self._used) > len(set(self.hits.values())):
            self._write()
        self._used = {}
        self._kept = {}

    def _write(self) -> None:
        """Write the pack whole or not at all; nothing when the folder refuses."""
        assert self.folder is not None and self.pack is not None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(_MAGIC)
                    for name, payload in sorted(self._used.items()):  # the same, hit or not
                        handle.write(name + len(payload).to_bytes(4, "little"))
                        handle.write(payload)
                os.replace(temporary, self.pack)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            return
        self._prune()

    def _prune(self) -> None:
        """Once a day, remove the packs not written for :data:`MAX_AGE_DAYS` days."""
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


def entry_name(seed: bytes | None, raw: bytes) -> bytes:
    """An entry's name: a digest of a file's bytes, keyed by the parsing code's digest."""
    return hashlib.blake2b(raw, digest_size=_NAME, key=seed or b"").digest()


def make_entry(name: bytes, document: LoadedDocument) -> bytes | None:
    """What the cache keeps of ``document``: its data and packed positions, marshalled.

    Positions the fast parse found (:class:`~reconciler.config.fastparse.LazyPositions`)
    are kept as they are, with the digest of the file's bytes (else empty).
    ``None`` when its positions are not packed (pointers the packing could not tell
    apart): such a file is parsed each time.
    """
    positions = document.positions
    digest = b""
    if isinstance(positions, LazyPositions):
        _, digest, positions = positions.packed()
    if not isinstance(positions, PackedPositions):
        return None
    pointers, places = positions.packed()
    return marshal.dumps((name.hex(), document.data, pointers, places.tobytes(), digest))


def _read_pack(pack: Path) -> dict[bytes, memoryview]:
    """Each record's entry by its name, not unmarshalled; as far as the pack is whole."""
    try:
        with open(pack, "rb") as handle:
            content = memoryview(handle.read())
    except OSError:
        return {}
    index: dict[bytes, memoryview] = {}
    if content[: len(_MAGIC)] != _MAGIC:
        return index
    at, size = len(_MAGIC), _NAME + 4
    while at + size <= len(content):
        name = bytes(content[at : at + _NAME])
        end = at + size + int.from_bytes(content[at + _NAME : at + size], "little")
        if end > len(content):
            break
        index[name] = content[at + size : end]
        at = end
    return index


def open_entry(
    file: str, name: bytes, payload: bytes | memoryview, text: str
) -> LoadedDocument | None:
    """The document of an entry (:func:`make_entry`), with ``text`` as its text; ``None``
    when the entry is not what this code wrote under ``name``.

    An entry holds its own name: one renamed or copied over another is not believed.
    """
    try:
        kept = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    if not (isinstance(kept, tuple) and len(kept) == 5 and kept[0] == name.hex()):
        return None
    _, data, pointers, places_bytes, digest = kept
    if not (
        isinstance(data, dict)
        and isinstance(pointers, str)
        and isinstance(places_bytes, bytes)
        and isinstance(digest, bytes)
    ):
        return None
    places = array("I")
    if len(places_bytes) % (4 * places.itemsize):
        return None
    places.frombytes(places_bytes)
    if pointers.count("\0") != len(places) // 4 + 1:
        return None
    packed = PackedPositions(pointers, places)
    if digest:
        return LoadedDocument(file, data, LazyPositions(file, digest, packed), text)
    return LoadedDocument(file, data, packed, text)


def _code_digest() -> bytes:
    """A digest of the parsing code and its versions: the key each file's bytes are hashed with."""
    digest = hashlib.blake2b(digest_size=_NAME)
    here = Path(__file__).parent
    for name in _PARSERS:
        digest.update((here / name).read_bytes())
    libyaml = yaml._yaml.get_version_string() if yaml.__with_libyaml__ else "none"
    versions = (sys.version, yaml.__version__, libyaml, fastparse.VERSION)
    digest.update("\0".join(versions).encode("utf-8"))
    return digest.digest()
