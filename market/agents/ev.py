"""Deferrable load (EV charger): the energy a session needs by its deadline, at most its rate.

Each round the charger plans from scratch over the intervals that end by the deadline:
it fills the cheapest ones (by the price forecast, earliest first on ties) at its maximum
rate until the session's remaining energy is covered, and bids up to ``max_price`` for
them. When the plan has less than ``slack`` spare capacity left — the deadline is close —
it buys the planned intervals at any price (the cap). What it holds outside the plan it
sells back at any price, so the position follows the plan as forecasts change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from market.agents.base import (
    Forecast,
    Personality,
    PositionCurve,
    Positions,
    Setpoint,
    draw_setpoint,
    hours,
    kw,
)
from market.model import check_aware
from market.temix import Interval, Tender, instant_us

__all__ = ["EvCharger", "EvPreferences", "EvSession"]

_ZERO = Decimal(0)
_UNPLANNED = PositionCurve.flat(-_ZERO)
"""The curve of every interval outside the plan: one object, so a round reuses its tenders."""


@dataclass(frozen=True, slots=True)
class EvPreferences:
    """``max_rate_kw``: charger limit; ``max_price`` per kWh it pays when not urgent.

    ``slack``: spare capacity fraction below which the session is urgent (0.2 = 20 %).
    """

    max_rate_kw: Decimal
    max_price: Decimal
    slack: Decimal = Decimal("0.2")
    priority: int = 15


@dataclass(frozen=True, slots=True)
class EvSession:
    """A connected vehicle: energy still needed (kWh) and when it leaves."""

    energy_needed_kwh: Decimal
    deadline: datetime

    def __post_init__(self) -> None:
        check_aware(self.deadline, "EV session deadline")


class EvCharger(Personality[EvPreferences]):
    """Forecast = expected price per interval (missing: treated as ``max_price``)."""

    def plan(
        self, intervals: Sequence[Interval], session: EvSession | None, forecast: Forecast
    ) -> tuple[dict[Interval, Decimal], bool]:
        """Charging rate per interval and whether the session is urgent."""
        if session is None or session.energy_needed_kwh <= 0:
            return {}, False
        rate = self.preferences.max_rate_kw
        deadline_us = instant_us(session.deadline)  # an instant: safe across a DST fold
        eligible = [iv for iv in intervals if iv.end_us <= deadline_us]
        capacity_kwh = sum((rate * hours(iv) for iv in eligible), _ZERO)
        urgent = capacity_kwh <= session.energy_needed_kwh * (1 + self.preferences.slack)
        cheapest = sorted(
            eligible, key=lambda iv: (forecast.get(iv, self.preferences.max_price), iv.start)
        )
        plan: dict[Interval, Decimal] = {}
        left = session.energy_needed_kwh
        for iv in cheapest:
            if left <= 0:
                break
            plan[iv] = kw(min(rate, left / hours(iv)))
            left -= plan[iv] * hours(iv)
        return plan, urgent

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: EvSession | None,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        plan, urgent = self.plan(intervals, state, forecast)
        max_price = self.preferences.max_price

        def curve(interval: Interval) -> PositionCurve:
            rate = plan.get(interval, _ZERO)
            if rate is _ZERO:
                return _UNPLANNED
            if urgent or rate == 0:
                return PositionCurve.flat(-rate)
            return PositionCurve(-rate, ((max_price, rate),))

        return self.curve_round(now, intervals, positions, curve)

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        return draw_setpoint(interval, position_kw, _ZERO, self.preferences.max_rate_kw)
