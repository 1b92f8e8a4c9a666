"""The cyclic garbage collector paused over a bulk pass (detection, the pending list, staging).

Such a pass builds hundreds of thousands of objects that live until it ends (mapped lines, changes,
staging rows). CPython's collector traverses every live tracked object in each full collection,
and starts one whenever those have grown by a quarter: over one pass it walks the same objects
again and again: about a quarter of a whole-run staging. Nothing a pass builds holds a cycle, so
reference counting frees it all the same; the collector is only paused, and resumed when the last
pass running (in any thread) ends. Memory is not at stake: what a cycle would hold is collected
by the next full collection.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_passes = 0  # passes running now, in every thread
_resume = False  # whether the collector was running when the first of them began


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (nested and concurrent blocks share one pause)."""
    global _passes, _resume
    with _lock:
        if _passes == 0:
            _resume = gc.isenabled()
            gc.disable()
        _passes += 1
    try:
        yield
    finally:
        with _lock:
            _passes -= 1
            if _passes == 0 and _resume:
                # What the pass leaves alive (the changes it returns) goes straight to the oldest
                # generation, untraversed (freeze, then unfreeze): else the very next allocation
                # would walk all of it in a young collection, and again in the middle one.
                gc.freeze()
                gc.unfreeze()
                gc.enable()
