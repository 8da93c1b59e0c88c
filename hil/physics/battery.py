"""The battery: state of charge with efficiency and power limits, following or forming.

Grid-following (``mode`` 0): the inverter delivers its ``power_setpoint_kw`` (discharge
positive), clipped to its power limits and to what the state of charge allows. Without a
new setpoint for ``setpoint_timeout_s`` it reverts to 0 kW. Grid-forming (``mode`` 1):
tied to the grid it still follows its setpoint; islanded it holds the island's voltage and
frequency and supplies whatever the bus needs, within the same limits. Conversion losses
are charged to the state of charge: one-way efficiency is the square root of round-trip.
"""

from __future__ import annotations

import math

from hil.state import DeviceState, Value

GRID_FOLLOWING = 0
GRID_FORMING = 1


class Battery:
    """The battery's inverter and cells, as the controller's OPC UA points show them."""

    def __init__(
        self,
        device: DeviceState,
        capacity_kwh: float,
        max_charge_kw: float,
        max_discharge_kw: float,
        min_soc_pct: float,
        max_soc_pct: float,
        round_trip_efficiency: float,
        initial_soc_pct: float,
    ) -> None:
        self.device = device
        self.capacity_kwh = capacity_kwh
        self.max_charge_kw = max_charge_kw
        self.max_discharge_kw = max_discharge_kw
        self.min_kwh = capacity_kwh * min_soc_pct / 100.0
        self.max_kwh = capacity_kwh * max_soc_pct / 100.0
        self.efficiency = math.sqrt(round_trip_efficiency)
        initial_kwh = capacity_kwh * initial_soc_pct / 100.0
        self.energy_kwh = min(max(initial_kwh, self.min_kwh), self.max_kwh)
        self.power_kw = 0.0
        self._last_setpoint_t: float | None = None
        self._now = 0.0
        values = device.values
        values.setdefault("power_setpoint_kw", 0.0)
        values.setdefault("mode", GRID_FOLLOWING)
        values.setdefault("setpoint_timeout_s", 60.0)
        values["capacity_kwh"] = capacity_kwh
        device.on_client_write(self._on_write)
        self._publish(1.0)

    def _on_write(self, point: str, value: Value) -> None:
        if point == "power_setpoint_kw":
            self._last_setpoint_t = self._now

    @property
    def soc_pct(self) -> float:
        return 100.0 * self.energy_kwh / self.capacity_kwh

    @property
    def forming(self) -> bool:
        return self.device.values.get("mode") == GRID_FORMING

    def discharge_limit_kw(self, dt: float) -> float:
        """Most AC power the battery can deliver over the next ``dt`` seconds."""
        by_energy = (self.energy_kwh - self.min_kwh) * self.efficiency * 3600.0 / dt
        return max(0.0, min(self.max_discharge_kw, by_energy))

    def charge_limit_kw(self, dt: float) -> float:
        """Most AC power the battery can absorb over the next ``dt`` seconds."""
        by_energy = (self.max_kwh - self.energy_kwh) / self.efficiency * 3600.0 / dt
        return max(0.0, min(self.max_charge_kw, by_energy))

    def following_power(self, t: float, dt: float) -> float:
        """The AC power the inverter delivers when it follows its setpoint."""
        values = self.device.values
        self._now = t + dt
        timeout = values.get("setpoint_timeout_s")
        if (
            self._last_setpoint_t is not None
            and isinstance(timeout, int | float)
            and timeout > 0
            and t - self._last_setpoint_t > timeout
        ):
            values["power_setpoint_kw"] = 0.0
            self._last_setpoint_t = None
        setpoint = values.get("power_setpoint_kw")
        power = float(setpoint) if isinstance(setpoint, int | float) else 0.0
        if power > 0.0:
            return min(power, self.discharge_limit_kw(dt))
        return max(power, -self.charge_limit_kw(dt))

    def commit(self, power_kw: float, dt: float) -> None:
        """Deliver ``power_kw`` (discharge positive) for ``dt`` seconds."""
        self.power_kw = power_kw
        hours = dt / 3600.0
        if power_kw > 0.0:
            self.energy_kwh -= power_kw * hours / self.efficiency
        else:
            self.energy_kwh -= power_kw * hours * self.efficiency
        self.energy_kwh = min(max(self.energy_kwh, self.min_kwh), self.max_kwh)
        self._publish(dt)

    def _publish(self, dt: float) -> None:
        values = self.device.values
        values["soc_pct"] = self.soc_pct
        values["power_kw"] = self.power_kw
        values["max_charge_kw"] = self.charge_limit_kw(dt)
        values["max_discharge_kw"] = self.discharge_limit_kw(dt)
