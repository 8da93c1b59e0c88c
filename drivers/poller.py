"""Runs every driver on its own poll interval and keeps the latest process image.

One task per device: one ``poll()`` per cycle, a hard timeout around it, a few immediate
retries when the device did not answer, then an exponential back-off so a dead device
costs little and never stalls the others. Readings older than ``STALE_AFTER_INTERVALS``
poll intervals read as ``STALE``. Subscribers hear about every new process image.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType

from drivers.base import (
    DeviceFault,
    Driver,
    FaultLevel,
    FaultTracker,
    Quality,
    Reading,
    bad_readings,
)
from drivers.bounded import bounded, cancel_and_wait
from drivers.clock import Clock

log = logging.getLogger(__name__)

STALE_AFTER_INTERVALS = 3
STOP_TIMEOUT_S = 10.0  # real seconds a driver may take to revert and close
Subscriber = Callable[[str, dict[str, Reading]], None]


@dataclass(frozen=True)
class PollSettings:
    interval_s: float = 1.0
    timeout_s: float = 5.0  # hard limit on one poll() (drivers have their own I/O timeouts)
    retries: int = 1  # immediate retries of a poll that got no answer
    backoff_max_s: float = 30.0  # longest wait between polls of a dead device

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.timeout_s <= 0 or self.retries < 0:
            raise ValueError("interval_s and timeout_s must be positive, retries >= 0")


@dataclass
class _Entry:
    driver: Driver
    settings: PollSettings
    tracker: FaultTracker
    readings: dict[str, Reading] = field(default_factory=dict)
    failures: int = 0
    polls: int = 0
    polled_every_s: float = 0.0  # the interval in force at the last poll (clock seconds)
    task: asyncio.Task[None] | None = None
    first_cycle: asyncio.Event = field(default_factory=asyncio.Event)


class Poller:
    """The polling loop of all devices; ``async with Poller(clock) as poller``."""

    def __init__(self, clock: Clock, *, min_real_interval_s: float = 0.0) -> None:
        """``min_real_interval_s``: no device is polled more often than this in real time,
        whatever the clock's speed (an accelerated HIL day would poll in a busy loop)."""
        self._clock = clock
        self._min_real_interval_s = min_real_interval_s
        self._entries: dict[str, _Entry] = {}
        self._subscribers: list[Subscriber] = []
        self._running = False

    def add(self, driver: Driver, settings: PollSettings | None = None) -> None:
        if driver.device_id in self._entries:
            raise ValueError(f"device {driver.device_id} is already polled")
        entry = _Entry(driver, settings or PollSettings(), FaultTracker(driver.device_id))
        self._entries[driver.device_id] = entry
        if self._running:
            entry.task = asyncio.create_task(self._run(entry), name=f"poll-{driver.device_id}")

    @property
    def drivers(self) -> dict[str, Driver]:
        return {device_id: e.driver for device_id, e in self._entries.items()}

    def driver(self, device_id: str) -> Driver:
        return self._entry(device_id).driver

    # -- the process image ------------------------------------------------------------

    def readings(self, device_id: str) -> dict[str, Reading]:
        """Latest readings of a device, with readings past their age marked STALE."""
        entry = self._entry(device_id)
        # Judged against the interval the reading was polled on: after the clock slows
        # down, a reading taken on the faster schedule is not stale before its time.
        every = max(self._interval_s(entry), entry.polled_every_s)
        limit = timedelta(seconds=every * STALE_AFTER_INTERVALS)
        now = self._clock.now()
        return {
            name: reading.as_stale()
            if reading.quality in (Quality.GOOD, Quality.NO_VALUE)
            and reading.read_at is not None and now - reading.read_at > limit
            else reading
            for name, reading in entry.readings.items()
        }

    def reading(self, device_id: str, point: str) -> Reading:
        """Latest reading of one point; BAD with no value before the first poll."""
        return self.readings(device_id).get(point, Reading(None, Quality.BAD, None))

    def fault(self, device_id: str) -> DeviceFault | None:
        """The device's fault: the driver's own, else the poller's (timeout, crash)."""
        entry = self._entry(device_id)
        return entry.driver.fault or entry.tracker.fault

    def faults(self) -> list[DeviceFault]:
        return [f for device_id in self._entries if (f := self.fault(device_id)) is not None]

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(device_id, readings)`` after every poll; returns unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.gather(*(e.driver.start() for e in self._entries.values()))
        self._running = True
        for entry in self._entries.values():
            entry.task = asyncio.create_task(self._run(entry),
                                             name=f"poll-{entry.driver.device_id}")

    async def stop(self) -> None:
        """Stop polling, then revert and close every driver."""
        self._running = False
        polls = {f"the poll loop of device {e.driver.device_id}": e.task
                 for e in self._entries.values() if e.task is not None}
        for failure in await cancel_and_wait(polls, STOP_TIMEOUT_S):
            log.error("a poll loop had failed: %s", failure)
        for entry in self._entries.values():
            entry.task = None
        await asyncio.gather(*(self._bounded(e.driver.stop(), e.driver.device_id)
                               for e in self._entries.values()), return_exceptions=True)

    @staticmethod
    async def _bounded(operation: Awaitable[None], device_id: str) -> None:
        """A driver that does not finish stopping in time is left behind, not waited for."""
        try:
            await bounded(operation, STOP_TIMEOUT_S, f"stopping device {device_id}")
        except TimeoutError:
            log.error("device %s did not stop within %g s; leaving it", device_id,
                      STOP_TIMEOUT_S)

    async def __aenter__(self) -> Poller:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def first_cycles(self) -> None:
        """Wait until every device's own loop finished its first poll cycle (answered, or
        failed within its timeout and retries), without polling any device a second time."""
        if not self._running:
            raise RuntimeError("the poller is not started; call start() first")
        await asyncio.gather(*(e.first_cycle.wait() for e in self._entries.values()))

    async def poll_now(self, device_id: str) -> dict[str, Reading]:
        """Run one poll cycle of a device outside its schedule (tests, the CLI)."""
        entry = self._entry(device_id)
        await self._cycle(entry)
        return self.readings(device_id)

    # -- the per-device loop ------------------------------------------------------------

    def _interval_s(self, entry: _Entry) -> float:
        """The poll interval in clock seconds, at least the real-time floor at this speed."""
        return max(entry.settings.interval_s, self._clock.speed * self._min_real_interval_s)

    async def _run(self, entry: _Entry) -> None:
        try:
            while True:
                started = self._clock.monotonic()
                await self._cycle(entry)
                interval = self._interval_s(entry)
                if entry.failures:
                    delay = min(interval * 2 ** entry.failures,
                                max(entry.settings.backoff_max_s, interval))
                else:
                    delay = interval - (self._clock.monotonic() - started)
                await self._clock.sleep(max(delay, 0.0))
        finally:
            entry.first_cycle.set()  # a loop that ends (stopped, crashed) leaves no waiter

    async def _cycle(self, entry: _Entry) -> None:
        readings: dict[str, Reading] = {}
        for _attempt in range(entry.settings.retries + 1):
            readings = await self._guarded_poll(entry)
            if not _no_answer(readings):
                break
        entry.polls += 1
        entry.polled_every_s = self._interval_s(entry)
        entry.failures = entry.failures + 1 if _no_answer(readings) else 0
        entry.readings = readings
        entry.first_cycle.set()
        for subscriber in list(self._subscribers):
            try:
                subscriber(entry.driver.device_id, readings)
            except Exception:
                log.exception("poll subscriber failed for device %s", entry.driver.device_id)

    async def _guarded_poll(self, entry: _Entry) -> dict[str, Reading]:
        driver = entry.driver
        try:
            async with asyncio.timeout(entry.settings.timeout_s):
                readings = await driver.poll()
        except TimeoutError:
            entry.tracker.raise_fault(
                FaultLevel.ERROR, "poll_timeout",
                f"a poll took longer than {entry.settings.timeout_s} s; check the link "
                "and the device's response time", self._clock.now())
            return bad_readings(driver.profile, self._clock.now())
        except Exception as err:
            entry.tracker.raise_fault(FaultLevel.ERROR, "driver_crash",
                                      f"the driver failed: {err!r}", self._clock.now())
            log.debug("driver %s crashed", driver.device_id, exc_info=True)
            return bad_readings(driver.profile, self._clock.now())
        entry.tracker.clear()
        return readings

    def _entry(self, device_id: str) -> _Entry:
        try:
            return self._entries[device_id]
        except KeyError:
            raise KeyError(f"no polled device {device_id!r}") from None


def _no_answer(readings: dict[str, Reading]) -> bool:
    return bool(readings) and all(r.quality is Quality.BAD for r in readings.values())
