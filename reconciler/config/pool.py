"""Parsing many configuration files in several processes at once.

Parsing is almost all of the time it takes to check a large configuration
(composing the YAML and building data with a place for every value), and each
file parses on its own, so a partner with a thousand account files parses on
every core. Each worker reads and parses a slice of the files with the same
:func:`~reconciler.config.fastparse.read_document` as the serial path and sends
back what it gives: the document's entry for the parse cache (data and
positions packed by :mod:`.positions`, marshalled: the parent loads it once
and keeps the same bytes) or its diagnostics. A worker also runs the check it
is given on each document (no secret in it, valid by the schema); a document
it passes comes without its text, and later stages pass it by, having nothing
to say of it. One that fails comes with its text, and is checked again here.
Results come back in the order of the files, so every later stage, and so
every message and plan, is byte for byte what the serial path gives.

The pool pays off only for many files: starting processes and sending the
results back costs more than it saves on a few. Below :data:`MIN_FILES` files
(or with one core) the files are parsed here, one by one. The environment
variable :data:`SWITCH` chooses otherwise: ``0`` never uses the pool, ``1``
always does (how the tests show both paths give the same result). The engine
asks :func:`pool_size` too, before planning the sandbox's accounts in processes.

Processes are started by ``fork`` when this process runs a single thread: the
child starts at once with the loader already imported. With other threads
running, a forked child could inherit a lock some thread holds (and Python
3.12 warns about it), so ``forkserver`` starts them instead, from a clean
server process that imports the loader once. If the pool cannot be started or
a worker dies, the files are parsed here, serially: slower, never different.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from itertools import repeat
from multiprocessing.connection import Connection
from typing import Any, NamedTuple, TypeVar

from reconciler.config.cache import entry_name, make_entry, open_entry
from reconciler.config.fastparse import read_document
from reconciler.config.loader import LoadedDocument
from reconciler.config.positions import pack_positions
from reconciler.errors import Diagnostic

#: ``0``: never parse in several processes; ``1``: always (even a single file).
SWITCH = "RECONCILER_PARALLEL_PARSE"
#: Fewest files worth a pool: below this, starting processes costs more than it saves.
MIN_FILES = 64
#: Each slice of files a worker is given is this share of the files left (per worker),
#: down to :data:`MIN_SLICE` files: large slices first, few round trips; small ones
#: last, so that the workers finish together and the results stream back meanwhile.
SLICE_SHARE = 3
MIN_SLICE = 8

T = TypeVar("T")
#: What a worker checks a parsed document with: True when nothing is wrong with it.
Check = Callable[[LoadedDocument], bool]


class Parsed(NamedTuple):
    """One file parsed: its document, or the diagnostics saying why there is none."""

    document: LoadedDocument | None
    problems: list[Diagnostic]
    #: A worker's check found nothing wrong with the document (which has no text then).
    checked: bool = False
    #: The parse cache's entry for the document, made by a worker: its name and bytes.
    entry: tuple[bytes, bytes] | None = None


#: A worker's answer for a document it packed: the entry's name and bytes, the text
#: (empty when checked) and whether it passed the check.
_Sent = tuple[bytes, bytes, str, bool]


def parse_files(
    files: Sequence[str], seed: bytes | None = None, check: Check | None = None
) -> list[Parsed]:
    """Each file's document or diagnostics, in the order of ``files``.

    Parsed in a pool, each document is also given to ``check`` there and comes with
    its cache entry, named with ``seed`` (:func:`~reconciler.config.cache.entry_name`).
    """
    workers = pool_size(len(files))
    if workers > 1:
        try:
            return _parse_in_pool(files, workers, seed, check)
        except (BrokenProcessPool, OSError):
            pass  # no processes to be had here: parse serially
    return _parse_slice(list(files))


def pool_size(files: int) -> int:
    """How many worker processes to parse ``files`` files with (1: parse here)."""
    switch = os.environ.get(SWITCH, "").strip()
    cores = os.cpu_count() or 1
    if switch == "0" or files == 0:
        return 1
    if switch == "1":
        return max(2, min(cores, files))
    if files < MIN_FILES or cores < 2:
        return 1
    return cores


def start_method() -> str:
    """``fork`` where it is safe (one thread, and offered here), else ``forkserver``."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    if "forkserver" in methods:
        return "forkserver"
    return "spawn"


def fork_context() -> multiprocessing.context.ForkContext:
    """The ``fork`` context, this process's output flushed first: a forked child flushes
    its copy of what was still buffered when it ends, and would print it again."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return multiprocessing.get_context("fork")


def give_back_heap() -> None:
    """Return to the system the C heap that the workers' answers took, where the C
    library can (glibc).

    Each file's answer is some kilobytes, a thousand files or more, from the C heap,
    which Python's allocator of small objects does not reuse: once freed it would stay
    in this process's memory for the rest of the run, and in every process forked from
    it to plan (30 to 90 MB at 5,000 accounts).
    """
    if sys.platform != "linux":
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # another C library (musl): nothing to ask
        return
    trim(0)


def start_worker(parent: int | None) -> None:
    """A worker's start: no collector (nothing here makes cycles), and no life of its own.

    A worker waits on a pipe it holds both ends of, so it would wait for ever once
    its parent is killed (Ctrl-C twice, a CI timeout): on Linux the kernel ends it
    with its parent; elsewhere a thread watches for the parent to go. ``None``: the
    parent is whatever started this process (a fork server, which ends with the
    process that asked for the worker).
    """
    gc.disable()
    parent = os.getppid() if parent is None else parent
    if sys.platform == "linux":
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent went before the kernel was told
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _parse_in_pool(
    files: Sequence[str], workers: int, seed: bytes | None, check: Check | None
) -> list[Parsed]:
    slices = slice_files(files, workers)
    method = start_method()
    context = fork_context() if method == "fork" else multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["reconciler.config"])  # the loader, and the checks
    parsed: list[Parsed] = []
    parent = os.getpid() if method == "fork" else None
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=start_worker, initargs=(parent,)
    ) as pool:
        answers = pool.map(_parse_to_send, slices, repeat(seed), repeat(check))
        for names, sent in zip(slices, answers, strict=True):
            for file, answer in zip(names, sent, strict=True):
                if isinstance(answer, Parsed):
                    parsed.append(answer)
                    continue
                name, payload, text, checked = answer
                document = open_entry(file, name, payload, text)
                if document is None:  # not what the worker meant to send: parse it here
                    parsed.extend(_parse_slice([file]))
                else:
                    parsed.append(Parsed(document, [], checked, (name, payload)))
    return parsed


def slice_files(files: Sequence[str], workers: int) -> list[list[str]]:
    """``files`` cut in order into the slices the workers take in turn, smaller and smaller."""
    slices: list[list[str]] = []
    start = 0
    while start < len(files):
        size = max(MIN_SLICE, -(-(len(files) - start) // (workers * SLICE_SHARE)))
        slices.append(list(files[start : start + size]))
        start += size
    return slices


def _parse_slice(files: list[str]) -> list[Parsed]:
    """Read and parse each file, its positions packed (here, or in a worker)."""
    parsed: list[Parsed] = []
    for file in files:
        document, problems = read_document(file)
        if document is not None:
            document = replace(document, positions=pack_positions(document.positions))
        parsed.append(Parsed(document, problems))
    return parsed


def _parse_to_send(
    files: list[str], seed: bytes | None, check: Check | None
) -> list[Parsed | _Sent]:
    """In a worker: each file parsed and checked; a packed document sent as its cache entry."""
    sent: list[Parsed | _Sent] = []
    for parsed in _parse_slice(files):
        document = parsed.document
        if document is None:
            sent.append(parsed)
            continue
        name = entry_name(seed, document.text.encode("utf-8")) if seed is not None else b""
        payload = make_entry(name, document)
        if payload is None:
            sent.append(parsed)
            continue
        try:
            checked = check is not None and check(document)
        except Exception:
            checked = False  # checked again in the parent, failing there as it would anyway
        sent.append((name, payload, "" if checked else document.text, checked))
    return sent


def beside(work: Callable[[], T], files: int) -> Callable[[], T]:
    """Start ``work`` in a forked process now; the callable returned waits for its result.

    For checks of a large configuration that this process would otherwise run after
    its own work, one after the other: the child inherits everything parsed (``fork``)
    and sends back only what ``work`` returns (pickled, so it must be picklable).
    Where forking is unsafe or not worth it (see :func:`pool_size`), or the child
    fails in any way, ``work`` runs here when its result is asked for: the same result,
    later, and any exception it raises raised here.
    """
    if pool_size(files) < 2 or start_method() != "fork":
        return work
    context = fork_context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_serve, args=(work, sender, os.getpid()), daemon=True)
    try:
        child.start()
    except OSError:
        return work
    finally:
        sender.close()

    def result() -> T:
        try:
            done, value = receiver.recv()
        except (EOFError, OSError):
            done, value = False, None  # the child died before it could answer
        finally:
            receiver.close()
            child.join()
        return value if done else work()

    return result


def _serve(work: Callable[[], Any], sender: Connection, parent: int) -> None:
    """In the child: ``work``'s result, or word that it failed (to be run again, there)."""
    start_worker(parent)
    try:
        answer = (True, work())
    except BaseException:
        answer = (False, None)
    sender.send(answer)
    sender.close()
