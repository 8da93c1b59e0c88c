"""Rooftop PV: a clear-sky daily shape, reduced by cloud cover, capped by curtailment.

Curtailment follows SunSpec model 704: ``curtailment_limit_pct`` applies while
``curtailment_enable`` is 1; without a new limit write for ``curtailment_reversion_s``
the inverter reverts to ``curtailment_reversion_limit_pct`` / ``_reversion_enable``.
"""

from __future__ import annotations

import math
import random

from hil.physics.events import CloudEvent
from hil.physics.shapes import DailyShape
from hil.state import DeviceState, Value

CLOUD_ATTENUATION = 0.8  # full overcast leaves 20 % of clear-sky output
CLOUD_TIME_CONSTANT_S = 600.0


class PvArray:
    """Available and delivered PV power of one inverter."""

    def __init__(
        self,
        device: DeviceState,
        peak_power_kw: float,
        clear_sky: DailyShape,
        clouds: tuple[CloudEvent, ...],
        cloud_cover: float,
        cloud_variability: float,
        rng: random.Random,
    ) -> None:
        self.device = device
        self.peak_power_kw = peak_power_kw
        self._clear_sky = clear_sky
        self._clouds = clouds
        self._mean_cover = cloud_cover
        self._variability = cloud_variability
        self._rng = rng
        self._cover_noise = 0.0
        self._event_cover = 0.0
        self.cover = cloud_cover
        self.available_kw = 0.0
        self._clear_sky_now = 0.0
        self.power_kw = 0.0
        self.energy_kwh = 0.0
        self._limit_write_t: float | None = None
        self._now = 0.0
        values = device.values
        values.setdefault("curtailment_enable", 0)
        values.setdefault("curtailment_limit_pct", 100.0)
        values.setdefault("curtailment_reversion_limit_pct", 100.0)
        values.setdefault("curtailment_reversion_enable", 0)
        values.setdefault("curtailment_reversion_s", 60)
        values["anti_islanding_enable"] = 1
        values["alarms"] = 0
        values["power_kw"] = 0.0
        values["energy_injected_kwh"] = 0.0
        values["voltage_v"] = values["frequency_hz"] = 0.0
        values["operating_state"] = values["connection_state"] = 1
        values["inverter_state"] = 2
        values["throttle_pct"] = 0
        device.on_client_write(self._on_write)

    def _on_write(self, point: str, value: Value) -> None:
        if point in ("curtailment_limit_pct", "curtailment_enable"):
            self._limit_write_t = self._now

    def apply_events(self, t: float) -> None:
        self._event_cover = max(
            (c.cover for c in self._clouds if c.start_s <= t < c.end_s), default=0.0
        )

    def _limit_pu(self, t: float) -> float:
        values = self.device.values
        timeout = values.get("curtailment_reversion_s")
        if self._limit_write_t is not None and isinstance(timeout, int | float):
            remaining = timeout - (t - self._limit_write_t)
            if remaining <= 0:
                values["curtailment_limit_pct"] = values.get("curtailment_reversion_limit_pct")
                values["curtailment_enable"] = values.get("curtailment_reversion_enable")
                self._limit_write_t = None
                remaining = 0
            values["curtailment_reversion_remaining_s"] = int(remaining)
        if values.get("curtailment_enable") != 1:
            return 1.0
        limit = values.get("curtailment_limit_pct")
        if not isinstance(limit, int | float):
            return 1.0
        return min(max(float(limit), 0.0), 100.0) / 100.0

    def available(self, t: float, second_of_day: float, dt: float) -> float:
        """Power the array could deliver now (cloud cover and curtailment limit applied)."""
        if self._variability:
            decay = dt / CLOUD_TIME_CONSTANT_S
            self._cover_noise += -self._cover_noise * decay + self._variability * math.sqrt(
                2.0 * decay
            ) * self._rng.gauss(0.0, 1.0)
        cover = max(self._mean_cover + self._cover_noise, self._event_cover)
        cover = 0.0 if cover < 0.0 else (1.0 if cover > 1.0 else cover)
        self.cover = cover
        self._now = t + dt
        limit_pu = self._limit_pu(t)
        clear = self._clear_sky.at(second_of_day)
        self._clear_sky_now = clear
        self.available_kw = min(
            self.peak_power_kw * clear * (1.0 - CLOUD_ATTENUATION * cover),
            self.peak_power_kw * limit_pu,
        )
        return self.available_kw

    def commit(self, power_kw: float, voltage_v: float, frequency_hz: float, dt: float) -> None:
        """Deliver ``power_kw`` (less than available when the island curtails it)."""
        self.power_kw = power_kw
        self.energy_kwh += power_kw * dt / 3600.0
        values = self.device.values
        running = power_kw > 0.0
        values["power_kw"] = power_kw
        values["voltage_v"] = voltage_v
        values["frequency_hz"] = frequency_hz
        values["energy_injected_kwh"] = self.energy_kwh
        values["operating_state"] = 2 if voltage_v > 0.0 else 1
        values["connection_state"] = 2 if voltage_v > 0.0 else 1
        clear_kw = self.peak_power_kw * self._clear_sky_now
        throttled = running and power_kw < clear_kw * (1.0 - CLOUD_ATTENUATION * self.cover) - 0.01
        values["inverter_state"] = 5 if throttled else (4 if running else 2)
        values["throttle_pct"] = (
            round(100.0 * (1.0 - power_kw / self.peak_power_kw)) if running else 0
        )
