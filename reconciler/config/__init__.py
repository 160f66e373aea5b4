"""Configuration: YAML files → validated, typed desired state.

The stages, each collecting every problem it finds as a placed
:class:`~reconciler.errors.Diagnostic`:

1. ``loader``: files → data with a pointer → (line, column) index;
2. ``secrets``: literal tokens refused, never echoed;
3. ``schema``: each file against ``schemas/config.schema.json``;
4. ``rules``: blocks merged across files, business rules checked (and addresses
   that only look alike, as warnings);
5. ``desired``: the typed :class:`~reconciler.model.Config`.

Later stages run on what earlier ones accepted, so one broken file does not
hide the problems of the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.catalog import load_catalogue
from reconciler.collector import gc_paused
from reconciler.config.cache import ParseCache
from reconciler.config.desired import build_config
from reconciler.config.files import find_yaml_files
from reconciler.config.fleet import check_fleet, check_prices
from reconciler.config.loader import LoadedDocument
from reconciler.config.pool import beside, give_back_heap, parse_files
from reconciler.config.rules import (
    Declarations,
    check_lookalikes,
    check_rules,
    check_whole,
    collect,
)
from reconciler.config.schema import validate_documents
from reconciler.config.secrets import find_secrets
from reconciler.errors import ConfigError, Diagnostic
from reconciler.model import Config

__all__ = ["Validation", "check_config", "load_config"]

SCHEMA = "config"


@dataclass(frozen=True)
class Validation:
    """The outcome of checking a configuration: the config, or every problem.

    ``warnings`` do not make it invalid: they are placed like diagnostics and say what
    is allowed but probably not meant (addresses that only look alike).
    """

    config: Config | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: tuple[str, ...] = ()
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.config is not None


def load_config(path: str | Path) -> Config:
    """Load, validate and build the desired state; raise ConfigError with every problem."""
    result = check_config(path, warn=False)  # no one would see the warnings
    if result.config is None:
        raise ConfigError(result.diagnostics)
    return result.config


def check_config(path: str | Path, *, warn: bool = True) -> Validation:
    """Like :func:`load_config`, returning the problems (sorted) instead of raising.

    ``warn``: also look for what is valid but likely a mistake (``Validation.warnings``).
    """
    # The collector would walk the ever-growing heap of small containers again and
    # again while the config is built; nothing here makes reference cycles.
    with gc_paused():
        return _check(os.path.normpath(str(path)), warn)


def _check(root: str, warn: bool) -> Validation:
    found_files, diagnostics = find_yaml_files(root)
    cache = ParseCache.from_environment(root)
    documents, files, checked = _read(found_files, diagnostics, cache)
    all_loaded = not diagnostics
    # What a parse worker checked holds no secret and passes the schema: nothing to say.
    unchecked = [document for document in documents if document.file not in checked]
    secrets = find_secrets(unchecked)
    diagnostics.extend(secrets.diagnostics)
    cache.put(documents, {diagnostic.file for diagnostic in secrets.diagnostics})
    give_back_heap()  # the answers of the parse workers, and the cache's entries: freed
    # Nothing after the secrets reads a file's text: the documents are kept without it.
    documents = [
        replace(document, text="") if document.text else document for document in documents
    ]
    schema_problems = validate_documents(unchecked, SCHEMA)
    # A file is invalid even when its only schema message is withheld for naming a secret.
    invalid = {diagnostic.file for diagnostic in schema_problems}
    by_file = {document.file: document for document in documents}
    diagnostics.extend(d for d in schema_problems if not secrets.hides(by_file[d.file], d))
    found, duplicates = collect([d for d in documents if d.file not in invalid])
    for document in documents:
        profiles = document.data.get("profiles") if isinstance(document.data, dict) else None
        if document.file in invalid and isinstance(profiles, dict):
            found.unchecked_profiles.update(str(name) for name in profiles)
    diagnostics.extend(duplicates)
    if len(found.partner) > 1:
        # Whose employees the rules should judge by is unknown: every verdict would be a
        # guess. The second `partner` is reported alone, beside the files' own problems.
        return Validation(None, sorted(set(diagnostics)), files)
    complete = all_loaded and not invalid  # else a missing block may be in a failed file
    if diagnostics:
        found_later, warnings = _judge(found, root, complete, warn)
        return Validation(None, sorted(set(diagnostics + found_later)), files, warnings)
    # Judging a large config runs in a child while this process builds the config, which
    # it keeps only if the judgement finds no problem (it may fail on what a rule refuses).
    judged = beside(lambda: _judge(found, root, complete, warn), len(documents))
    try:
        config: Config | None = build_config(found, files, root)
    except Exception:
        config = None
    diagnostics, warnings = judged()
    if diagnostics:
        return Validation(None, sorted(set(diagnostics)), files, warnings)
    if config is None:  # built again, to raise what failed
        config = build_config(found, files, root)
    return Validation(config, [], files, warnings)


def _judge(
    found: Declarations, root: str, complete: bool, warn: bool
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """The business rules' problems, and the warnings when ``warn``."""
    forbidden = load_catalogue().partner_admin_forbidden
    diagnostics = check_rules(found, forbidden)
    if complete:
        diagnostics.extend(check_whole(found, root))
    diagnostics.extend(check_fleet(found, forbidden, complete))
    warnings = sorted(set(check_lookalikes(found) + check_prices(found))) if warn else []
    return diagnostics, warnings


def _read(
    files: list[str], diagnostics: list[Diagnostic], cache: ParseCache
) -> tuple[list[LoadedDocument], tuple[str, ...], set[str]]:
    """Parse the files; those that cannot be read or parsed add their diagnostics.

    A file whose bytes parsed cleanly before is taken from the cache (:mod:`.cache`);
    many others are parsed in several processes (:mod:`.pool`); all with the same result.
    Also the files a parse worker checked already (:func:`_passes`).
    """
    kept = [cache.get(file) for file in files]
    missing = [file for file, document in zip(files, kept, strict=True) if document is None]
    fresh = iter(parse_files(missing, cache.seed, _passes))
    parsed: list[LoadedDocument] = []
    checked: set[str] = set()
    for document in kept:
        problems: list[Diagnostic] = []
        if document is None:
            document, problems, passed, entry = next(fresh)
            if document is not None and entry is not None:
                cache.keep(document.file, *entry)
            if document is not None and passed:
                checked.add(document.file)
        diagnostics.extend(problems)
        if document is not None:
            parsed.append(document)
    return parsed, tuple(files), checked


def _passes(document: LoadedDocument) -> bool:
    """Nothing to say of ``document`` alone: no secret in it, and valid by the schema."""
    return not find_secrets([document]).diagnostics and not validate_documents([document], SCHEMA)
