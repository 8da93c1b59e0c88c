"""The clocks the whole rig waits on."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from drivers.clock import ManualClock, ScaledClock

START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)


async def test_manual_clock_wakes_sleepers_in_order() -> None:
    clock = ManualClock(START)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper("b", 5)), asyncio.create_task(sleeper("a", 2))]
    await asyncio.sleep(0)
    await clock.advance(3)
    assert woke == [("a", 2.0)]
    await clock.advance(3)
    await asyncio.gather(*tasks)
    assert woke == [("a", 2.0), ("b", 5.0)]
    assert clock.now() == START + timedelta(seconds=6)


async def test_scaled_clock_runs_faster_than_real_time() -> None:
    clock = ScaledClock(START, speed=1000)
    await clock.sleep(50)  # 50 simulated seconds = 50 ms real
    assert clock.monotonic() >= 50
    assert clock.now() >= START + timedelta(seconds=50)


def test_clocks_refuse_naive_start() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        ScaledClock(datetime(2026, 1, 1), speed=2)


async def test_scaled_clock_hold_stops_time_until_release() -> None:
    clock = ScaledClock(START, speed=1000)
    clock.hold()
    held = clock.monotonic()
    await asyncio.sleep(0.02)
    assert clock.monotonic() == held
    clock.release()
    await clock.sleep(10)
    assert held + 10 <= clock.monotonic() < held + 1000


async def test_scaled_clock_speed_change_keeps_time_continuous() -> None:
    clock = ScaledClock(START, speed=1000)
    await clock.sleep(20)
    before = clock.monotonic()
    clock.set_speed(10)
    after = clock.monotonic()
    assert 0 <= after - before < 1
    await clock.sleep(0.5)  # 50 ms real at 10x
    assert before + 0.5 <= clock.monotonic() < before + 20


async def test_a_scaled_sleep_lasts_its_clock_time_when_the_speed_changes() -> None:
    """A poll loop asleep for 10 clock seconds while the demo ran in real time wakes soon
    after the demo speeds up again, not 10 real seconds later."""
    clock = ScaledClock(START, speed=1)
    began, real = clock.monotonic(), time.monotonic()
    sleeper = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0.02)
    clock.set_speed(1000)
    await asyncio.wait_for(sleeper, timeout=2)
    assert time.monotonic() - real < 1.0
    assert clock.monotonic() >= began + 10
    # and slowed down, a short sleep still lasts its clock seconds
    clock.set_speed(1000)
    began = clock.monotonic()
    sleeper = asyncio.create_task(clock.sleep(2))
    await asyncio.sleep(0)
    clock.set_speed(20)
    await sleeper
    assert clock.monotonic() >= began + 2


async def test_a_sleep_on_a_held_clock_still_returns() -> None:
    clock = ScaledClock(START, speed=1000)
    clock.hold()
    held = clock.monotonic()
    await asyncio.wait_for(clock.sleep(10), timeout=1)  # 10 ms real at 1000x
    assert clock.monotonic() == held
