"""The building's electrical bus, balanced at every fixed step.

Per step: the timeline's events are applied at their boundaries, every device states its
demand (or what it can supply), then the bus balances — tied to the grid, the grid takes
the residual; islanded, the grid-forming battery takes it within its power and energy
limits (surplus PV is curtailed through the island's frequency rise), and beyond them the
island collapses: voltage and frequency go to zero, every load drops, and the battery
retries a black start after a short delay. Then the devices commit (temperatures, state
of charge, energies) and the meters report. Plain floats only: a day of 1-s steps must run
in seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hil.physics.battery import GRID_FORMING, Battery
from hil.physics.breaker import PccBreaker
from hil.physics.ev import EvCharger
from hil.physics.events import Timeline
from hil.physics.grid import UtilityGrid, wrap_deg
from hil.physics.hvac import HvacZone
from hil.physics.lighting import Lighting
from hil.physics.loads import ShapedLoad
from hil.physics.meters import Meter
from hil.physics.pv import PvArray
from hil.state import BuildingState, DeviceState

LOSS_FRACTION = 0.01  # wiring and transformer losses, fraction of the load served
BUS_VOLTAGE_DROP_PU_PER_KW = 0.00005  # ~0.75 % at the 150 kW import limit
ISLAND_FREQUENCY_OFFSET_HZ = 0.01  # the island's free-running offset: slow phase drift
ISLAND_DROOP_HZ = 0.10  # frequency droop at full battery discharge
ISLAND_VOLTAGE_DROOP_PU = 0.01
ISLAND_NOISE_PU = 0.001
BLACK_START_DELAY_S = 2.0
# IEEE 1547-2018 Table 5 synchronisation limits for up to 500 kVA of DER: a closure beyond
# them is counted (a real one would stress or trip the equipment)
SYNC_LIMIT_DEG = 20.0
SYNC_LIMIT_HZ = 0.3
SYNC_LIMIT_PU = 0.10


@dataclass
class BusFlows:
    """The last step's power flows; supply = grid + pv + battery = load + losses."""

    grid_kw: float = 0.0  # import positive
    pv_kw: float = 0.0
    battery_kw: float = 0.0  # discharge positive
    load_kw: float = 0.0
    losses_kw: float = 0.0
    pv_curtailed_kw: float = 0.0
    energized: bool = True
    connected: bool = True


@dataclass
class Devices:
    """The simulated devices of a site, by kind (what the physics iterates over)."""

    breaker: PccBreaker
    grid_sense: DeviceState | None
    pcc_meter: Meter | None
    bus_meter: Meter | None
    battery: Battery | None
    pv: list[PvArray] = field(default_factory=list)
    loads: list[tuple[ShapedLoad, Meter]] = field(default_factory=list)
    zones: list[HvacZone] = field(default_factory=list)
    lighting: list[Lighting] = field(default_factory=list)
    chargers: list[EvCharger] = field(default_factory=list)


class BuildingPhysics:
    """Grid, breaker and devices of one building, advanced ``timeline.step_s`` at a time."""

    def __init__(
        self,
        timeline: Timeline,
        state: BuildingState,
        devices: Devices,
        grid: UtilityGrid,
        zone: ZoneInfo,
        rng: random.Random,
    ) -> None:
        self.timeline = timeline
        self.state = state
        self.devices = devices
        self.grid = grid
        self.rng = rng
        self.step_s = timeline.step_s
        self.t = 0.0
        self.steps = 0
        self.flows = BusFlows()
        self.island_phase_deg = 0.0
        self.island_frequency_hz = grid.nominal_frequency_hz
        self.bus_voltage_pu = 1.0
        self.log: list[tuple[float, str]] = []
        start_local = timeline.start.astimezone(zone)
        self._second_of_day0 = (
            start_local.hour * 3600 + start_local.minute * 60 + start_local.second
        )
        self._changes = timeline.change_times()
        self._change_index = 0
        self._restart_at = 0.0
        self.out_of_sync_closures = 0
        self._apply_events(0.0)
        self._publish_initial()

    @property
    def now(self) -> datetime:
        return self.timeline.start + timedelta(seconds=self.t)

    @property
    def finished(self) -> bool:
        return self.t >= self.timeline.duration_s - 1e-9

    def second_of_day(self, t: float) -> float:
        return (self._second_of_day0 + t) % 86400.0

    def _apply_events(self, t: float) -> None:
        changes = self._changes
        while self._change_index < len(changes) and changes[self._change_index] <= t:
            self._change_index += 1
        devices = self.devices
        self.grid.apply_events(t)
        devices.breaker.apply_faults(t)
        for pv in devices.pv:
            pv.apply_events(t)
        for charger in devices.chargers:
            charger.apply_events(t)

    def _publish_initial(self) -> None:
        """Meters show the grid before the first step (a client may read at once)."""
        grid = self.grid
        voltage = 1.0 if grid.present else 0.0
        frequency = grid.nominal_frequency_hz if grid.present else 0.0
        devices = self.devices
        for meter in (devices.pcc_meter, devices.bus_meter):
            if meter is not None:
                meter.update(0.0, voltage, frequency, grid.phase_deg, 0.0)
        for _, meter in devices.loads:
            meter.update(0.0, voltage, frequency, grid.phase_deg, 0.0)
        if devices.grid_sense is not None:
            devices.grid_sense.values["grid_present"] = grid.present

    def carry_phases(self, now_s: float) -> None:
        """Meters show their phase angle at ``now_s`` (physics time, at most a step after
        :attr:`t`), turned on at their own frequency: at a slip of 0.07 Hz a whole step is
        25°, more than the sync-check's window."""
        since = max(0.0, now_s - self.t)
        devices = self.devices
        nominal = self.grid.nominal_frequency_hz
        for meter in (devices.pcc_meter, devices.bus_meter, *(m for _, m in devices.loads)):
            if meter is not None:
                meter.carry_phase(since, nominal)

    def _check_synchronism(self, t: float, dt: float, grid_phase_before: float) -> None:
        """The island meets the grid: log the differences, count an out-of-sync closure.

        The breaker closed somewhere in this step: both sides are compared at its middle
        (the grid has already been stepped to ``t + dt``, the island not yet). Comparing
        the grid at the step's end with the island at its start was off by the island's
        whole turn in a step (up to 18° at its +0.05 Hz), which once counted a 10° close
        as 21°."""
        grid = self.grid
        island_mid = self.island_phase_deg + 180.0 * (
            self.island_frequency_hz - grid.nominal_frequency_hz) * dt
        grid_mid = grid_phase_before + wrap_deg(grid.phase_deg - grid_phase_before) / 2.0
        angle = abs(wrap_deg(island_mid - grid_mid))
        slip = abs(self.island_frequency_hz - grid.frequency_hz)
        voltage = abs(self.bus_voltage_pu - grid.voltage_pu)
        in_sync = angle <= SYNC_LIMIT_DEG and slip <= SYNC_LIMIT_HZ and voltage <= SYNC_LIMIT_PU
        if not in_sync:
            self.out_of_sync_closures += 1
        self.log.append((t, f"island tied to the grid {'in' if in_sync else 'OUT OF'} sync: "
                            f"angle {angle:.1f} deg, slip {slip:.3f} Hz, "
                            f"voltage {100 * voltage:.1f} %"))

    def run(self, seconds: float) -> None:
        """Advance ``seconds`` of simulated time (a whole number of steps)."""
        for _ in range(round(seconds / self.step_s)):
            self.step()

    def step(self) -> None:
        t = self.t
        dt = self.step_s
        changes = self._changes
        if self._change_index < len(changes) and changes[self._change_index] <= t:
            self._apply_events(t)
        devices = self.devices
        grid = self.grid
        breaker = devices.breaker
        battery = devices.battery
        second = (self._second_of_day0 + t) % 86400.0

        grid_phase_before = grid.phase_deg
        grid.step(t, dt)
        breaker.step(t, dt)

        load_kw = 0.0
        for load, _ in devices.loads:
            load_kw += load.demand(second, dt)
        for zone in devices.zones:
            load_kw += zone.demand(second)
        for light in devices.lighting:
            load_kw += light.demand()
        for charger in devices.chargers:
            load_kw += charger.demand(t, dt)
        pv_available = 0.0
        for pv in devices.pv:
            pv_available += pv.available(t, second, dt)
        following_kw = battery.following_power(t, dt) if battery is not None else 0.0
        losses_kw = LOSS_FRACTION * load_kw

        flows = self.flows
        was_energized = flows.energized
        connected = breaker.connected
        if connected and not flows.connected and was_energized and grid.present:
            self._check_synchronism(t, dt, grid_phase_before)
        pv_kw = pv_available
        battery_kw = 0.0
        grid_kw = 0.0
        energized = False
        if connected and grid.present:
            energized = True
            battery_kw = following_kw
            grid_kw = load_kw + losses_kw - pv_kw - battery_kw
        elif (
            not connected
            and battery is not None
            and battery.device.values.get("mode") == GRID_FORMING
            and t >= self._restart_at
        ):
            residual = load_kw + losses_kw - pv_available
            discharge = battery.discharge_limit_kw(dt)
            charge = battery.charge_limit_kw(dt)
            if residual > discharge:
                self.log.append((t, f"island collapsed: needs {residual:.1f} kW, the battery "
                                    f"can give {discharge:.1f} kW"))
                self._restart_at = t + BLACK_START_DELAY_S
            else:
                energized = True
                if residual < -charge:
                    pv_kw = pv_available - (-residual - charge)
                    battery_kw = -charge
                else:
                    battery_kw = residual
        if not energized:
            pv_kw = battery_kw = grid_kw = load_kw = losses_kw = 0.0
            if was_energized:
                self.log.append((t, "bus de-energized"))
                self._restart_at = max(self._restart_at, t + BLACK_START_DELAY_S)
        elif not was_energized:
            self.log.append((t, "bus energized" + ("" if connected else " by the battery")))

        # voltage, frequency and phase on each side of the PCC
        if energized and connected:
            bus_v = grid.voltage_pu - BUS_VOLTAGE_DROP_PU_PER_KW * grid_kw
            bus_f = grid.frequency_hz
            self.island_phase_deg = grid.phase_deg
        elif energized and battery is not None:
            load_pu = battery_kw / battery.max_discharge_kw
            bus_f = (
                grid.nominal_frequency_hz + ISLAND_FREQUENCY_OFFSET_HZ - ISLAND_DROOP_HZ * load_pu
            )
            bus_v = 1.0 - ISLAND_VOLTAGE_DROOP_PU * load_pu + ISLAND_NOISE_PU * self.rng.gauss(
                0.0, 1.0
            )
            self.island_phase_deg = wrap_deg(
                self.island_phase_deg + 360.0 * (bus_f - grid.nominal_frequency_hz) * dt
            )
        else:
            bus_v = bus_f = 0.0
        self.bus_voltage_pu = bus_v
        self.island_frequency_hz = bus_f
        if not breaker.upstream_open:
            side_v, side_f, side_phase = grid.voltage_pu, grid.frequency_hz, grid.phase_deg
        elif breaker.closed:
            side_v, side_f, side_phase = bus_v, bus_f, self.island_phase_deg
        else:
            side_v = side_f = side_phase = 0.0

        # commit
        nominal_v = grid.nominal_voltage_v
        bus_volts = bus_v * nominal_v
        for load, meter in devices.loads:
            meter.update(load.commit(energized), bus_v, bus_f, self.island_phase_deg, dt)
        for zone in devices.zones:
            zone.commit(energized, second, dt)
        for light in devices.lighting:
            light.commit(energized)
        for charger in devices.chargers:
            charger.commit(energized, dt)
        if devices.pv:
            share = pv_kw / pv_available if pv_available > 0.0 else 0.0
            for pv in devices.pv:
                pv.commit(pv.available_kw * share, bus_volts, bus_f, dt)
        if battery is not None:
            battery.commit(battery_kw, dt)
        if devices.pcc_meter is not None:
            devices.pcc_meter.update(grid_kw, side_v, side_f, side_phase, dt)
        if devices.bus_meter is not None:
            devices.bus_meter.update(grid_kw, bus_v, bus_f, self.island_phase_deg, dt)
        if devices.grid_sense is not None:
            devices.grid_sense.values["grid_present"] = side_v >= 0.5

        flows.grid_kw = grid_kw
        flows.pv_kw = pv_kw
        flows.battery_kw = battery_kw
        flows.load_kw = load_kw
        flows.losses_kw = losses_kw
        flows.pv_curtailed_kw = pv_available - pv_kw if energized else 0.0
        flows.energized = energized
        flows.connected = connected
        self.steps += 1
        self.t = self.steps * dt
