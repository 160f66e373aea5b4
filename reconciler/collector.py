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
    """Building many small containers triggers the cyclic collector over and over, for nothing.

    What was built is then moved to the oldest generation at once (frozen, then
    unfrozen: two list splices), so that the collector, once on again, does not walk
    the hundreds of thousands of containers as young ones in its next pass, only to
    find them alive. They are still collected in its full passes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()
