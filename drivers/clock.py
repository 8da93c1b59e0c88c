"""Time sources for everything that waits or reads the time.

The gateway and the HIL rig never call ``time.time()``, ``datetime.now()`` or
``asyncio.sleep()`` directly: they take a :class:`Clock`. The same code then runs live
(:class:`RealClock`), accelerated (:class:`ScaledClock`, N× real time) or stepped by a
test or a physics loop as fast as the CPU allows (:class:`ManualClock`).

All times are timezone-aware UTC datetimes; ``monotonic()`` is seconds on the clock's
own timeline (simulated seconds for the simulated clocks).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What a waiting component needs from time."""

    def now(self) -> datetime:
        """Current wall time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a steady timeline (never jumps back)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    @property
    def speed(self) -> float:
        """Clock seconds per real second (1 for real time; 0 means stepped by hand)."""
        ...


class RealClock:
    """Wall time and real sleeps."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Simulated time that runs ``speed`` times faster than real time from ``start``.

    Network I/O in between keeps working, because waits are real (only shorter), so the
    whole rig — protocol servers, drivers, the market loop — can run a day in minutes.

    A sleep lasts its seconds of *clock* time even when the speed changes meanwhile: a
    poll loop that went to sleep for 60 s while the demo ran in real time (to operate the
    breaker) wakes within half a second of real time once the demo is fast again, instead
    of 60 real seconds later with every reading of it stale.
    """

    def __init__(self, start: datetime, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock start must be timezone-aware")
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._start = start.astimezone(UTC)
        self._speed = float(speed)
        self._real0 = time.monotonic()
        self._held: float | None = None
        self._speed_changed = asyncio.Event()

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; clock time runs on without a jump."""
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        elapsed = self.monotonic()
        self._speed = float(speed)
        if self._held is None:
            self._real0 = time.monotonic() - elapsed / self._speed
        else:
            self._held = elapsed
        self._speed_changed.set()  # wake the sleepers: their real wait is now different
        self._speed_changed = asyncio.Event()

    def hold(self) -> None:
        """Stop time (e.g. while a rig and a gateway start up); sleeps still return."""
        if self._held is None:
            self._held = self.monotonic()

    def release(self) -> None:
        """Let time run on from where :meth:`hold` stopped it."""
        if self._held is not None:
            self._real0 = time.monotonic() - self._held / self._speed
            self._held = None

    def monotonic(self) -> float:
        if self._held is not None:
            return self._held
        return (time.monotonic() - self._real0) * self._speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        if self._held is not None:  # time stands still: the wait is real, as at this speed
            await asyncio.sleep(max(0.0, seconds) / self._speed)
            return
        until = self.monotonic() + max(0.0, seconds)
        while (left := until - self.monotonic()) > 0 and self._held is None:
            changed = self._speed_changed
            try:
                async with asyncio.timeout(left / self._speed):
                    await changed.wait()
            except TimeoutError:
                pass


class ManualClock:
    """Time that moves only when :meth:`advance` is called.

    Sleepers wake in due order as time passes them; used by pure simulations (physics at
    maximum speed) and by tests that must be deterministic.
    """

    speed = 0.0

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers, (self._elapsed + max(0.0, seconds), next(self._order), future)
        )
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose deadline is passed, in order."""
        target = self._elapsed + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, future = heapq.heappop(self._sleepers)
            self._elapsed = max(self._elapsed, due)
            if not future.done():
                future.set_result(None)
            await asyncio.sleep(0)
        self._elapsed = target
