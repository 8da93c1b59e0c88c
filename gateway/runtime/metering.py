"""Metered energy per party per settlement interval, integrated from power readings.

Every new reading of a device's power (the poller's process image) adds the energy since
the previous reading at the previous power (a left Riemann sum in clock time), split at
interval boundaries, so the energy of an interval is independent of how often the device
is polled. Sign as positions: energy injected into the bus is positive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from market.temix import Interval

PowerSource = Callable[[], float | None]  # injected kW (production positive), None = unknown


class EnergyMeter:
    """Integrates injected power of several parties into per-interval energy (kWh)."""

    def __init__(self, interval_duration: timedelta) -> None:
        self.duration = interval_duration
        self._last: dict[str, tuple[datetime, float]] = {}
        self._energy: dict[tuple[str, datetime], float] = defaultdict(float)

    def sample(self, party: str, at: datetime, injected_kw: float | None) -> None:
        previous = self._last.get(party)
        if injected_kw is None:
            self._last.pop(party, None)
            return
        if previous is not None and at > previous[0]:
            self._add(party, previous[0], at, previous[1])
        self._last[party] = (at, injected_kw)

    def _add(self, party: str, start: datetime, end: datetime, kw: float) -> None:
        cursor = start
        while cursor < end:
            boundary = self._interval_start(cursor) + self.duration
            piece_end = min(boundary, end)
            hours = (piece_end - cursor).total_seconds() / 3600
            self._energy[(party, self._interval_start(cursor))] += kw * hours
            cursor = piece_end

    def _interval_start(self, at: datetime) -> datetime:
        epoch = datetime(2000, 1, 1, tzinfo=at.tzinfo)
        return at - (at - epoch) % self.duration

    def take(self, interval: Interval, parties: Iterable[str]) -> dict[str, Decimal]:
        """Energy of each party over ``interval`` (removed from the meter), in kWh."""
        out = {}
        for party in parties:
            energy = 0.0
            start = interval.start
            while start < interval.end:
                energy += self._energy.pop((party, start), 0.0)
                start += self.duration
            out[party] = Decimal(str(round(energy, 6)))
        return out
