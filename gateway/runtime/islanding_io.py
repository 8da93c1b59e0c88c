"""Wire the islanding controller to the devices: measurements in, commands out.

:class:`SiteInputs` builds the controller's :class:`Inputs` snapshot from the poller's
latest readings (no I/O); :class:`SiteCommands` carries its commands to the breaker,
storage and load services, switches the market mode, and records transitions and alarms
in the ledger. Device roles come from the site file: the breaker and grid-sense devices by
nature, the PCC meters by ``pcc_side``, sheddable loads from ``islanding.load_shed_order``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from drivers.base import DriverError, Reading
from drivers.clock import Clock
from drivers.poller import Poller
from gateway.config.loader import Site
from gateway.config.site import AgentPreferences
from gateway.islanding.messages import (
    CloseBreaker,
    Command,
    Event,
    FireBackupTrip,
    Inputs,
    MarketMode,
    OpenBreaker,
    RaiseAlarm,
    RestoreLoad,
    SetMarketMode,
    SetPccFlowTarget,
    SetStorageMode,
    ShedLoad,
    StorageMode,
    Transition,
    per_unit,
)
from gateway.runtime.services import DeviceService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteRoles:
    """Which device plays which part at the PCC (ids; None when the site lacks it)."""

    grid_meter: str | None
    bus_meter: str | None
    breaker: str | None
    grid_sense: str | None
    storage: str | None
    sheddable: tuple[str, ...]
    critical: tuple[str, ...]
    producers: tuple[str, ...]

    @classmethod
    def of(cls, site: Site) -> SiteRoles:
        devices = site.config.devices

        def first(predicate: Callable[[object], bool]) -> str | None:
            return next((d.id for d in devices if predicate(d)), None)

        return cls(
            grid_meter=first(lambda d: d.pcc_side == "grid"),  # type: ignore[attr-defined]
            bus_meter=first(lambda d: d.pcc_side == "bus"),  # type: ignore[attr-defined]
            breaker=first(lambda d: d.nature == "breaker"),  # type: ignore[attr-defined]
            grid_sense=first(lambda d: d.nature == "grid_sense"),  # type: ignore[attr-defined]
            storage=first(lambda d: d.nature == "storage"),  # type: ignore[attr-defined]
            sheddable=tuple(site.config.islanding.load_shed_order),
            critical=tuple(d.id for d in devices if d.agent.critical),
            producers=tuple(d.id for d in devices if d.nature in ("pv", "generator")),
        )


def _value(readings: Mapping[str, Reading], point: str) -> float | None:
    reading = readings.get(point)
    if reading is None or not reading.ok or reading.value is None:
        return None
    value = reading.value
    return float(value) if isinstance(value, int | float | bool) else None


MAX_PHASE_AGE_S = 2.0
"""An angle read longer ago than this is not carried forward: a frequency reading 0.01 Hz
off already moves it 7° in 2 s. The sync-check then waits for a fresh reading."""


def _phase_now(readings: Mapping[str, Reading], now: datetime,
               nominal_hz: float) -> float | None:
    """The side's phase angle (against the nominal-frequency reference the meters share)
    carried forward from when it was read to ``now`` at the side's measured frequency;
    None when it is older than :data:`MAX_PHASE_AGE_S`.

    Why: the two meters are read at different moments, and an island that slips 0.02 Hz
    turns 7° a second against the grid; comparing the raw readings of a busy poll cycle
    could let the breaker close well outside the sync-check's window. And an old reading
    must not be used at all: in the demo, the controller once entered resynchronising and
    closed in the same instant on readings taken minutes of clock time earlier (at 1200x),
    130° out of sync."""
    reading = readings.get("phase_angle_deg")
    frequency = _value(readings, "frequency_hz")
    angle = _value(readings, "phase_angle_deg")
    if angle is None or frequency is None or reading is None or reading.read_at is None:
        return None
    age_s = (now - reading.read_at).total_seconds()
    if age_s > MAX_PHASE_AGE_S:
        return None
    return angle + 360.0 * (frequency - nominal_hz) * age_s


def _angle_difference(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return (a - b + 180.0) % 360.0 - 180.0


@dataclass
class SiteInputs:
    """The controller's view of the PCC, built from the latest readings."""

    poller: Poller
    roles: SiteRoles
    services: Mapping[str, DeviceService]
    nominal_voltage_v: float
    nominal_frequency_hz: float
    clock: Clock

    def _readings(self, device_id: str | None) -> Mapping[str, Reading]:
        return self.poller.readings(device_id) if device_id else {}

    def _phases(self, readings: Mapping[str, Reading]) -> tuple[float, ...] | None:
        volts = [_value(readings, f"voltage_{p}_v") for p in "abc"]
        if all(v is None for v in volts):
            return None
        return per_unit(volts, self.nominal_voltage_v)

    def latest(self) -> Inputs:
        grid = self._readings(self.roles.grid_meter)
        bus = self._readings(self.roles.bus_meter)
        breaker = self._readings(self.roles.breaker)
        sense = _value(self._readings(self.roles.grid_sense), "grid_present")
        storage = self._readings(self.roles.storage)
        return Inputs(
            grid_voltage_pu=self._phases(grid),
            grid_frequency_hz=_value(grid, "frequency_hz"),
            island_voltage_pu=self._phases(bus),
            island_frequency_hz=_value(bus, "frequency_hz"),
            phase_angle_diff_deg=self._phase_difference(grid, bus),
            grid_present=None if sense is None else bool(sense),
            breaker_52a=_bool(_value(breaker, "status_52a")),
            breaker_52b=_bool(_value(breaker, "status_52b")),
            pcc_power_kw=_value(bus, "power_kw") if bus else _value(grid, "power_kw"),
            battery_soc_pct=_value(storage, "soc_pct"),
            battery_reserve_soc_pct=self._reserve_soc_pct(),
            island_supply_kw=self._island_supply_kw(storage),
            critical_demand_kw=self._sum_draw(self.roles.critical),
            load_demand_kw=self._load_demand(),
        )

    def _phase_difference(
        self, grid: Mapping[str, Reading], bus: Mapping[str, Reading]
    ) -> float | None:
        """Grid-side minus island-side phase angle, both carried to the same instant."""
        now, nominal = self.clock.now(), self.nominal_frequency_hz
        return _angle_difference(_phase_now(grid, now, nominal), _phase_now(bus, now, nominal))

    def _island_supply_kw(self, storage: Mapping[str, Reading]) -> float | None:
        discharge = _value(storage, "max_discharge_kw")
        if discharge is None:
            return None
        # the battery's island_headroom_pct stays free: the market plans without it too
        storage_agent = self._storage_agent()
        headroom = 0.0 if storage_agent is None else float(storage_agent.island_headroom_pct)
        produced = -(self._sum_draw(self.roles.producers) or 0.0)
        return discharge * (1.0 - headroom / 100.0) + max(0.0, produced)

    def _storage_agent(self) -> AgentPreferences | None:
        service = self.services.get(self.roles.storage or "")
        return None if service is None else service.device.agent

    def _reserve_soc_pct(self) -> float | None:
        storage_agent = self._storage_agent()
        pct = None if storage_agent is None else storage_agent.reserve_soc_pct
        return None if pct is None else float(pct)

    def _sum_draw(self, device_ids: tuple[str, ...]) -> float | None:
        draws = [self.services[d].draw_kw() for d in device_ids if d in self.services]
        known = [d for d in draws if d is not None]
        return sum(known) if known else None

    def _load_demand(self) -> dict[str, float]:
        demand = {}
        for device_id in self.roles.sheddable:
            service = self.services.get(device_id)
            if service is None:
                continue
            draw = service.draw_kw()
            rated = service.device.agent.rated_power_kw or service.device.agent.max_power_kw
            if service.shed and rated is not None:
                demand[device_id] = float(rated)
            elif draw is not None:
                demand[device_id] = max(0.0, draw)
        return demand


def _bool(value: float | None) -> bool | None:
    return None if value is None else bool(value)


EventRecorder = Callable[[Event, datetime], Awaitable[None]]


@dataclass
class SiteCommands:
    """Carries controller commands to the devices, the market mode and the ledger."""

    poller: Poller
    roles: SiteRoles
    services: Mapping[str, DeviceService]
    set_market_islanded: Callable[[bool], None]
    recorder: EventRecorder
    alarms: list[RaiseAlarm] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    pcc_target_kw: float | None = None  # a standing flow target (planned islanding)
    before_breaker: Callable[[], None] | None = None
    """Called just before the PCC breaker (or the backup trip) is operated: the demo slows
    its clock to real time, so the operation is timed and verified in real milliseconds."""
    _steering: bool = False

    async def _write(self, device_id: str | None, point: str, value: float | bool) -> None:
        if device_id is None:
            log.error("islanding: no device for %s; command not carried out", point)
            return
        try:
            await self.poller.driver(device_id).write(point, value)
        except DriverError as err:
            log.error("islanding: %s", err)

    async def execute(self, command: Command) -> None:
        if isinstance(command, OpenBreaker | CloseBreaker | FireBackupTrip) \
                and self.before_breaker is not None:
            self.before_breaker()
        if isinstance(command, OpenBreaker):
            await self._write(self.roles.breaker, "trip", True)
        elif isinstance(command, CloseBreaker):
            await self._write(self.roles.breaker, "close", True)
        elif isinstance(command, FireBackupTrip):
            await self._write(self.roles.breaker, "backup_trip", True)
        elif isinstance(command, SetStorageMode):
            await self._write(self.roles.storage, "mode",
                              1 if command.mode is StorageMode.GRID_FORMING else 0)
        elif isinstance(command, SetPccFlowTarget):
            self.pcc_target_kw = command.target_kw
            await self.steer()
        elif isinstance(command, ShedLoad | RestoreLoad):
            await self._shed(command.device_id, isinstance(command, ShedLoad))
        elif isinstance(command, SetMarketMode):
            self.set_market_islanded(command.mode is MarketMode.ISLANDED)

    async def _shed(self, device_id: str, shed: bool) -> None:
        service = self.services.get(device_id)
        if service is None:
            log.error("islanding: cannot shed unknown device %s", device_id)
            return
        service.shed = shed
        if shed:
            problems = await service.apply_shed()
            for problem in problems:
                log.error("islanding: shedding %s: %s", device_id, problem)

    async def steer(self) -> None:
        """While a PCC flow target stands (planned islanding), move the battery toward it;
        called on the command and again on every new PCC reading."""
        storage = self.roles.storage
        target = self.pcc_target_kw
        if storage is None or target is None or self._steering:
            return
        pcc = self.poller.readings(self.roles.bus_meter or self.roles.grid_meter or "")
        flow = _value(pcc, "power_kw")
        current = _value(self.poller.readings(storage), "power_setpoint_kw") or 0.0
        if flow is None:
            return
        self._steering = True
        try:
            await self._write(storage, "power_setpoint_kw", round(current + flow - target, 3))
        finally:
            self._steering = False

    async def record(self, event: Event, at: datetime) -> None:
        if isinstance(event, RaiseAlarm):
            self.alarms.append(event)
        elif isinstance(event, Transition):
            self.transitions.append(event)
        await self.recorder(event, at)
