"""YAML files on disk → plain data plus a JSON-pointer → (line, column) index.

PyYAML's C composer (libyaml) builds the node tree, which carries a mark for
every value; this module turns the tree into JSON-compatible data itself rather
than through PyYAML's constructor. That costs no more than a plain C load
(measured: 3.1 s against 4.2 s at 1,000 x 50) and gives every value its place, so each later error can say
``file:line:col``. Because the builder is ours, it also has to do what the
constructor would: resolve YAML 1.1 scalars by the resolver's tags, refuse
duplicate keys (PyYAML keeps the last one silently), apply merge keys, and
expand aliases — within a budget, so that a "billion laughs" file is refused
instead of eating the machine.

Every problem becomes a :class:`~reconciler.errors.Diagnostic`; nothing here
raises for bad input except :func:`load_yaml_documents`, which raises one
:class:`~reconciler.errors.ConfigError` carrying all of them.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern
from typing import Any, ClassVar

import yaml

from reconciler.collector import gc_paused
from reconciler.config.files import (
    MAX_FILE_BYTES,
    MAX_SNAPSHOT_BYTES,
    find_yaml_files,
    read_bytes,
)
from reconciler.config.hints import syntax_message
from reconciler.config.positions import Position
from reconciler.config.scalars import yaml11_float, yaml11_int
from reconciler.errors import ConfigError, Diagnostic

try:
    _Base: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader

#: First characters of every plain scalar an implicit YAML 1.1 resolver could tag as
#: other than a string (``yes``, ``~``, ``0x1F``, ``.inf``, ``2024-01-31``, ``<<`` ...).
_IMPLICIT_FIRST = frozenset(k for k in _Base.yaml_implicit_resolvers if k)
_RESOLVED_LIMIT = 10_000


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader with the same tags, resolved with less work per scalar.

    The C composer asks Python for the tag of every scalar; PyYAML's resolver
    then tries regular expressions. Most scalars (emails, names, seat names)
    start with a letter no implicit type starts with, so they are strings
    outright, and the few repeated words that could be something else (``none``,
    ``true``, ``first_name``) are remembered.
    """

    _resolved: ClassVar[dict[str, str]] = {}

    # Called for every node too; no path resolvers (asserted below): built-ins doing nothing.
    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> Any:
        # The C composer calls this for every node. Without path resolvers (a safe
        # loader has none) PyYAML's own answer is a default tag for anything but a
        # plain scalar; for a plain scalar it is what the implicit resolvers say.
        if kind is _Scalar:
            if not implicit[0] or (value and value[0] not in _IMPLICIT_FIRST):
                return _STR
            tag = self._resolved.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(self._resolved) < _RESOLVED_LIMIT:
                    self._resolved[value] = tag
            return tag
        return _MAP if kind is yaml.MappingNode else _SEQ


assert not _Loader.yaml_path_resolvers, "resolve() above assumes no path resolvers"


#: Deepest nesting accepted. Real configs and snapshots are under ten levels deep.
MAX_DEPTH = 64
#: Values an alias may add by expansion, per file, before the file is refused.
MAX_ALIAS_EXPANSION = 100_000
#: libyaml is not ours to bound: some versions overflow the C stack a few ten
#: thousand levels deep, newer ones refuse past their own limit in their own words.
#: A text that could nest deeper than this never reaches it: PyYAML's pure-Python
#: parser (iterative, no limit of its own) reads it event by event first, and the
#: text is refused at the first collection past MAX_DEPTH.
_SAFE_COMPOSE_DEPTH = 4 * MAX_DEPTH

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_INT = _TAG + "int"
_FLOAT = _TAG + "float"
_BOOL = _TAG + "bool"
_NULL = _TAG + "null"
_TIMESTAMP = _TAG + "timestamp"
_MAP = _TAG + "map"
_SEQ = _TAG + "seq"
_MERGE = _TAG + "merge"

_TRUE = frozenset({"yes", "true", "on"})
_Scalar = yaml.ScalarNode


@dataclass(frozen=True)
class LoadedDocument:
    """One YAML file as data, with the place of every value in it.

    ``file`` is the path as the user gave it (relative paths stay relative), so
    messages point where the user looks.
    """

    file: str
    data: Any
    positions: Mapping[str, Position] = field(default_factory=dict, repr=False)
    #: The file's text, for checks that are cheaper on text than on data.
    text: str = field(default="", repr=False, compare=False)

    def locate(self, pointer: str) -> tuple[int, int]:
        """Line and column of the value at ``pointer``, or of its nearest known ancestor."""
        position = self._find(pointer)
        return position[0], position[1]

    def locate_key(self, pointer: str) -> tuple[int, int]:
        """Line and column of the key that names ``pointer`` (for "unknown key" messages)."""
        position = self._find(pointer)
        return position[2], position[3]

    def diagnostic(self, pointer: str, message: str, *, at_key: bool = False) -> Diagnostic:
        line, col = self.locate_key(pointer) if at_key else self.locate(pointer)
        return Diagnostic(self.file, line, col, pointer, message)

    def _find(self, pointer: str) -> Position:
        positions = self.positions
        while True:
            found = positions.get(pointer)
            if found is not None:
                return found
            if not pointer:
                return (1, 1, 1, 1)
            pointer = pointer.rpartition("/")[0]


def escape_pointer_token(token: str) -> str:
    """RFC 6901: ``~`` is written ``~0`` and ``/`` is written ``~1``."""
    if "~" in token or "/" in token:
        return token.replace("~", "~0").replace("/", "~1")
    return token


def load_yaml_documents(
    path: str | Path, max_bytes: int = MAX_SNAPSHOT_BYTES
) -> list[LoadedDocument]:
    """Load a YAML file, or every YAML file under a directory, in a stable order.

    Raises :class:`ConfigError` with every problem found in any of the files. Used for
    snapshots, hence the larger default limit per file.
    """
    documents, diagnostics = read_documents(path, max_bytes)
    if diagnostics:
        raise ConfigError(diagnostics)
    return documents


def read_documents(
    path: str | Path, max_bytes: int = MAX_SNAPSHOT_BYTES
) -> tuple[list[LoadedDocument], list[Diagnostic]]:
    """Like :func:`load_yaml_documents`, but returns the problems instead of raising.

    Files that fail to load are left out of the documents; the rest still load,
    so one broken file does not hide the problems of the others.
    """
    files, diagnostics = find_yaml_files(path, snapshots=True)
    documents: list[LoadedDocument] = []
    with gc_paused():
        for file in files:
            document, problems = read_document(file, max_bytes)
            diagnostics.extend(problems)
            if document is not None:
                documents.append(document)
    return documents, diagnostics


def read_document(
    file: str, max_bytes: int = MAX_FILE_BYTES
) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """Read and parse one file; ``None`` and the reasons when it cannot be used."""
    raw = read_bytes(file, max_bytes)
    if isinstance(raw, Diagnostic):
        return None, [raw]
    return parse_yaml(raw, file)


def parse_yaml(raw: bytes, file: str) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """Bytes of one YAML file → a document whose top level is a mapping, or diagnostics."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _offset_position(raw, exc.start)
        message = f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        return None, [Diagnostic(file, line, col, "", message)]
    try:
        if may_nest_too_deep(text):
            too_deep = _scan_depth(text, file)
            if too_deep is not None:
                return None, [too_deep]
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, [_marked_error(exc, file, text)]
    except yaml.reader.ReaderError as exc:
        line, col = _offset_position(text.encode("utf-8"), exc.position)
        return None, [Diagnostic(file, line, col, "", f"not valid YAML: {exc.reason}")]
    except yaml.YAMLError as exc:  # pragma: no cover - every libyaml error carries a mark
        return None, [Diagnostic(file, 1, 1, "", f"not valid YAML: {exc}")]
    if root is None:
        return None, [Diagnostic(file, 1, 1, "", "empty file: expected a mapping of keys")]
    if not isinstance(root, yaml.MappingNode):
        line, col = root.start_mark.line + 1, root.start_mark.column + 1
        found = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        message = f"expected a mapping of keys at the top of the file, found {found}"
        return None, [Diagnostic(file, line, col, "", message)]
    builder = _Builder(file)
    data = builder.build(root, "", 0)
    if builder.diagnostics:
        return None, builder.diagnostics
    return LoadedDocument(file, data, builder.positions, text), []


class _Builder:
    """Walks a composed node tree into data, recording where each value sits."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[str, Position] = {}
        self.diagnostics: list[Diagnostic] = []
        # Collection nodes built so far → values built for them (-1 while being
        # built). A node met again is an alias; its size is charged to the budget.
        self.sizes: dict[int, int] = {}
        self.count = 0
        self.expanded = 0

    def error(self, line: int, col: int, pointer: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.file, line, col, pointer, message))

    def build(self, node: yaml.Node, pointer: str, depth: int) -> Any:
        mark = node.start_mark
        line, col = mark.line + 1, mark.column + 1
        self.positions[pointer] = (line, col, line, col)
        return self.value(node, pointer, depth, line, col)

    def value(self, node: yaml.Node, pointer: str, depth: int, line: int, col: int) -> Any:
        """The data for ``node``; ``line``/``col`` say where an alias to it is used."""
        self.count += 1
        if type(node) is _Scalar:
            return self.scalar(node, pointer)
        key = id(node)
        size = self.sizes.get(key)
        if size is not None:
            if size < 0:
                self.error(line, col, pointer, "recursive alias: a collection contains itself")
                return None
            if self.expanded > MAX_ALIAS_EXPANSION:
                return None  # already reported; stop expanding
            self.expanded += size
            if self.expanded > MAX_ALIAS_EXPANSION:
                message = (
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION} values; "
                    "refusing a possible alias bomb"
                )
                self.error(line, col, pointer, message)
                return None
        if depth >= MAX_DEPTH:
            self.error(line, col, pointer, f"nested deeper than {MAX_DEPTH} levels")
            return None
        before = self.count
        if size is None:
            self.sizes[key] = -1  # being built: meeting it again inside itself is recursion
        if type(node) is yaml.MappingNode:
            result: Any = self.mapping(node, pointer, depth + 1)
        else:
            result = self.sequence(node, pointer, depth + 1)
        if size is None:
            self.sizes[key] = self.count - before
        return result

    def sequence(self, node: yaml.Node, pointer: str, depth: int) -> list[Any]:
        if node.tag != _SEQ:
            self.unsupported(node, pointer)
            return []
        items: list[Any] = []
        append = items.append
        positions = self.positions
        self.count += len(node.value)
        for index, item in enumerate(node.value):
            child = f"{pointer}/{index}"
            mark = item.start_mark
            line, col = mark.line + 1, mark.column + 1
            positions[child] = (line, col, line, col)
            if type(item) is _Scalar:
                append(intern(item.value) if item.tag == _STR else self.scalar(item, child))
            else:
                append(self.value(item, child, depth, line, col))
        return items

    def mapping(self, node: yaml.Node, pointer: str, depth: int) -> dict[str, Any]:
        if node.tag != _MAP:
            self.unsupported(node, pointer)
            return {}
        result: dict[str, Any] = {}
        merges: list[tuple[yaml.Node, yaml.Node]] = []
        positions = self.positions
        self.count += len(node.value)
        for key_node, value_node in node.value:
            key_mark = key_node.start_mark
            key_line, key_col = key_mark.line + 1, key_mark.column + 1
            if type(key_node) is not _Scalar:
                message = "mapping keys must be plain values, not lists or mappings"
                self.error(key_line, key_col, pointer, message)
                continue
            key: str = intern(key_node.value)
            if key_node.tag == _MERGE:
                merges.append((key_node, value_node))
                continue
            if "~" in key or "/" in key:
                child = f"{pointer}/{escape_pointer_token(key)}"
            else:
                child = f"{pointer}/{key}"
            if key in result:  # merged keys come later, so only keys written here are in yet
                message = f"duplicate key '{key}'; first declared at line {positions[child][2]}"
                self.error(key_line, key_col, child, message)
                continue
            mark = value_node.start_mark
            positions[child] = (mark.line + 1, mark.column + 1, key_line, key_col)
            if type(value_node) is _Scalar:
                if value_node.tag == _STR:
                    result[key] = intern(value_node.value)
                else:
                    result[key] = self.scalar(value_node, child)
            else:
                result[key] = self.value(value_node, child, depth, key_line, key_col)
        if merges:
            result = self.merge(merges, result, pointer, depth)
        return result

    def merge(
        self,
        merges: list[tuple[yaml.Node, yaml.Node]],
        result: dict[str, Any],
        pointer: str,
        depth: int,
    ) -> dict[str, Any]:
        """``<<: *base`` (or a list of them): keys written here win, then earlier sources."""
        sources: list[yaml.Node] = []
        mark = merges[0][0].start_mark
        line, col = mark.line + 1, mark.column + 1
        for _, value_node in merges:
            if isinstance(value_node, yaml.SequenceNode):
                sources.extend(value_node.value)
            else:
                sources.append(value_node)
        if not all(isinstance(source, yaml.MappingNode) for source in sources):
            self.error(line, col, pointer, "'<<' merges only mappings (or a list of them)")
            return result
        merged: dict[str, Any] = {}
        saved = {key: self.positions[f"{pointer}/{escape_pointer_token(key)}"] for key in result}
        for source in reversed(sources):
            built = self.value(source, pointer, depth, line, col)
            if isinstance(built, dict):
                merged.update(built)
        # Sources write positions under this mapping's pointer; keys written here win.
        for key, position in saved.items():
            self.positions[f"{pointer}/{escape_pointer_token(key)}"] = position
        merged.update(result)
        return merged

    def scalar(self, node: yaml.Node, pointer: str) -> Any:
        tag = node.tag
        value: str = node.value
        try:
            if tag in (_STR, _TIMESTAMP):  # no dates in JSON: a date stays its text
                return value
            if tag == _INT:
                return yaml11_int(value)
            if tag == _BOOL:
                return value.lower() in _TRUE
            if tag == _NULL:
                return None
            if tag == _FLOAT:
                return yaml11_float(value)
        except ValueError:
            mark = node.start_mark
            self.error(mark.line + 1, mark.column + 1, pointer, f"invalid number {value!r}")
            return None
        self.unsupported(node, pointer)
        return None

    def unsupported(self, node: yaml.Node, pointer: str) -> None:
        mark = node.start_mark
        tag = node.tag.replace(_TAG, "!!")
        self.error(mark.line + 1, mark.column + 1, pointer, f"unsupported YAML tag '{tag}'")


def _marked_error(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    """The parser's words, and our hint at the likely slip (:mod:`~reconciler.config.hints`)."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    parser = ", ".join(part for part in (exc.context, exc.problem) if part)
    message = syntax_message(parser, text, line, col)
    return Diagnostic(file, line, col, "", f"not valid YAML: {message}")


def _offset_position(raw: bytes, offset: int) -> tuple[int, int]:
    """A byte offset → 1-based line and column (columns count characters)."""
    before = raw[:offset]
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace"))
    return before.count(b"\n") + 1, column + 1


def may_nest_too_deep(text: str) -> bool:
    """Whether ``text`` could nest deeper than a parser in C (or Rust) is safe to read."""
    return len(text) > _SAFE_COMPOSE_DEPTH and _depth_bound(text) > _SAFE_COMPOSE_DEPTH


def _depth_bound(text: str) -> int:
    """An upper bound on nesting depth: flow brackets plus the longest line's width."""
    widest = max(map(len, text.split("\n")))
    return text.count("[") + text.count("{") + widest


def _scan_depth(text: str, file: str) -> Diagnostic | None:
    """The first collection nested past MAX_DEPTH (or a syntax error before it), without libyaml."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                    message = f"nested deeper than {MAX_DEPTH} levels"
                    return Diagnostic(file, line, col, "", message)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        return _marked_error(exc, file, text)
    return None
