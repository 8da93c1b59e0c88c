"""Device natures: the small typed contracts the rest of the gateway depends on.

A nature wraps one driver and the poller's latest readings of it. Accessors return a
:class:`~drivers.base.Reading` (value, quality, read_at), so a stale or missing value is
always visible; commands are coroutines with the unit in their name and go through the
driver's range checks (``WriteRejected``).

Sign conventions (one per quantity, everywhere):

- meter ``power_kw``: import from the grid / consumption is positive;
- load ``power_kw``: consumption is positive;
- storage ``power_kw`` and ``power_setpoint_kw``: discharge (into the bus) is positive;
- PV and generator ``power_kw``: generation is positive.

The point names are the canonical names of the shipped profiles. A command whose point the
device's profile lacks raises :class:`NotSupported` (a DriverError naming device and point).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import IntEnum
from types import MappingProxyType
from typing import Any, ClassVar

from drivers.base import DeviceFault, Driver, DriverError, Quality, Reading
from drivers.poller import Poller

NO_READING = Reading(None, Quality.BAD, None)


class NotSupported(DriverError):
    """The device's profile has no point for this accessor or command."""


class GridMode(IntEnum):
    GRID_FOLLOWING = 0
    GRID_FORMING = 1


class Nature:
    """Base: a device id, its driver and the poller that holds its readings."""

    name: ClassVar[str] = ""
    draw_sign: ClassVar[float] = 1.0
    """The sign of the ``power_kw`` point against power drawn from the building bus."""
    shed_writes: ClassVar[Mapping[str, float | bool]] = MappingProxyType({})
    """The point writes that switch the device off when it is shed (none: not sheddable)."""

    def __init__(self, driver: Driver, poller: Poller) -> None:
        self.driver = driver
        self.poller = poller

    @property
    def device_id(self) -> str:
        return self.driver.device_id

    @property
    def fault(self) -> DeviceFault | None:
        return self.poller.fault(self.device_id)

    def has(self, point: str) -> bool:
        return any(p.name == point for p in self.driver.profile.points)

    def reading(self, point: str) -> Reading:
        """Latest reading of a point; BAD without value when the profile lacks it."""
        if not self.has(point):
            return NO_READING
        return self.poller.reading(self.device_id, point)

    async def _command(self, point: str, value: float | int | bool) -> None:
        if not self.has(point):
            raise NotSupported(f"profile {self.driver.profile.name} has no point {point!r}",
                               device_id=self.device_id, point=point, code="not_supported")
        await self.driver.write(point, value)


class Meter(Nature):
    """A revenue or check meter: power, voltages, frequency, energy counters, phase angle."""

    name = "meter"

    @property
    def power_kw(self) -> Reading:
        """Total real power; import (consumption) positive."""
        return self.reading("power_kw")

    @property
    def voltage_a_v(self) -> Reading:
        return self.reading("voltage_a_v")

    @property
    def voltage_b_v(self) -> Reading:
        return self.reading("voltage_b_v")

    @property
    def voltage_c_v(self) -> Reading:
        return self.reading("voltage_c_v")

    @property
    def frequency_hz(self) -> Reading:
        return self.reading("frequency_hz")

    @property
    def energy_import_kwh(self) -> Reading:
        return self.reading("energy_import_kwh")

    @property
    def energy_export_kwh(self) -> Reading:
        return self.reading("energy_export_kwh")

    @property
    def phase_angle_deg(self) -> Reading:
        """Phase A voltage angle against the meter's reference (for sync-check)."""
        return self.reading("phase_angle_deg")


class Load(Meter):
    """A load, usually read through its submeter; optionally switchable or settable."""

    name = "load"

    @property
    def on(self) -> Reading:
        return self.reading("on")

    async def set_on(self, on: bool) -> None:
        await self._command("on", on)

    async def set_power_setpoint_kw(self, power_kw: float) -> None:
        await self._command("power_setpoint_kw", power_kw)


class Storage(Nature):
    """A battery: SoC, power and setpoint (discharge positive), limits, grid mode."""

    name = "storage"
    draw_sign = -1.0  # discharge positive

    @property
    def soc_pct(self) -> Reading:
        return self.reading("soc_pct")

    @property
    def soc_min_pct(self) -> Reading:
        return self.reading("soc_min_pct")

    @property
    def soc_max_pct(self) -> Reading:
        return self.reading("soc_max_pct")

    @property
    def power_kw(self) -> Reading:
        return self.reading("power_kw")

    @property
    def power_setpoint_kw(self) -> Reading:
        return self.reading("power_setpoint_kw")

    @property
    def max_charge_kw(self) -> Reading:
        return self.reading("max_charge_kw")

    @property
    def max_discharge_kw(self) -> Reading:
        return self.reading("max_discharge_kw")

    @property
    def capacity_kwh(self) -> Reading:
        return self.reading("capacity_kwh")

    @property
    def mode(self) -> Reading:
        """GridMode as an int: from ``mode``, else bit 1 of SunSpec 701 DERMode."""
        if self.has("mode"):
            return self.reading("mode")
        der = self.reading("der_mode")
        if der.value is None or not isinstance(der.value, int):
            return der
        return Reading(int(GridMode.GRID_FORMING if der.value & 0b10 else
                           GridMode.GRID_FOLLOWING), der.quality, der.read_at)

    async def set_power_setpoint_kw(self, power_kw: float) -> None:
        """Discharge positive, charge negative; enables the setpoint where the device needs it."""
        if self.has("power_setpoint_mode"):
            await self._command("power_setpoint_mode", 1)
        await self._command("power_setpoint_kw", power_kw)
        if self.has("power_setpoint_enable"):
            await self._command("power_setpoint_enable", 1)

    async def set_mode(self, mode: GridMode) -> None:
        await self._command("mode", int(mode))


class Pv(Nature):
    """A PV inverter: generation positive; curtailment as a percentage of its rating."""

    name = "pv"
    draw_sign = -1.0  # generation positive

    @property
    def power_kw(self) -> Reading:
        return self.reading("power_kw")

    @property
    def curtailment_limit_pct(self) -> Reading:
        return self.reading("curtailment_limit_pct")

    @property
    def curtailment_enabled(self) -> Reading:
        return self.reading("curtailment_enable")

    @property
    def energy_injected_kwh(self) -> Reading:
        return self.reading("energy_injected_kwh")

    async def set_curtailment_limit_pct(self, limit_pct: float) -> None:
        """Limit output to ``limit_pct`` of rating (the device's reversion timer is armed)."""
        await self._command("curtailment_limit_pct", limit_pct)
        if self.has("curtailment_enable"):
            await self._command("curtailment_enable", 1)

    async def release_curtailment(self) -> None:
        if self.has("curtailment_enable"):
            await self._command("curtailment_enable", 0)
        else:
            await self._command("curtailment_limit_pct", 100)


class Generator(Nature):
    name = "generator"
    draw_sign = -1.0  # generation positive

    @property
    def power_kw(self) -> Reading:
        return self.reading("power_kw")

    @property
    def running(self) -> Reading:
        return self.reading("running")

    async def set_running(self, running: bool) -> None:
        await self._command("run", running)

    async def set_power_setpoint_kw(self, power_kw: float) -> None:
        await self._command("power_setpoint_kw", power_kw)


class EvCharger(Nature):
    name = "ev_charger"
    shed_writes = MappingProxyType({"current_limit_a": 0.0})

    @property
    def power_kw(self) -> Reading:
        return self.reading("power_kw")

    @property
    def current_limit_a(self) -> Reading:
        return self.reading("current_limit_a")

    @property
    def plugged_in(self) -> Reading:
        """True while a vehicle is connected (the register's 0/1 as a bool)."""
        raw = self.reading("plugged_in")
        if raw.value is None:
            return raw
        return Reading(bool(raw.value), raw.quality, raw.read_at)

    @property
    def session_energy_kwh(self) -> Reading:
        return self.reading("session_energy_kwh")

    async def set_current_limit_a(self, current_a: float) -> None:
        await self._command("current_limit_a", current_a)


class Breaker(Nature):
    """A breaker with trip/close coils and 52a/52b contacts. Commands are not verified
    here: the islanding controller checks ``closed`` against what it commanded."""

    name = "breaker"

    def __init__(self, driver: Driver, poller: Poller) -> None:
        super().__init__(driver, poller)
        self._opened_by_us = False

    @property
    def closed(self) -> Reading:
        """True closed, False open, BAD when 52a and 52b disagree (both or neither)."""
        a, b = self.reading("status_52a"), self.reading("status_52b")
        if a.value is None:
            return a
        if b.value is None:
            return Reading(bool(a.value), a.quality, a.read_at)
        if bool(a.value) == bool(b.value):
            return Reading(None, Quality.BAD, a.read_at)
        return Reading(bool(a.value), a.quality, a.read_at)

    @property
    def tripped(self) -> Reading:
        """Open without our open command (from a ``tripped`` point when the device has one)."""
        if self.has("tripped"):
            return self.reading("tripped")
        closed = self.closed
        if closed.value is None:
            return closed
        return Reading(not closed.value and not self._opened_by_us, closed.quality,
                       closed.read_at)

    async def open(self) -> None:
        self._opened_by_us = True
        await self._command("trip", True)

    async def close(self) -> None:
        self._opened_by_us = False
        await self._command("close", True)

    async def backup_trip(self) -> None:
        await self._command("backup_trip", True)

    def on_status_change(self, callback: Callable[[str, bool, float], None]) -> Callable[[], None]:
        return _subscribe_edges(self, callback, None)


class GridSense(Nature):
    name = "grid_sense"

    @property
    def grid_present(self) -> Reading:
        return self.reading("grid_present")

    def on_change(self, callback: Callable[[str, bool, float], None]) -> Callable[[], None]:
        """The islanding fast path: ``callback(point, present, monotonic_s)`` in the loop
        on each debounced edge, without waiting for the next poll."""
        return _subscribe_edges(self, callback, "grid_present")


class HvacZone(Nature):
    name = "hvac_zone"
    shed_writes = MappingProxyType({"setpoint_c": 30.0})  # cooling off

    @property
    def zone_temperature_c(self) -> Reading:
        return self.reading("zone_temperature_c")

    @property
    def setpoint_c(self) -> Reading:
        return self.reading("setpoint_c")

    @property
    def fan_status(self) -> Reading:
        return self.reading("fan_status")

    @property
    def power_kw(self) -> Reading:
        return self.reading("power_kw")

    async def set_setpoint_c(self, setpoint_c: float) -> None:
        await self._command("setpoint_c", setpoint_c)


class Lighting(Nature):
    name = "lighting"
    shed_writes = MappingProxyType({"on": False, "level_pct": 0.0})

    @property
    def on(self) -> Reading:
        return self.reading("on")

    @property
    def level_pct(self) -> Reading:
        return self.reading("level_pct")

    @property
    def power_kw(self) -> Reading:
        return self.reading("power_kw")

    async def set_on(self, on: bool) -> None:
        await self._command("on", on)

    async def set_level_pct(self, level_pct: float) -> None:
        await self._command("level_pct", level_pct)


def _subscribe_edges(nature: Nature, callback: Callable[[str, bool, float], None],
                     point: str | None) -> Callable[[], None]:
    subscribe: Any = getattr(nature.driver, "subscribe", None)
    if subscribe is None:
        raise NotSupported("the device's driver has no edge subscription (not GPIO)",
                           device_id=nature.device_id, point=point, code="not_supported")
    unsubscribe: Callable[[], None] = subscribe(callback, point)
    return unsubscribe


NATURES: dict[str, type[Nature]] = {
    cls.name: cls
    for cls in (Meter, Load, Storage, Pv, Generator, EvCharger, Breaker, GridSense, HvacZone,
                Lighting)
}


def build_nature(nature: str, driver: Driver, poller: Poller) -> Nature:
    """The nature object of a device (``nature`` as in the site file)."""
    try:
        return NATURES[nature](driver, poller)
    except KeyError:
        raise ValueError(f"unknown nature {nature!r} (known: {', '.join(NATURES)})") from None
