"""The garbage collector, paused while many small objects are built.

Loading, reading and planning a thousand accounts allocates millions of
containers and no cycles worth collecting: the collector's passes would cost
a fifth of the run.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building many small containers triggers the cyclic collector over and over, for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
