"""Critical load (IT, refrigeration, life safety): buys its forecast at any price."""

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

__all__ = ["CriticalLoad", "CriticalLoadPreferences"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CriticalLoadPreferences:
    """``rated_kw``: the most it draws (used when an interval has no forecast).

    ``priority``: rationing order in an island — critical loads are shed last.
    """

    rated_kw: Decimal
    priority: int = 100


class CriticalLoad(Personality[CriticalLoadPreferences]):
    """Forecast (kW per interval) = its load. Buys it at the cap; sells back any excess."""

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: None,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        rated_kw = self.preferences.rated_kw
        at_rated = PositionCurve.flat(-rated_kw)  # one object: the round reuses its tenders

        def curve(interval: Interval) -> PositionCurve:
            load_kw = forecast.get(interval, rated_kw) if forecast else rated_kw
            return at_rated if load_kw is rated_kw else PositionCurve.flat(-load_kw)

        return self.curve_round(now, intervals, positions, curve)

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        return draw_setpoint(interval, position_kw, _ZERO, self.preferences.rated_kw)
