"""Awaiting a library call for a bounded time, even if it ignores cancellation.

``asyncio.wait_for`` and ``asyncio.timeout`` cancel the call when time is up and then
wait for it to finish unwinding: a library that catches the cancellation (or awaits more
I/O in a ``finally``) keeps the caller waiting with it. Stopping a device must never hang
the gateway's shutdown, so :func:`bounded` runs the call as its own task, waits on it with
``asyncio.wait`` (which never waits longer than asked), cancels it, gives it as long again
to unwind, and otherwise leaves it behind with a log line; :func:`cancel_and_wait` does
the same for tasks being stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
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


async def cancel_and_wait(
    tasks: Mapping[str, asyncio.Task[Any]], timeout_s: float
) -> list[BaseException]:
    """Cancel the named tasks and wait for them at most ``timeout_s``; a task that does not
    end is logged by name and left behind. Returns the failures of the tasks that ended
    with an error other than their cancellation, for the caller to raise after cleanup."""
    for task in tasks.values():
        task.cancel()
    if not tasks:
        return []
    _, stuck = await asyncio.wait(tasks.values(), timeout=timeout_s)
    failures: list[BaseException] = []
    for name, task in tasks.items():
        if task in stuck:
            log.error("%s did not stop within %g s; leaving it", name, timeout_s)
            task.add_done_callback(_retrieve)
        elif not task.cancelled() and (error := task.exception()) is not None:
            failures.append(error)
    return failures


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of an abandoned task as seen (no 'never retrieved' warning)."""
    if not task.cancelled():
        task.exception()
