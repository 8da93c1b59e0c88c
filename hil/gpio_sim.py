"""Simulated GPIO devices on gpiozero's mock pins: a PCC breaker and a grid-sense relay.

Inputs of the gateway (status contacts, grid sense) are driven from the device state;
outputs the gateway drives (trip/close coils, contactors) are watched and reported with
``state.client_write(point, level)``. A breaker-nature device also has a mechanism: a
trip pulse opens it after ``operate_s`` unless ``state["fails_to_open"]``, a close pulse
closes it unless ``state["fails_to_close"]``; ``state["closed"]`` is the main contacts'
position and the 52a/52b contacts follow it. The physics may set ``closed`` directly
(a protection trip, a manual operation).

Start the simulator before the gateway's GPIO driver opens its pins (the simulator claims
the mock pins first):

    async with GpioSimulator(profile, state, pins, factory, clock):
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

from drivers.clock import Clock
from drivers.profile import GpioProfile
from hil.state import DeviceState

SYNC_PERIOD_S = 0.005


class WatchedPin(MockPin):  # type: ignore[misc]
    """A mock pin that reports the changes the gateway makes to it as an output."""

    def __init__(self, factory: Any, info: Any, on_change: Callable[[bool], None] | None = None
                 ) -> None:
        super().__init__(factory, info)
        self.on_change = on_change

    def _change_state(self, value: bool) -> bool:
        changed = bool(super()._change_state(value))
        if changed and self._function == "output" and self.on_change is not None:
            self.on_change(bool(value))
        return changed


class GpioSimulator:
    """One GPIO device of the simulated building, on a MockFactory's pins."""

    def __init__(self, profile: GpioProfile, state: DeviceState, pins: dict[str, int],
                 pin_factory: MockFactory, clock: Clock, operate_s: float = 0.05) -> None:
        self.profile = profile
        self.state = state
        self.operate_s = operate_s
        self._clock = clock
        self._factory = pin_factory
        self._pins: dict[str, MockPin] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sync: asyncio.Task[None] | None = None
        self._is_breaker = profile.nature == "breaker"
        for point in profile.points:
            pin = pins[point.role]
            if point.direction == "output":
                self._pins[point.name] = pin_factory.pin(
                    pin, pin_class=WatchedPin, on_change=self._output_handler(point.name))
            else:
                self._pins[point.name] = pin_factory.pin(pin)
        if self._is_breaker:
            state.values.setdefault("closed", True)
            state.values.setdefault("fails_to_open", False)
            state.values.setdefault("fails_to_close", False)
        for point in profile.points:
            if point.direction == "input":
                state.values.setdefault(point.name, point.name == "grid_present")

    async def __aenter__(self) -> GpioSimulator:
        self.sync()
        self._sync = asyncio.create_task(self._sync_loop(),
                                         name=f"gpio-sim-{self.state.device_id}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._sync] if self._sync else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._sync = None

    def pin(self, point: str) -> MockPin:
        return self._pins[point]

    # -- state -> input pins ------------------------------------------------------------

    def sync(self) -> None:
        """Drive every input pin from the state (52a/52b from ``closed`` for a breaker)."""
        if self._is_breaker:
            closed = bool(self.state.get("closed"))
            self.state.values["status_52a"] = closed
            self.state.values["status_52b"] = not closed
        for point in self.profile.points:
            if point.direction != "input":
                continue
            pin = self._pins[point.name]
            if pin.function != "input":
                continue
            if bool(self.state.get(point.name)):
                pin.drive_high()
            else:
                pin.drive_low()

    async def _sync_loop(self) -> None:
        # a real-time scan of the state (DeviceState.set does not notify): a fast
        # ScaledClock must not turn it into a busy loop, a ManualClock must not stop it
        while True:
            self.sync()
            await asyncio.sleep(SYNC_PERIOD_S)

    # -- output pins -> state -----------------------------------------------------------

    def _output_handler(self, name: str) -> Callable[[bool], None]:
        def handler(level: bool) -> None:
            self.state.client_write(name, level)
            if level and self._is_breaker and name in ("trip", "close"):
                self._spawn(self._operate(opening=name == "trip"))
        return handler

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _operate(self, opening: bool) -> None:
        if self.state.get("fails_to_open" if opening else "fails_to_close"):
            return
        await self._clock.sleep(self.operate_s)
        self.state.set("closed", not opening)
        self.sync()
