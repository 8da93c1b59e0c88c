"""The GPIO driver: the only module that imports gpiozero.

Outputs drive breaker trip/close coils (pulsed, ``pulse_ms``) or contactors (maintained);
inputs read status contacts (52a/52b) and the grid-sense relay. gpiozero calls edge
callbacks in its own thread (or the caller's, with the mock factory): they reach asyncio
through ``loop.call_soon_threadsafe``, and debouncing is ours (the mock factory ignores
``bounce_time``): a level counts once it held for ``debounce_ms``.

The pin factory is chosen by the ``pin_factory`` option (a gpiozero Factory or a name
such as ``mock`` or ``lgpio``), else by ``GPIOZERO_PIN_FACTORY``, else gpiozero's default.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from gpiozero import DigitalInputDevice, DigitalOutputDevice, GPIOZeroError
from gpiozero.pins import Factory

from drivers import factory
from drivers.base import (
    DeviceFault,
    DriverError,
    FaultLevel,
    FaultTracker,
    Quality,
    Reading,
    WriteRejected,
    bad_readings,
    check_write,
)
from drivers.clock import Clock
from drivers.connection import GpioConnection
from drivers.profile import GpioPoint, GpioProfile

log = logging.getLogger(__name__)

EdgeCallback = Callable[[str, bool, float], None]  # point, new level, monotonic time (s)


def pin_factory_named(name: str) -> Factory:
    """A gpiozero pin factory by its entry-point name (``mock``, ``lgpio``, ``native`` ...)."""
    for entry in entry_points(group="gpiozero_pin_factories"):
        if entry.name == name.lower():
            made: Factory = entry.load()()
            return made
    raise DriverError(f"unknown GPIO pin factory {name!r}", code="config")


class GpioDriver:
    """Driver of one GPIO device (a set of pins named by role in the site file)."""

    def __init__(self, device_id: str, profile: GpioProfile, connection: GpioConnection,
                 clock: Clock, *, pin_factory: Factory | str | None = None) -> None:
        self.device_id = device_id
        self.profile = profile
        self._connection = connection
        self._clock = clock
        self._factory_option = pin_factory
        self._tracker = FaultTracker(device_id)
        self._inputs: dict[str, DigitalInputDevice] = {}
        self._outputs: dict[str, DigitalOutputDevice] = {}
        self._levels: dict[str, bool] = {}  # debounced input levels and output states
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._pulses: dict[str, asyncio.TimerHandle] = {}
        self._subscribers: list[tuple[str | None, EdgeCallback]] = []
        self._commanded: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    @property
    def fault(self) -> DeviceFault | None:
        return self._tracker.fault

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        try:
            pins = self._open()
        except DriverError as err:
            self._close_devices()
            self._tracker.raise_fault(FaultLevel.ERROR, err.code, str(err), self._clock.now())
            return
        self._started = True
        self._tracker.clear()
        log.debug("device %s: GPIO pins %s", self.device_id, pins)

    def _open(self) -> dict[str, int]:
        option = self._factory_option
        pin_factory = pin_factory_named(option) if isinstance(option, str) else option
        pins = {}
        for point in self.profile.points:
            pin = self._connection.pins.get(point.role)
            if pin is None:
                raise DriverError(f"no pin given for role {point.role!r}", point=point.name,
                                  code="config")
            pins[point.name] = pin
            try:
                if point.direction == "output":
                    self._outputs[point.name] = DigitalOutputDevice(
                        pin, active_high=self._connection.active_high, initial_value=False,
                        pin_factory=pin_factory)
                    self._levels[point.name] = False
                else:
                    self._open_input(point, pin, pin_factory)
            except (GPIOZeroError, OSError, RuntimeError) as err:
                raise DriverError(f"cannot open GPIO pin {pin} ({point.role}): {err}",
                                  device_id=self.device_id, point=point.name, address=pin,
                                  code="gpio_unavailable") from err
        return pins

    def _open_input(self, point: GpioPoint, pin: int, pin_factory: Factory | None) -> None:
        # inputs come through an interface board that drives both levels: no internal pull
        device = DigitalInputDevice(pin, pull_up=None,
                                    active_state=self._connection.active_high,
                                    pin_factory=pin_factory)
        self._inputs[point.name] = device
        self._levels[point.name] = bool(device.value)
        device.when_activated = lambda: self._from_thread(point.name)
        device.when_deactivated = lambda: self._from_thread(point.name)

    async def stop(self) -> None:
        if not self._started:
            self._close_devices()
            return
        await self.revert()
        self._started = False
        self._close_devices()

    def _close_devices(self) -> None:
        for handle in [*self._pending.values(), *self._pulses.values()]:
            handle.cancel()
        self._pending.clear()
        self._pulses.clear()
        for device in [*self._inputs.values(), *self._outputs.values()]:
            device.close()
        self._inputs.clear()
        self._outputs.clear()

    async def revert(self) -> None:
        """Pulses end; maintained outputs we drove return to their safe default."""
        for name, device in self._outputs.items():
            point: GpioPoint = self.profile.point(name)
            if point.pulse_ms is not None:
                if name in self._pulses:
                    self._pulses.pop(name).cancel()
                    self._set_output(name, device, False)
            elif name in self._commanded and point.safe_default is not None:
                self._set_output(name, device, bool(point.safe_default))
        self._commanded.clear()

    # -- reading ------------------------------------------------------------------------

    async def poll(self) -> dict[str, Reading]:
        now = self._clock.now()
        if not self._started:
            await self.start()
            if not self._started:
                return bad_readings(self.profile, now)
        return {name: Reading(level, Quality.GOOD, now) for name, level in self._levels.items()}

    def subscribe(self, callback: EdgeCallback, point: str | None = None) -> Callable[[], None]:
        """Call ``callback(point, level, monotonic_s)`` in the loop on each debounced edge
        of an input (of ``point`` only, when given); returns unsubscribe."""
        entry = (point, callback)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry)

    def _from_thread(self, name: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._edge, name)

    def _edge(self, name: str) -> None:
        """A raw edge: (re)start the debounce window of the input."""
        device = self._inputs.get(name)
        if device is None or self._loop is None:
            return
        if name in self._pending:
            self._pending.pop(name).cancel()
        debounce_s = self.profile.point(name).debounce_ms / 1000
        if debounce_s == 0:
            self._settle(name)
        else:
            self._pending[name] = self._loop.call_later(debounce_s, self._settle, name)

    def _settle(self, name: str) -> None:
        self._pending.pop(name, None)
        device = self._inputs.get(name)
        if device is None:
            return
        level = bool(device.value)
        if level == self._levels.get(name):
            return  # a bounce that came back
        self._levels[name] = level
        at = time.monotonic()
        for point, callback in list(self._subscribers):
            if point in (None, name):
                try:
                    callback(name, level, at)
                except Exception:
                    log.exception("GPIO edge subscriber failed on %s.%s", self.device_id, name)

    # -- writing ------------------------------------------------------------------------

    async def write(self, point: str, value: float | int | bool) -> None:
        check_write(self.profile, self.device_id, point, value)
        device = self._outputs.get(point)
        if device is None:
            if point in self._inputs or not self._started:
                raise WriteRejected("an input pin cannot be written" if point in self._inputs
                                    else "the GPIO device is not open",
                                    device_id=self.device_id, point=point, code="read_only")
            raise WriteRejected("unknown output", device_id=self.device_id, point=point,
                                code="unknown_point")
        spec: GpioPoint = self.profile.point(point)
        level = bool(value)
        if spec.pulse_ms is not None and level:
            self._pulse(point, device, spec.pulse_ms / 1000)
        else:
            if point in self._pulses:
                self._pulses.pop(point).cancel()
            self._set_output(point, device, level)
        self._commanded.add(point)

    def _pulse(self, name: str, device: DigitalOutputDevice, seconds: float) -> None:
        """Energise a coil for ``seconds`` (real time: a coil does not run on a sim clock)."""
        assert self._loop is not None
        if name in self._pulses:
            self._pulses.pop(name).cancel()
        self._set_output(name, device, True)

        def end() -> None:
            self._pulses.pop(name, None)
            self._set_output(name, device, False)

        self._pulses[name] = self._loop.call_later(seconds, end)

    def _set_output(self, name: str, device: DigitalOutputDevice, level: bool) -> None:
        try:
            if level:
                device.on()
            else:
                device.off()
        except GPIOZeroError as err:
            raise DriverError(f"cannot drive output: {err}", device_id=self.device_id,
                              point=name, code="gpio_unavailable") from err
        self._levels[name] = level

    def pulse_active(self, point: str) -> bool:
        return point in self._pulses


def build_gpio_driver(device_id: str, connection: Any, profile: Any, clock: Clock,
                      **options: Any) -> GpioDriver:
    """Factory entry: option ``pin_factory`` (a gpiozero Factory or a factory name)."""
    if not isinstance(profile, GpioProfile):
        raise ValueError(f"device {device_id}: profile {profile.name} is not a GPIO profile")
    return GpioDriver(device_id, profile, connection, clock, **options)


factory.register("gpio", build_gpio_driver)
