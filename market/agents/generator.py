"""Dispatchable generator: fuel cost, start cost, minimum stable output and minimum run time.

- Stopped: it offers its full output as one all-or-none block at fuel cost plus the start
  cost spread over a minimum run at full output (it starts only if that pays).
- Running: it offers output above what it holds at fuel cost and buys back what it holds
  when the price falls below fuel cost — except during the minimum run time, when it must
  keep at least ``min_kw`` at any price.
- Setpoint: the held output, raised to ``min_kw`` when it holds less but more than zero
  (it cannot run lower; the difference settles as imbalance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from market.agents.base import (
    Forecast,
    Personality,
    PositionCurve,
    Positions,
    Setpoint,
    block_tender,
    curve_tenders,
    price,
    round_prefixes,
)
from market.temix import Interval, Side, Tender

__all__ = ["Generator", "GeneratorPreferences", "GeneratorState"]

_ZERO = Decimal(0)
_SECOND = timedelta(seconds=1)
_SELL = Side.SELL


@dataclass(frozen=True, slots=True)
class GeneratorPreferences:
    """Output range ``min_kw``–``max_kw``; costs per kWh and per start; ``min_run`` time."""

    max_kw: Decimal
    min_kw: Decimal
    fuel_cost: Decimal
    start_cost: Decimal
    min_run: timedelta
    priority: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_kw <= self.max_kw or self.max_kw <= 0:
            raise ValueError(
                f"generator needs 0 <= min_kw <= max_kw and max_kw > 0, got "
                f"{self.min_kw} and {self.max_kw}"
            )

    @property
    def start_price(self) -> Decimal:
        """Fuel cost plus the start cost per kWh of a minimum run at full output."""
        run_kwh = self.max_kw * Decimal(self.min_run // _SECOND) / 3600
        return price(self.fuel_cost + (self.start_cost / run_kwh if run_kwh > 0 else _ZERO))


@dataclass(frozen=True, slots=True)
class GeneratorState:
    """Whether it runs, and since when (for the minimum run time)."""

    running: bool
    running_since: datetime | None = None


class Generator(Personality[GeneratorPreferences]):
    """Forecast is unused."""

    def _must_run(self, state: GeneratorState, interval: Interval) -> bool:
        if not state.running or state.running_since is None:
            return False
        return interval.start < state.running_since + self.preferences.min_run

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: GeneratorState,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        p, party, band = self.preferences, self.party, self.band
        # Two curves serve every running interval: made once, checked once per interval.
        free = PositionCurve(_ZERO, ((p.fuel_cost, p.max_kw - _ZERO),))
        must_run = PositionCurve(p.min_kw, ((p.fuel_cost, p.max_kw - p.min_kw),))
        start_price = p.start_price if not state.running else None
        out: list[Tender] = []
        for interval, prefix in zip(intervals, round_prefixes(party, now, intervals), strict=True):
            held = positions.get(interval, _ZERO) if positions else _ZERO
            if start_price is not None and held <= 0:
                quantity = p.max_kw - held
                out.append(
                    block_tender(f"{prefix}:start", party, _SELL, interval, start_price, quantity)
                )
                continue
            curve = must_run if self._must_run(state, interval) else free
            out += curve_tenders(party, interval, curve, held, band, prefix)
        return out

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        """Produce the held output (negative draw), at least ``min_kw`` once it runs."""
        p = self.preferences
        output = min(max(position_kw, _ZERO), p.max_kw)
        if 0 < output < p.min_kw:
            output = p.min_kw
        return Setpoint(interval, -output)
