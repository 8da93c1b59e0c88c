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
    curve_tenders,
    price,
    tender_prefix,
)
from market.temix import Interval, Side, Tender

__all__ = ["Generator", "GeneratorPreferences", "GeneratorState"]

_ZERO = Decimal(0)
_SECOND = timedelta(seconds=1)


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
        p = self.preferences
        out: list[Tender] = []
        for interval in intervals:
            held = positions.get(interval, _ZERO)
            prefix = tender_prefix(self.party, now, interval)
            if not state.running and held <= 0:
                out.append(
                    Tender(
                        f"{prefix}:start",
                        self.party,
                        Side.SELL,
                        interval,
                        p.start_price,
                        p.max_kw - held,
                        all_or_none=True,
                    )
                )
                continue
            base = p.min_kw if self._must_run(state, interval) else _ZERO
            curve = PositionCurve(base, ((p.fuel_cost, p.max_kw - base),))
            out += curve_tenders(self.party, interval, curve, held, self.band, prefix)
        return out

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        """Produce the held output (negative draw), at least ``min_kw`` once it runs."""
        p = self.preferences
        output = min(max(position_kw, _ZERO), p.max_kw)
        if 0 < output < p.min_kw:
            output = p.min_kw
        return Setpoint(interval, -output)
