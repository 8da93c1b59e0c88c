"""The thin async shell around :class:`IslandingController`.

It owns no decision: it reads the latest measurements from an :class:`InputSource`, calls
``controller.step`` with the clock's monotonic time, and hands the outputs to a
:class:`CommandSink` — device commands first, in order, then events (transitions and
alarms), so a ledger write never delays a breaker command.

A step runs on every poll tick (``poll_period_s`` of clock time, so pickup and delay
timers advance even when nothing new arrives), whenever the runtime signals a new
measurement (:meth:`IslandingService.measurement_arrived`), and at once on a grid-sense
edge (:meth:`IslandingService.grid_sense_changed`, which fits ``GridSense.on_change``) —
the fast path for losing the grid.
These two methods must be called on the event loop's thread; a driver that sees the edge
in another thread uses ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from drivers.clock import Clock
from gateway.islanding.controller import IslandingController
from gateway.islanding.messages import (
    COMMAND_TYPES,
    Command,
    Event,
    Inputs,
    OperatorCommand,
    Output,
    RaiseAlarm,
    RequestResult,
    Transition,
)

log = logging.getLogger(__name__)

DEFAULT_POLL_PERIOD_S = 0.1


class InputSource(Protocol):
    """Where the measurements come from: PCC meter, breaker contacts, grid sense, storage.

    ``latest()`` returns the newest snapshot at once (no I/O): the runtime keeps it up to
    date from the drivers' readings and leaves a field ``None`` when its reading is
    missing or stale.
    """

    def latest(self) -> Inputs: ...


class CommandSink(Protocol):
    """Where the outputs go. ``execute`` drives a device; ``record`` writes the ledger.

    ``execute`` should return once the command is sent (not once it took effect: the
    controller verifies breaker moves through the status contacts itself). ``record``
    gets the wall time matching the event's ``at_s``.
    """

    async def execute(self, command: Command) -> None: ...

    async def record(self, event: Event, at: datetime) -> None: ...


class IslandingService:
    """Runs the controller against a clock, an input source and a command sink."""

    def __init__(
        self,
        controller: IslandingController,
        clock: Clock,
        source: InputSource,
        sink: CommandSink,
        *,
        poll_period_s: float = DEFAULT_POLL_PERIOD_S,
        min_real_period_s: float = 0.0,
    ) -> None:
        """``min_real_period_s``: the tick never comes more often than this in real time
        (an accelerated clock would otherwise tick in a busy loop)."""
        if poll_period_s <= 0:
            raise ValueError(f"poll_period_s must be positive, got {poll_period_s}")
        self._controller = controller
        self._clock = clock
        self._source = source
        self._sink = sink
        self._poll_period_s = poll_period_s
        self._min_real_period_s = min_real_period_s
        self._wake = asyncio.Event()
        self._edge_present: bool | None = None
        self._lock = asyncio.Lock()

    @property
    def controller(self) -> IslandingController:
        return self._controller

    def measurement_arrived(self) -> None:
        """A new measurement is in the source: step without waiting for the tick."""
        self._wake.set()

    def grid_sense_changed(self, point: str, present: bool, monotonic_s: float) -> None:
        """A debounced grid-sense edge: step at once (losing the grid must not wait).

        The signature matches ``drivers.natures.GridSense.on_change``. The edge's value is
        used for the very next step even if the polled reading has not caught up yet.
        """
        self._edge_present = bool(present)
        self._wake.set()

    def request(self, command: OperatorCommand) -> RequestResult:
        """Operator command (planned island / reconnect, lockout reset); acted on at once."""
        result = self._controller.request(command)
        if result.accepted:
            self._wake.set()
        return result

    async def run(self) -> None:
        """Step on every tick and every wake-up until cancelled."""
        while True:
            await self.step()
            await self._wait_for_tick_or_wake()

    async def step(self) -> list[Output]:
        """One controller step on the latest inputs; its outputs, already carried out."""
        async with self._lock:
            self._wake.clear()
            now_s, wall = self._clock.monotonic(), self._clock.now()
            inputs = self._read_inputs()
            if self._edge_present is not None:
                inputs = replace(inputs, grid_present=self._edge_present)
                self._edge_present = None
            outputs = self._controller.step(now_s, inputs)
            for output in outputs:
                if isinstance(output, COMMAND_TYPES):
                    await self._execute(output)
            for output in outputs:
                if isinstance(output, RaiseAlarm | Transition):
                    await self._record(output, wall - timedelta(seconds=now_s - output.at_s))
            return outputs

    def _read_inputs(self) -> Inputs:
        try:
            return self._source.latest()
        except Exception:
            log.exception("islanding: reading inputs failed; stepping with no measurements")
            return Inputs()

    async def _execute(self, command: Command) -> None:
        try:
            await self._sink.execute(command)
        except Exception:
            # The controller verifies breaker moves itself; a lost command shows up there.
            log.exception("islanding: command %s could not be sent", command)

    async def _record(self, event: Event, at: datetime) -> None:
        try:
            await self._sink.record(event, at)
        except Exception:
            log.exception("islanding: recording %s failed", event)

    async def _wait_for_tick_or_wake(self) -> None:
        period = max(self._poll_period_s, self._clock.speed * self._min_real_period_s)
        tick = asyncio.ensure_future(self._clock.sleep(period))
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({tick, wake}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (tick, wake):
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
