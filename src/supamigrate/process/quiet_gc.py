"""Pause the cyclic garbage collector while a step makes many objects and no cycles.

CPython runs a collection pass every ~700 new container objects, and a full pass over every
live object now and then: reading 10,000 migrations (~200,000 objects) or the parse tree of a
50 MB file (millions of dicts) spends most of its time in passes that find nothing, and the
full passes make the cost grow faster than the input. Nothing these steps make is cyclic.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_collector_passes() -> Iterator[None]:
    """No collector passes inside; back on (if it was on) afterwards, also on an error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # What the step made stays young until a pass looks at it: the first one after
            # enable() would walk all of it (~50 ms after 10,000 migrations). Frozen objects
            # are skipped by passes and still freed by reference counting when dropped.
            gc.freeze()
            gc.enable()
