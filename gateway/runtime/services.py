"""TeMIX service interface of one device: the only way the market reaches a device.

Each :class:`DeviceService` has the three functions of the TeMIX paper:

1. decide the device's target current and forward operating levels — :meth:`apply`
   turns the cleared position of the current interval into setpoints and writes them;
2. receive and issue forward tenders — :meth:`participant` binds the device's agent to
   this round's state and forecast, for the market operator to collect its tenders;
3. execute transactions — the operator hands back the round; the position book is the
   record, and :meth:`apply` acts on it.

Device state (readings, session, shed flag) stays inside the service; the operator and
the trader see only parties, tenders, transactions and positions.

Sign convention here: ``draw_kw`` is power taken from the building bus (consumption
positive, production negative); TeMIX positions are the opposite (net seller positive).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from drivers.base import DriverError, Reading
from drivers.natures import NATURES
from drivers.poller import Poller
from gateway.config.site import Device
from market.agents import (
    BatteryState,
    BoundAgent,
    EvSession,
    HvacState,
)
from market.temix import Interval

log = logging.getLogger(__name__)



@dataclass
class MarketView:
    """What every service may know of the market this round (no device state)."""

    now: datetime
    expected_prices: Mapping[Interval, Decimal]
    recent_prices: Sequence[Decimal]
    islanded: bool


@dataclass
class DeviceService:
    """The TeMIX service interface of one device (see the module docstring)."""

    device: Device
    agent: Any  # a market.agents personality, or None for a measuring-only device
    poller: Poller
    nominal_voltage_v: float
    zone: ZoneInfo
    shed: bool = False
    last_setpoint: dict[str, float | bool] = field(default_factory=dict)
    _temps: list[tuple[datetime, float]] = field(default_factory=list)
    _pv_available: dict[Interval, Decimal] = field(default_factory=dict)

    @property
    def party(self) -> str:
        return self.device.id

    @property
    def trades(self) -> bool:
        return self.agent is not None

    def readings(self) -> dict[str, Reading]:
        return self.poller.readings(self.device.id)

    def value(self, point: str) -> float | None:
        reading = self.readings().get(point)
        if reading is None or not reading.ok or reading.value is None:
            return None
        value = reading.value
        return float(value) if isinstance(value, int | float | bool) else None

    def healthy(self) -> bool:
        fault = self.poller.fault(self.device.id)
        return fault is None or fault.level.value != "error"

    def draw_kw(self) -> float | None:
        """Measured power from the bus (consumption positive), None when unknown."""
        power = self.value("power_kw")
        if power is None:
            return None
        return power * NATURES[self.device.nature].draw_sign

    # -- function (2): receive and issue forward tenders -----------------------------

    def participant(
        self, view: MarketView, intervals: Sequence[Interval]
    ) -> BoundAgent[Any] | None:
        """The agent bound to this round's state and forecast; None when it cannot trade."""
        if self.agent is None or self.shed or not self.healthy():
            return None
        state, forecast = self._state_and_forecast(view, intervals)
        if state is _UNKNOWN:
            return None
        return BoundAgent(self.agent, state, forecast)

    def _state_and_forecast(
        self, view: MarketView, intervals: Sequence[Interval]
    ) -> tuple[Any, dict[Interval, Decimal]]:
        kind = self.device.agent.personality
        if kind in ("critical_load", "fixed_load"):
            draw = self.draw_kw()
            if draw is None:
                return _UNKNOWN, {}
            load = _forecast_kw(max(draw, 0.0))
            return None, {iv: load for iv in intervals}
        if kind == "curtailable":
            return None, {}
        if kind == "pv":
            self._pv_available = self._pv_forecast(view.now, intervals)
            return None, self._pv_available
        if kind == "hvac":
            temp = self.value("zone_temperature_c")
            if temp is None:
                return _UNKNOWN, {}
            self._remember_temperature(view.now, temp)
            return HvacState(temp, self._drift_c_per_hour(), tuple(view.recent_prices)), {}
        if kind == "battery":
            soc = self.value("soc_pct")
            if soc is None:
                return _UNKNOWN, {}
            capacity = self.device.agent.capacity_kwh or Decimal(0)
            soc_kwh = (capacity * Decimal(str(round(soc, 4))) / 100).quantize(Decimal("0.001"))
            return BatteryState(soc_kwh, islanded=view.islanded), dict(view.expected_prices)
        if kind == "ev":
            return self._ev_session(), dict(view.expected_prices)
        return None, {}

    def _pv_forecast(self, now: datetime, intervals: Sequence[Interval]) -> dict[Interval, Decimal]:
        """Clear-sky shape scaled by how the array performs against clear sky right now."""
        peak = float(self.device.agent.peak_power_kw or 0)
        produced = -(self.draw_kw() or 0.0)
        clear_now = clear_sky_fraction(now, self.zone)
        ratio = 1.0 if clear_now < 0.05 else min(1.0, max(0.0, produced / (peak * clear_now)))
        if self.last_setpoint.get("curtailment_enable") == 1:
            ratio = 1.0  # output is limited by us, not by clouds
        out = {}
        for interval in intervals:
            middle = interval.start + interval.duration / 2
            out[interval] = _forecast_kw(peak * clear_sky_fraction(middle, self.zone) * ratio)
        return out

    def _remember_temperature(self, now: datetime, temp: float) -> None:
        self._temps.append((now, temp))
        horizon = now - timedelta(hours=1)
        self._temps = [(t, v) for t, v in self._temps if t >= horizon]

    def _drift_c_per_hour(self) -> float:
        if len(self._temps) < 2:
            return 1.0
        (t0, v0), (t1, v1) = self._temps[0], self._temps[-1]
        hours = (t1 - t0).total_seconds() / 3600
        return 1.0 if hours <= 0 else max(0.2, (v1 - v0) / hours + 1.0)

    def _ev_session(self) -> EvSession | None:
        plugged = self.value("plugged_in")
        needed = self.value("energy_needed_kwh")
        delivered = self.value("session_energy_kwh") or 0.0
        deadline = self.value("departure_epoch_s")
        if not plugged or needed is None or deadline is None or deadline >= 0xFFFFFFFF:
            return None
        remaining = max(0.0, needed - delivered)
        return EvSession(Decimal(str(round(remaining, 3))),
                         datetime.fromtimestamp(deadline, UTC))

    # -- functions (1) and (3): execute transactions, set the operating level --------

    def target_writes(self, interval: Interval, position_kw: Decimal) -> dict[str, float | bool]:
        """The point writes that make the device hold ``position_kw`` over ``interval``."""
        if self.agent is None:
            return {}
        if self.shed:
            return dict(NATURES[self.device.nature].shed_writes)
        draw = float(self.agent.setpoint(interval, position_kw).power_kw)
        prefs = self.device.agent
        nature = self.device.nature
        if nature == "storage":
            return {"power_setpoint_kw": round(-draw, 3)}
        if nature == "pv":
            peak = float(prefs.peak_power_kw or 1)
            available = float(self._pv_available.get(interval, Decimal(0)))
            if -draw >= available - 0.5:
                return {"curtailment_enable": 0}  # sold all it expects: no limit
            limit = round(min(100.0, max(0.0, -draw / peak * 100)), 1)
            return {"curtailment_limit_pct": limit, "curtailment_enable": 1}
        if nature == "ev_charger":
            amps = draw * 1000 / (3 * self.nominal_voltage_v)
            return {"current_limit_a": round(min(32.0, max(0.0, amps)), 1)}
        if nature == "hvac_zone":
            rated = float(prefs.rated_power_kw or 1)
            low, high = prefs.comfort_min_c or 21.0, prefs.comfort_max_c or 24.0
            duty = min(1.0, max(0.0, draw / rated))
            return {"setpoint_c": round(high - (high - low) * duty, 2)}
        if nature == "lighting":
            rated = float(prefs.rated_power_kw or 1)
            level = round(min(100.0, max(0.0, draw / rated * 100)), 1)
            return {"on": level > 0, "level_pct": level}
        return {}

    async def apply(self, interval: Interval, position_kw: Decimal) -> list[str]:
        """Write the operating level for ``interval``; returns the problems met (if any)."""
        return await self._write_all(self.target_writes(interval, position_kw),
                                     until=interval.end)

    async def apply_shed(self) -> list[str]:
        """Switch the device off now (islanding shed); the next round restores it."""
        return await self._write_all(NATURES[self.device.nature].shed_writes)

    async def _write_all(self, writes: Mapping[str, float | bool],
                         until: datetime | None = None) -> list[str]:
        """Write the points; a driver that holds commands (BACnet priority slots) is told
        when the contract interval ends, so it relinquishes if no new command follows."""
        problems = []
        driver: Any = self.poller.driver(self.device.id)
        holds_commands = hasattr(driver, "relinquish")
        for point, value in writes.items():
            try:
                if holds_commands and until is not None:
                    await driver.write(point, value, until=until)
                else:
                    await driver.write(point, value)
                self.last_setpoint[point] = value
            except DriverError as err:
                problems.append(str(err))
        return problems


FORECAST_STEP_KW = 0.5


def _forecast_kw(kw: float) -> Decimal:
    """Forecasts move in 0.5 kW steps, so measurement noise does not re-trade the horizon
    every round (a re-trade costs a tender, a transaction and a ledger entry)."""
    return Decimal(str(round(kw / FORECAST_STEP_KW) * FORECAST_STEP_KW))


class _Unknown:
    """Sentinel: the device's state could not be read this round."""


_UNKNOWN: Any = _Unknown()


def clear_sky_fraction(at: datetime, zone: ZoneInfo) -> float:
    """Share of peak PV output under a clear sky: a sine from 06:00 to 18:00 local time."""
    local = at.astimezone(zone)
    hour = local.hour + local.minute / 60 + local.second / 3600
    if not 6.0 < hour < 18.0:
        return 0.0
    return math.sin(math.pi * (hour - 6.0) / 12.0)
