"""The configuration's files on disk: which to read, and their bytes, within limits.

Under a configuration directory only regular files inside it are read, each
real file once: links that leave it, loops, pipes and devices are refused with
a placed error and never opened, so a pull request cannot make CI read (and
echo) a file of the runner. Sizes are checked from ``stat`` before a byte is
read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from reconciler.errors import Diagnostic

YAML_SUFFIXES = (".yaml", ".yml")

_MIB = 1024 * 1024
#: Largest configuration file read. One account's file is about 10 KB and a whole
#: partner of 1,000 accounts x 50 users in one file about 10 MB; a bigger file is
#: refused from its size alone (``stat``), before a byte of it is read.
MAX_FILE_BYTES = 16 * _MIB
#: Largest snapshot file (:func:`load_yaml_documents`): a sandbox holding the state of
#: 1,000 accounts x 50 users takes about 14 MB in one file.
MAX_SNAPSHOT_BYTES = 64 * _MIB
#: Current-state snapshots are not configuration: files named ``snapshot.yaml`` or
#: ``*.snapshot.yaml`` (or ``.yml``) are never read as config, wherever they are in the tree.
SNAPSHOT_NAMES = ("snapshot.yaml", "snapshot.yml")
SNAPSHOT_SUFFIXES = (".snapshot.yaml", ".snapshot.yml")


def is_snapshot_name(path: str) -> bool:
    """Whether ``path`` is named as a snapshot (``snapshot.yaml``, ``x.snapshot.yml``, ...)."""
    name = os.path.basename(path)
    return name in SNAPSHOT_NAMES or name.endswith(SNAPSHOT_SUFFIXES)


def find_yaml_files(
    path: str | Path, *, snapshots: bool = False
) -> tuple[list[str], list[Diagnostic]]:
    """The YAML files a path names: itself, or those under it (sorted, recursive).

    A path given as a file is used wherever it is. Under a directory (the root),
    only regular files inside the root are used:

    - hidden entries (``.reconciler/``, ``.git``) are skipped below the top level, and so
      are snapshots (:func:`is_snapshot_name`), which hold current state, not config,
      unless ``snapshots`` (a directory of snapshot files is being read);
    - a symlink is followed only when its real path stays inside the root; one that
      leaves it is reported, and what it points to is never opened;
    - each real directory is walked once and each real file listed once, under the
      first path that reaches it (real paths before symlinks), so symlinks can make
      no loop and no "diamond" that multiplies the work; a symlink back into one of
      its own ancestors is reported;
    - named pipes, sockets and devices are reported without being opened (opening a
      named pipe would wait for a writer forever).
    """
    display = os.path.normpath(str(path))
    try:
        status = os.stat(display)
    except FileNotFoundError:
        message = "no such file or directory"
        if os.path.islink(display):
            message = "broken symlink: its target does not exist"
        return [], [Diagnostic(display, 1, 1, "", message)]
    except OSError as exc:
        return [], [Diagnostic(display, 1, 1, "", _unreadable(exc))]
    if stat.S_ISREG(status.st_mode):
        return [display], []
    if not stat.S_ISDIR(status.st_mode):
        return [], [_not_regular(display, status)]
    walk = _Walk(display, snapshots)
    files = walk.run()
    if not files and not walk.diagnostics:
        walk.diagnostics.append(
            Diagnostic(display, 1, 1, "", "no YAML files (*.yaml, *.yml) in this directory")
        )
    return files, walk.diagnostics


class _Walk:
    """One walk of a configuration directory: the real tree first, then its symlinks."""

    def __init__(self, root: str, snapshots: bool = False) -> None:
        self.root = root
        #: Whether files named as snapshots are listed too.
        self.snapshots = snapshots
        self.root_real = os.path.realpath(root)
        self.inside = self.root_real.rstrip(os.sep) + os.sep
        #: Real path -> the path shown for it, for every directory walked and file found.
        self.dirs: dict[str, str] = {self.root_real: root}
        self.files: dict[str, str] = {}
        #: Symlinks met, with the real path of the directory holding them, in order met.
        self.links: list[tuple[str, str]] = []
        self.diagnostics: list[Diagnostic] = []

    def run(self) -> list[str]:
        self.tree(self.root, self.root_real)
        done = 0
        while done < len(self.links):  # following a link may find more links
            link, parent_real = self.links[done]
            done += 1
            self.link(link, parent_real)
        return sorted(self.files.values(), key=lambda shown: shown.split(os.sep))

    def wanted(self, name: str) -> bool:
        return name.endswith(YAML_SUFFIXES) and (self.snapshots or not is_snapshot_name(name))

    def contains(self, real: str) -> bool:
        return real == self.root_real or real.startswith(self.inside)

    def tree(self, shown: str, real: str) -> None:
        """Walk a directory without following symlinks (they are queued for :meth:`link`)."""
        stack = [(shown, real)]
        while stack:
            directory, directory_real = stack.pop()
            try:
                with os.scandir(directory) as scan:
                    entries = sorted(scan, key=lambda entry: entry.name)
            except OSError as exc:
                message = f"cannot read directory: {_os(exc)}"
                self.diagnostics.append(Diagnostic(directory, 1, 1, "", message))
                continue
            subdirectories = []
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                child = entry.path if directory != "." else name
                child_real = os.path.join(directory_real, name)
                try:
                    if entry.is_symlink():
                        self.links.append((child, directory_real))
                    elif entry.is_dir(follow_symlinks=False):
                        if child_real not in self.dirs:
                            self.dirs[child_real] = child
                            subdirectories.append((child, child_real))
                    elif self.wanted(name):
                        if entry.is_file(follow_symlinks=False):
                            self.files.setdefault(child_real, child)
                        else:
                            self.diagnostics.append(
                                _not_regular(child, entry.stat(follow_symlinks=False))
                            )
                except OSError as exc:
                    self.diagnostics.append(Diagnostic(child, 1, 1, "", _unreadable(exc)))
            stack.extend(reversed(subdirectories))

    def link(self, link: str, parent_real: str) -> None:
        """Follow one symlink if it stays inside the root and reaches something new."""
        is_yaml = self.wanted(link)
        try:
            status = os.stat(link)  # stat, never open: the target may be a pipe or outside
        except FileNotFoundError:
            if is_yaml:
                message = "broken symlink: its target does not exist"
                self.diagnostics.append(Diagnostic(link, 1, 1, "", message))
            return
        except OSError as exc:
            message = _unreadable(exc)
            if exc.errno == errno.ELOOP:
                message = "symlink loop: this symlink never reaches a file or directory"
            self.diagnostics.append(Diagnostic(link, 1, 1, "", message))
            return
        is_dir = stat.S_ISDIR(status.st_mode)
        if not is_dir and not is_yaml:
            return  # never read, wherever it points
        real = os.path.realpath(link)
        if not self.contains(real):
            message = "symlink points outside the configuration directory"
            self.diagnostics.append(Diagnostic(link, 1, 1, "", message))
        elif is_dir:
            if parent_real == real or parent_real.startswith(real.rstrip(os.sep) + os.sep):
                shown = self.dirs.get(real, real)
                message = f"symlink loop: '{link}' leads back to '{shown}'"
                self.diagnostics.append(Diagnostic(link, 1, 1, "", message))
            elif real not in self.dirs:  # else already walked, by another path
                self.dirs[real] = link
                self.tree(link, real)
        elif stat.S_ISREG(status.st_mode):
            self.files.setdefault(real, link)
        else:
            self.diagnostics.append(_not_regular(link, status))


def read_bytes(file: str, max_bytes: int = MAX_FILE_BYTES) -> bytes | Diagnostic:
    """A regular file's bytes, at most ``max_bytes`` of them, or why it cannot be read.

    The size is checked before reading (a bigger file is refused unread) and again
    while reading (a file that grows is refused too). Anything but a regular file is
    refused without being opened, and the file is opened non-blocking, so a named
    pipe put in its place after the check cannot hang the read either.
    """
    opened = _open_regular(file, max_bytes)
    if isinstance(opened, Diagnostic):
        return opened
    stream, size = opened
    with stream:
        try:
            want = min(size, max_bytes) + 1
            raw = stream.read(want)
            if len(raw) == want and want <= max_bytes:  # grew since the check
                raw += stream.read(max_bytes + 1 - want)
        except OSError as exc:
            return Diagnostic(file, 1, 1, "", f"cannot read file: {_os(exc)}")
    if len(raw) > max_bytes:
        return _too_big(file, None, max_bytes)
    return raw


def _open_regular(file: str, max_bytes: int | None) -> tuple[BinaryIO, int] | Diagnostic:
    """An open binary stream and the size of a regular file within the limit, or why not."""
    try:
        status = os.stat(file)
        if not stat.S_ISREG(status.st_mode):
            return _not_regular(file, status)
        if max_bytes is not None and status.st_size > max_bytes:
            return _too_big(file, status.st_size, max_bytes)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        descriptor = os.open(file, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return Diagnostic(file, 1, 1, "", f"cannot read file: {_os(exc)}")
    stream = open(descriptor, "rb")  # noqa: SIM115 - closed by the caller
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):  # swapped since the check
        stream.close()
        return _not_regular(file, status)
    return stream, status.st_size


def _too_big(file: str, size: int | None, max_bytes: int) -> Diagnostic:
    limit = f"{max_bytes // _MIB} MiB" if max_bytes % _MIB == 0 else f"{max_bytes} bytes"
    found = f"{size} bytes, " if size is not None else ""
    message = f"file too large: {found}more than the {limit} allowed for one file; not read"
    return Diagnostic(file, 1, 1, "", message)


_KINDS = (
    (stat.S_ISDIR, " (a directory)"),
    (stat.S_ISFIFO, " (a named pipe)"),
    (stat.S_ISSOCK, " (a socket)"),
    (stat.S_ISCHR, " (a character device)"),
    (stat.S_ISBLK, " (a block device)"),
)


def _not_regular(file: str, status: os.stat_result) -> Diagnostic:
    kind = next((noun for test, noun in _KINDS if test(status.st_mode)), "")
    return Diagnostic(file, 1, 1, "", f"not a regular file{kind}; not opened")


def _unreadable(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop: this symlink never reaches a file or directory"
    return f"cannot read: {_os(exc)}"


def _os(exc: OSError) -> str:
    return exc.strerror or str(exc)
