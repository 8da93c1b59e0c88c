"""Curtailable load (lighting): on while the price is at or below its threshold."""

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
)
from market.temix import Interval, Tender

__all__ = ["CurtailableLoad", "CurtailableLoadPreferences"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CurtailableLoadPreferences:
    """``rated_kw`` when fully on; ``threshold_price`` per kWh above which it turns off."""

    rated_kw: Decimal
    threshold_price: Decimal
    priority: int = 10


class CurtailableLoad(Personality[CurtailableLoadPreferences]):
    """Forecast (kW per interval) = the load it would draw (schedule); rated power if absent.

    Buys that load at prices up to the threshold. The setpoint dims to what it holds.
    """

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: None,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        threshold = self.preferences.threshold_price
        rated_kw = self.preferences.rated_kw

        def load_curve(load_kw: Decimal) -> PositionCurve:
            return PositionCurve(-load_kw, ((threshold, load_kw),) if load_kw > 0 else ())

        at_rated = load_curve(rated_kw)  # one object: the round reuses its tenders

        def curve(interval: Interval) -> PositionCurve:
            load_kw = forecast.get(interval, rated_kw) if forecast else rated_kw
            return at_rated if load_kw is rated_kw else load_curve(load_kw)

        return self.curve_round(now, intervals, positions, curve)

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        return draw_setpoint(interval, position_kw, _ZERO, self.preferences.rated_kw)
