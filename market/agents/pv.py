"""PV array: sells its forecast output at about zero marginal cost; curtailable."""

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

__all__ = ["PvArray", "PvPreferences"]

_ZERO = Decimal(0)
_DARK = PositionCurve(_ZERO)
"""The curve of every interval without output: one object, so a round reuses its tenders."""


@dataclass(frozen=True, slots=True)
class PvPreferences:
    """``rated_kw``: inverter limit. ``marginal_cost`` per kWh below which it will not sell."""

    rated_kw: Decimal
    marginal_cost: Decimal = Decimal(0)
    priority: int = 0


class PvArray(Personality[PvPreferences]):
    """Forecast (kW per interval) = available output (0 when absent).

    Sells the forecast at prices above its marginal cost; if the forecast falls below what
    it already sold, it buys the shortfall back. The setpoint is an output limit: it
    produces what it holds, never more, so an unsold surplus is curtailed.
    """

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: None,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        p = self.preferences

        def curve(interval: Interval) -> PositionCurve:
            available_kw = min(forecast.get(interval, _ZERO), p.rated_kw)
            if available_kw > 0:
                return PositionCurve(_ZERO, ((p.marginal_cost, available_kw),))
            return _DARK

        return self.curve_round(now, intervals, positions, curve)

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        return draw_setpoint(interval, position_kw, -self.preferences.rated_kw, _ZERO)
