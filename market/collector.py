"""Pause Python's cyclic garbage collector while a market round builds its objects.

A round of a large market makes a few hundred thousand long-lived, acyclic objects
(tenders, transactions, Decimals). The cyclic collector is triggered by allocations and
re-scans the growing heap again and again while they are made — about a third of a
round's time, for nothing: reference counting frees everything such a round discards.
:func:`paused_collection` switches it off for the duration of the block and back on
afterwards. The switch is process-wide, so pauses from several threads are counted and
the collector is re-enabled when the last one ends, and only if it was enabled before
the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_collection"]

_lock = threading.Lock()
_active = 0
_was_enabled = False


@contextmanager
def paused_collection() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (reentrant, thread-safe)."""
    global _active, _was_enabled
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _was_enabled:
                gc.enable()
