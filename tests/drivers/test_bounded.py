"""``bounded``: a stop that ignores its cancellation cannot hang the caller."""

from __future__ import annotations

import asyncio
import time

import pytest

from drivers.bounded import bounded, cancel_and_wait


async def test_a_prompt_result_comes_back() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await bounded(answer(), 1.0, "answer") == 42


async def test_a_call_that_swallows_its_cancellation_is_left_behind_in_bounded_time() -> None:
    finished = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)  # unwinds slowly, as a library closing a dead socket
        finished.set()

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="stubborn stop"):
        await bounded(stubborn(), 0.05, "stubborn stop")
    assert time.monotonic() - started < 0.4, "neither wait_for nor timeout() would return here"
    assert not finished.is_set()
    await asyncio.wait_for(finished.wait(), 2)  # it ends on its own later (no task leaks)
    await asyncio.sleep(0)


async def test_cancel_and_wait_stops_what_stops_and_reports_what_failed() -> None:
    async def forever() -> None:
        await asyncio.sleep(10)

    async def failed() -> None:
        raise RuntimeError("poll loop crashed")

    crashed = asyncio.create_task(failed())
    await asyncio.sleep(0)
    tasks = {"sleeper": asyncio.create_task(forever()), "crashed": crashed}
    failures = await cancel_and_wait(tasks, 1.0)
    assert [str(f) for f in failures] == ["poll loop crashed"]
    assert tasks["sleeper"].cancelled()
