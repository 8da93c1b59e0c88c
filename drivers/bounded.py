"""Awaiting a library call for a bounded time, even if it ignores cancellation.

``asyncio.wait_for`` and ``asyncio.timeout`` cancel the call when time is up and then
wait for it to finish unwinding: a library that catches the cancellation (or awaits more
I/O in a ``finally``) keeps the caller waiting with it. Stopping a device must never hang
the gateway's shutdown, so :func:`bounded` runs the call as its own task, waits on it with
``asyncio.wait`` (which never waits longer than asked), cancels it, gives it as long again
to unwind, and otherwise leaves it behind with a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def bounded(operation: Awaitable[T], timeout_s: float, what: str) -> T:
    """The result of ``operation``, or ``TimeoutError`` after ``timeout_s`` seconds."""
    task = asyncio.ensure_future(operation)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if task in done:
        return task.result()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if task not in done:
        log.error("%s ignored its cancellation for %g s; left behind", what, timeout_s)
        task.add_done_callback(_retrieve)
    else:
        _retrieve(task)
    raise TimeoutError(f"{what}: not done within {timeout_s:g} s")


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of an abandoned task as seen (no 'never retrieved' warning)."""
    if not task.cancelled():
        task.exception()
