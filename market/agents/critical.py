"""Critical load (IT, refrigeration, life safety): buys its forecast at any price."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from market.agents.base import (
    DEFAULT_BAND,
    Forecast,
    PositionCurve,
    Positions,
    PriceBand,
    Setpoint,
    curve_tenders,
    draw_setpoint,
    tender_prefix,
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


class CriticalLoad:
    """Forecast (kW per interval) = its load. Buys it at the cap; sells back any excess."""

    def __init__(
        self, party: str, preferences: CriticalLoadPreferences, band: PriceBand = DEFAULT_BAND
    ) -> None:
        self.party = party
        self.preferences = preferences
        self.band = band

    @property
    def priority(self) -> int:
        return self.preferences.priority

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: None,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        out: list[Tender] = []
        rated_kw = self.preferences.rated_kw
        for interval in intervals:
            load_kw = forecast.get(interval, rated_kw) if forecast else rated_kw
            out += curve_tenders(
                self.party,
                interval,
                PositionCurve.flat(-load_kw),
                positions.get(interval, _ZERO) if positions else _ZERO,
                self.band,
                tender_prefix(self.party, now, interval),
            )
        return out

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        return draw_setpoint(interval, position_kw, _ZERO, self.preferences.rated_kw)
