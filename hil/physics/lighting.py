"""Lighting: on/off relay and dimming level, power in proportion to the level."""

from __future__ import annotations

from hil.state import DeviceState


class Lighting:
    """A dimmable lighting circuit."""

    def __init__(self, device: DeviceState, rated_power_kw: float) -> None:
        self.device = device
        self.rated_power_kw = rated_power_kw
        self.demand_kw = 0.0
        self.power_kw = 0.0
        device.values.setdefault("on", True)
        device.values.setdefault("level_pct", 100.0)
        device.values["power_kw"] = 0.0

    def demand(self) -> float:
        values = self.device.values
        level = values.get("level_pct")
        level_pu = 1.0
        if isinstance(level, int | float):
            level_pu = min(max(float(level), 0.0), 100.0) / 100.0
        self.demand_kw = self.rated_power_kw * level_pu if values.get("on") else 0.0
        return self.demand_kw

    def commit(self, energized: bool) -> float:
        self.power_kw = self.demand_kw if energized else 0.0
        self.device.values["power_kw"] = self.power_kw
        return self.power_kw
