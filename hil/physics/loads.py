"""Metered loads that follow a daily shape: critical loads and the base plug load."""

from __future__ import annotations

import math
import random

from hil.physics.shapes import DailyShape
from hil.state import DeviceState

NOISE_TIME_CONSTANT_S = 60.0


class ShapedLoad:
    """A load drawing its shape's power plus small correlated noise (fraction of power)."""

    def __init__(
        self, device: DeviceState, shape: DailyShape, noise_pu: float, rng: random.Random
    ) -> None:
        self.device = device
        self._shape = shape
        self._noise_pu = noise_pu
        self._rng = rng
        self._noise = 0.0
        self.demand_kw = 0.0
        self.power_kw = 0.0

    def demand(self, second_of_day: float, dt: float) -> float:
        decay = dt / NOISE_TIME_CONSTANT_S
        self._noise += -self._noise * decay + self._noise_pu * math.sqrt(
            2.0 * decay
        ) * self._rng.gauss(0.0, 1.0)
        self.demand_kw = max(0.0, self._shape.at(second_of_day) * (1.0 + self._noise))
        return self.demand_kw

    def commit(self, energized: bool) -> float:
        self.power_kw = self.demand_kw if energized else 0.0
        return self.power_kw
