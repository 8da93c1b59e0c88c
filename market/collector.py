"""Pause Python's cyclic garbage collector while a market round builds its objects.

A round of a large market makes a few hundred thousand long-lived, acyclic objects
(tenders, transactions, Decimals). The cyclic collector is triggered by allocations and
re-scans the growing heap again and again while they are made — about a third of a
round's time, for nothing: reference counting frees everything such a round discards.
:func:`paused_collection` switches it off for the duration of the block and back on
afterwards. The switch is process-wide, so pauses from several threads are counted and
the collector is re-enabled when the last one ends, and only if it was enabled before
the first began.

Re-enabled as it was, the collector would still scan every object made during the pause
once: they all sit in the youngest generation, whose allocation count is far past its
threshold, so the first allocation afterwards starts a young collection over all of them
(~0.1 s after a 10,000-agent round). They are long-lived by design (positions and
transactions keep them until settlement), so the pause ends by moving every tracked object
straight to the oldest generation — ``gc.freeze()`` then ``gc.unfreeze()``, two list
splices. Nothing escapes collection: the next full collection examines them as it
would have anyway. It is skipped when the program keeps objects frozen itself
(``gc.get_freeze_count()``), whose freeze it must not undo.
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
                _promote_to_oldest_generation()
                gc.enable()


def _promote_to_oldest_generation() -> None:
    """Move every tracked object to the oldest generation without scanning it (see above)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
