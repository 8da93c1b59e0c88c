"""HVAC zones as first-order thermal RC models with a proportional cooling controller.

    C · dT/dt = (T_outdoor − T) / R + internal gains + solar gains − COP · P_cooling

The controller cools in proportion to how far the zone is above its setpoint, up to the
rated electrical power; the fan runs in occupied hours or while cooling. Without power
(the bus is dead, or the zone is shed) the zone drifts toward the outdoor temperature.
"""

from __future__ import annotations

from hil.physics.shapes import DailyShape
from hil.state import DeviceState

THERMAL_RESISTANCE_K_PER_KW = 1.0
THERMAL_CAPACITY_KWH_PER_K = 5.0
COOLING_COP = 3.0
CONTROLLER_GAIN_PU_PER_K = 1.0  # full cooling at 1 K above setpoint
FAN_POWER_PU = 0.08
OCCUPIED_FROM_S = 7 * 3600
OCCUPIED_UNTIL_S = 19 * 3600
INTERNAL_GAIN_OCCUPIED_KW = 5.0
INTERNAL_GAIN_UNOCCUPIED_KW = 1.0
SOLAR_GAIN_PEAK_KW = 4.0


class HvacZone:
    """One zone: its air temperature and the electrical power of its cooling and fan."""

    def __init__(
        self,
        device: DeviceState,
        rated_power_kw: float,
        outdoor: DailyShape,
        solar: DailyShape,
        initial_temperature_c: float = 22.0,
        temperature_offset_c: float = 0.0,
        solar_exposure: float = 1.0,
    ) -> None:
        self.device = device
        self.rated_power_kw = rated_power_kw
        self._outdoor = outdoor
        self._solar = solar
        self._offset = temperature_offset_c
        self._solar_gain_kw = SOLAR_GAIN_PEAK_KW * solar_exposure
        self.temperature_c = initial_temperature_c
        self.internal_gains = True
        self.demand_kw = 0.0
        self.cooling_kw = 0.0
        self.power_kw = 0.0
        self.outdoor_c = outdoor.at(0.0) + temperature_offset_c
        device.values.setdefault("setpoint_c", 22.5)
        device.values["zone_temperature_c"] = initial_temperature_c
        device.values["power_kw"] = 0.0
        device.values["fan_status"] = False

    def demand(self, second_of_day: float) -> float:
        setpoint = self.device.values.get("setpoint_c")
        setpoint_c = float(setpoint) if isinstance(setpoint, int | float) else 22.5
        error = self.temperature_c - setpoint_c
        cooling = self.rated_power_kw * min(max(error * CONTROLLER_GAIN_PU_PER_K, 0.0), 1.0)
        occupied = OCCUPIED_FROM_S <= second_of_day < OCCUPIED_UNTIL_S
        fan = self.rated_power_kw * FAN_POWER_PU if (occupied or cooling > 0.0) else 0.0
        self.cooling_kw = cooling
        self.demand_kw = min(cooling + fan, self.rated_power_kw)
        return self.demand_kw

    def commit(self, energized: bool, second_of_day: float, dt: float) -> float:
        outdoor = self._outdoor.at(second_of_day) + self._offset
        self.outdoor_c = outdoor
        cooling = self.cooling_kw if energized else 0.0
        self.power_kw = self.demand_kw if energized else 0.0
        gains = 0.0
        if self.internal_gains:
            occupied = OCCUPIED_FROM_S <= second_of_day < OCCUPIED_UNTIL_S
            gains = INTERNAL_GAIN_OCCUPIED_KW if occupied else INTERNAL_GAIN_UNOCCUPIED_KW
            gains += self._solar_gain_kw * self._solar.at(second_of_day)
        heat_kw = (outdoor - self.temperature_c) / THERMAL_RESISTANCE_K_PER_KW + gains
        heat_kw -= COOLING_COP * cooling
        self.temperature_c += heat_kw * dt / 3600.0 / THERMAL_CAPACITY_KWH_PER_K
        values = self.device.values
        values["zone_temperature_c"] = self.temperature_c
        values["power_kw"] = self.power_kw
        values["fan_status"] = self.power_kw > 0.0
        return self.power_kw
