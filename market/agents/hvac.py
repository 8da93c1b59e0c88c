"""Thermostatic HVAC zone: a price-responsive curve from the zone temperature (PNNL style).

PNNL's transactive thermostat bids a price that rises with how far the zone has drifted
from the desired temperature toward the edge of its comfort band, scaled by the mean and
standard deviation of recent clearing prices (cooling; heating mirrors it)::

    T ≥ desired:  bid = mean + (T − desired) · k · std / (T_max − desired)
    T < desired:  bid = mean + (T − desired) · k · std / (desired − T_min)

Comfort limits are hard: at or beyond the far edge (T_max cooling, T_min heating) the
zone buys at the cap; at or beyond the near edge it does not run and sells back what it
holds. The zone's rated power is split into ``steps`` equal blocks; block *i* bids as if
the zone were ``i`` steps of the half band closer to comfort, so the first kilowatts are
worth more than the last — a falling curve. Only intervals starting within
``lookahead`` of now are tendered (the temperature forecast is drift without HVAC, fair
for the next hour only); positions further out are held as they are.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from market.agents.base import (
    Forecast,
    Personality,
    PositionCurve,
    Positions,
    Setpoint,
    draw_setpoint,
    kw,
    price,
)
from market.temix import Interval, Tender

__all__ = ["HvacMode", "HvacPreferences", "HvacState", "HvacZone"]

_ZERO = Decimal(0)


@lru_cache(maxsize=256)
def _price_statistics(recent_prices: tuple[Decimal, ...]) -> tuple[float, float]:
    """Mean and population standard deviation of recent prices.

    Every zone of a market sees the same recent clearing prices, so they are worked out
    once per round, not once per zone. In floats (``statistics.pstdev`` is exact and
    twenty times slower): the bid is rounded to one micro-unit anyway.
    """
    prices = [float(x) for x in recent_prices]
    mean = math.fsum(prices) / len(prices)
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in prices) / len(prices))


class HvacMode(enum.StrEnum):
    COOL = "cool"
    HEAT = "heat"


@dataclass(frozen=True, slots=True)
class HvacPreferences:
    """Comfort band ``comfort_min_c``–``comfort_max_c`` around ``desired_c`` (°C).

    ``k`` is PNNL's comfort setting (how many standard deviations of price the edge of the
    band is worth); ``rated_kw`` the zone's electrical power when running.
    """

    rated_kw: Decimal
    desired_c: float
    comfort_min_c: float
    comfort_max_c: float
    mode: HvacMode = HvacMode.COOL
    k: float = 2.0
    steps: int = 3
    lookahead: timedelta = timedelta(hours=1)
    priority: int = 20

    def __post_init__(self) -> None:
        if not self.comfort_min_c < self.desired_c < self.comfort_max_c:
            raise ValueError(
                f"HVAC comfort band must satisfy min < desired < max, got "
                f"{self.comfort_min_c} < {self.desired_c} < {self.comfort_max_c}"
            )
        if self.steps < 1 or self.rated_kw <= 0:
            raise ValueError("HVAC needs rated_kw > 0 and at least one step")


@dataclass(frozen=True, slots=True)
class HvacState:
    """Zone temperature now, its drift per hour with the HVAC off, recent clearing prices."""

    zone_temp_c: float
    drift_c_per_hour: float
    recent_prices: tuple[Decimal, ...]


class HvacZone(Personality[HvacPreferences]):
    """Forecast is unused; state drives the bid."""

    def bid_price(self, temp_c: float, mean: float, std: float) -> Decimal | None:
        """PNNL bid for one block at ``temp_c``: a price, the cap, or None (do not run)."""
        p = self.preferences
        deviation = temp_c - p.desired_c
        if p.mode is HvacMode.HEAT:
            deviation = -deviation
            far, near = p.desired_c - p.comfort_min_c, p.comfort_max_c - p.desired_c
        else:
            far, near = p.comfort_max_c - p.desired_c, p.desired_c - p.comfort_min_c
        if deviation >= far:
            return self.band.cap
        if deviation <= -near:
            return None
        span = far if deviation >= 0 else near
        bid = Decimal(repr(mean + deviation * p.k * std / span))
        return price(min(max(bid, self.band.floor), self.band.cap))

    def curve(self, temp_c: float, mean: float, std: float) -> PositionCurve:
        """Blocks of rated/steps kW, each bid a half band step closer to comfort.

        Beyond a comfort limit the whole zone buys at the cap (too warm for cooling) or
        holds nothing (too cool).
        """
        p = self.preferences
        block_kw = kw(p.rated_kw / p.steps)
        edge = self.bid_price(temp_c, mean, std)
        if edge is None or edge == self.band.cap:
            return PositionCurve(_ZERO if edge is None else -p.rated_kw)
        half_band = (p.comfort_max_c - p.comfort_min_c) / 2
        toward_comfort = -1.0 if p.mode is HvacMode.COOL else 1.0
        bids = []
        for i in range(p.steps):
            bid = self.bid_price(temp_c + toward_comfort * i * half_band / p.steps, mean, std)
            if bid is not None:
                bids.append(bid)
        steps = tuple((bid, block_kw) for bid in sorted(bids))
        return PositionCurve(-block_kw * len(bids), steps)

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: HvacState,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        mean, std = _price_statistics(tuple(state.recent_prices) or (self.band.floor,))

        def curve(interval: Interval) -> PositionCurve | None:
            ahead = interval.start - now
            if ahead >= self.preferences.lookahead:
                return None
            midpoint_h = (ahead + interval.duration / 2) / timedelta(hours=1)
            temp_c = state.zone_temp_c + state.drift_c_per_hour * midpoint_h
            return self.curve(temp_c, mean, std)

        return self.curve_round(now, intervals, positions, curve)

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        """Run at the power held (a duty cycle of the rated power)."""
        return draw_setpoint(interval, position_kw, _ZERO, self.preferences.rated_kw)
