"""Battery: buys low and sells high across the horizon, never planning outside its SoC limits.

Plan (each round, from the state of charge now and the positions already held):

- The value of stored energy is the mean forecast price ``v`` over the horizon. In every
  interval with a forecast the battery bids to charge at ``v × η`` and offers to discharge
  at ``v / η`` (η = round-trip efficiency; the offer is at least one micro-unit above the
  bid). Its room is shared greedily: charging room to the cheapest forecast intervals
  first, discharging room to the dearest first.
- Robust SoC rule: whatever part of its tenders is accepted, the state of charge stays in
  ``[floor, soc_max_kwh]`` at every interval end. The upper bound is checked with every
  buy accepted and no sell, the lower bound with every sell accepted and no buy; stored
  energy is monotone in the net charging rate, so any actual outcome (including a buy
  and a sell both accepted) lies between the two. Quantities round down.
- ``floor`` is ``reserve_kwh`` (energy kept for islanding) while grid-connected and
  ``soc_min_kwh`` when islanded — the island may use the reserve.
- Islanded, ``island_headroom_kw`` of the discharge power is left unplanned; the room
  goes to the soonest intervals first; and an interval's room counts the positions held
  up to its end only: positions held later were traded with the grid in mind, and the
  island re-clears each of them when its turn comes (the market operator buys back what
  can no longer be delivered), so they must not keep the battery from carrying the
  island now.
- Call options it has written and not yet had exercised count as sold in the worst case
  (lower bound and discharge power), so their capacity is never planned away;
  :meth:`Battery.call_capacity_kw` is what it may still write on an interval.
- Charging stores ``rate × hours × √η``; discharging draws ``rate × hours / √η``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from market.agents.base import (
    Forecast,
    Personality,
    Positions,
    Setpoint,
    draw_setpoint,
    kw,
    price,
    round_prefixes,
)
from market.model import trusted_tender
from market.temix import Interval, PriceError, Side, Tender

__all__ = ["Battery", "BatteryPreferences", "BatteryState", "stored_energy_change_kwh"]

_ZERO = Decimal(0)
_MARGIN_KWH = 1e-6
_PRICE_STEP = Decimal("0.000001")
_HOUR_US = 3_600_000_000
"""Microseconds per hour: ``duration_us / _HOUR_US`` is the float ``duration / 1 h`` gives
(both divide the same integers), without a timedelta division per interval."""
_BUY, _SELL = Side.BUY, Side.SELL
_KW_STEP = 1e-6
"""Just under one micro-kW as a float: a smaller rate rounds down to no tender (the plan
leaves ~1e-15 kW of float dust in most intervals), so :func:`kw` is skipped for it."""


def _in_order(intervals: Sequence[Interval]) -> Sequence[Interval]:
    """The horizon by start (the order of ``sorted``): the same object when it already is,
    as a horizon usually is, so its id stems are the round's shared ones; sorting by an
    integer key, as Interval comparisons run in Python."""
    keys = [(iv.start_us, iv.duration_us) for iv in intervals]
    order = sorted(range(len(keys)), key=keys.__getitem__)  # stable, as sorted() is
    if order == list(range(len(keys))):
        return intervals
    return [intervals[t] for t in order]


@dataclass(frozen=True, slots=True)
class BatteryPreferences:
    """Capacity and limits in kWh/kW; ``reserve_kwh`` is kept for islanding."""

    capacity_kwh: Decimal
    soc_min_kwh: Decimal
    soc_max_kwh: Decimal
    max_charge_kw: Decimal
    max_discharge_kw: Decimal
    round_trip_efficiency: Decimal = Decimal("0.9")
    reserve_kwh: Decimal = _ZERO
    priority: int = 50
    island_headroom_kw: Decimal = _ZERO
    """Islanded, discharge power left out of the plan: grid-forming, the battery takes
    every deviation from the plan (losses, load noise) and trips past its limit."""

    def __post_init__(self) -> None:
        if not 0 <= self.soc_min_kwh <= self.soc_max_kwh <= self.capacity_kwh:
            raise ValueError(
                "battery needs 0 <= soc_min_kwh <= soc_max_kwh <= capacity_kwh, got "
                f"{self.soc_min_kwh}, {self.soc_max_kwh}, {self.capacity_kwh}"
            )
        if not 0 <= self.island_headroom_kw <= self.max_discharge_kw:
            raise ValueError(
                f"island_headroom_kw must be in [0, max_discharge_kw {self.max_discharge_kw}], "
                f"got {self.island_headroom_kw}"
            )
        if not 0 < self.round_trip_efficiency <= 1:
            raise ValueError(
                f"round_trip_efficiency must be in (0, 1], got {self.round_trip_efficiency}"
            )


@dataclass(frozen=True, slots=True)
class BatteryState:
    """State of charge now; whether the site is islanded; call options not yet exercised.

    ``written_calls_kw``: per interval, the capacity (kW) the battery has sold as call
    options and must still be able to deliver (``OptionBook.unexercised_kw``).
    """

    soc_kwh: Decimal
    islanded: bool = False
    written_calls_kw: Mapping[Interval, Decimal] = field(default_factory=dict)


def stored_energy_change_kwh(
    preferences: BatteryPreferences, charge_kw: float, duration_h: float
) -> float:
    """Energy added to the cells by charging at ``charge_kw`` (negative: discharging)."""
    return _stored_kwh(charge_kw, duration_h, _leg(preferences))


def _leg(preferences: BatteryPreferences) -> float:
    """√η: the share of energy kept on the way in, and lost on the way out."""
    return math.sqrt(float(preferences.round_trip_efficiency))


def _stored_kwh(rate_kw: float, duration_h: float, leg: float) -> float:
    """:func:`stored_energy_change_kwh` with √η worked out once per plan, not per call."""
    energy = rate_kw * duration_h
    return energy * leg if energy >= 0 else energy / leg


def _trajectory(soc0: float, rates: list[float], hs: list[float], leg: float) -> list[float]:
    """Stored energy at the end of each interval, charging at ``rates``."""
    soc, out = soc0, []
    for rate, h in zip(rates, hs, strict=True):
        soc += _stored_kwh(rate, h, leg)
        out.append(soc)
    return out


def _rate_up(base: float, room_kwh: float, h: float, leg: float) -> float:
    """Extra charging rate on top of ``base`` that adds at most ``room_kwh``."""
    if base >= 0:
        return room_kwh / (h * leg)
    to_zero = -base * h / leg
    if room_kwh <= to_zero:
        return room_kwh * leg / h
    return -base + (room_kwh - to_zero) / (h * leg)


def _rate_down(base: float, room_kwh: float, h: float, leg: float) -> float:
    """Extra discharging rate below ``base`` that removes at most ``room_kwh``."""
    if base <= 0:
        return room_kwh * leg / h
    to_zero = base * h * leg
    if room_kwh <= to_zero:
        return room_kwh / (h * leg)
    return base + (room_kwh - to_zero) * leg / h


class Battery(Personality[BatteryPreferences]):
    """Forecast = expected price per interval; intervals without one are not traded."""

    def _floor(self, state: BatteryState) -> float:
        p = self.preferences
        return float(p.soc_min_kwh if state.islanded else max(p.soc_min_kwh, p.reserve_kwh))

    @staticmethod
    def _worst(held: list[float], sells: list[float], calls: list[float]) -> list[float]:
        return [h - s - c for h, s, c in zip(held, sells, calls, strict=True)]

    def call_capacity_kw(
        self,
        intervals: Sequence[Interval],
        state: BatteryState,
        positions: Positions,
        interval: Interval,
    ) -> Decimal:
        """Discharge (kW) it can still promise on ``interval`` whatever else is accepted.

        ``intervals`` is the horizon (the check runs to its end); ``interval`` one of them.
        """
        ordered = _in_order(intervals)
        t = ordered.index(interval)
        p = self.preferences
        leg = _leg(p)
        hs = [iv.duration_us / _HOUR_US for iv in ordered]
        held = [-float(positions.get(iv, _ZERO)) for iv in ordered]
        calls = [float(state.written_calls_kw.get(iv, _ZERO)) for iv in ordered]
        low = _trajectory(
            float(state.soc_kwh), self._worst(held, [0.0] * len(held), calls), hs, leg
        )
        room = min(s - self._floor(state) - _MARGIN_KWH for s in low[t:])
        base = held[t] - calls[t]
        want = base + float(p.max_discharge_kw)
        if want <= 0 or room <= 0:
            return _ZERO
        return kw(min(want, _rate_down(base, room, hs[t], leg)))

    @staticmethod
    def _room_order(
        prices: list[Decimal | None], state: BatteryState
    ) -> tuple[list[int], list[int]]:
        """Intervals in the order charging and discharging room is handed out: cheapest
        and dearest forecast first; islanded, soonest first for both — the island needs
        its storage now, and a forecast grid price is no use without the grid."""
        known = [(t, f) for t, f in enumerate(prices) if f is not None]
        if state.islanded:
            soonest = [t for t, _ in known]
            return soonest, soonest
        cheap = [t for _, t in sorted((f, t) for t, f in known)]
        dear = [t for _, t in sorted((-f, t) for t, f in known)]
        return cheap, dear

    def plan(
        self,
        intervals: Sequence[Interval],
        state: BatteryState,
        forecast: Forecast,
        positions: Positions,
    ) -> tuple[list[float], list[float], Decimal, Decimal]:
        """Buy and sell quantities (kW) per interval, with the bid and offer prices."""
        p = self.preferences
        n = len(intervals)
        buys, sells = [0.0] * n, [0.0] * n
        # Each forecast is read once, by index: an Interval key hashes in Python.
        prices = [forecast.get(iv) for iv in intervals]
        known = [f for f in prices if f is not None]
        if not known:
            return buys, sells, _ZERO, _ZERO
        value = sum(known, _ZERO) / len(known)
        bid = price(value * p.round_trip_efficiency)
        offer = max(price(value / p.round_trip_efficiency), bid + _PRICE_STEP)
        leg = _leg(p)
        hs = [iv.duration_us / _HOUR_US for iv in intervals]
        held = [-float(positions.get(iv, _ZERO)) for iv in intervals] if positions else [-0.0] * n
        written = state.written_calls_kw
        calls = [float(written.get(iv, _ZERO)) for iv in intervals] if written else [0.0] * n
        soc0 = float(state.soc_kwh)
        floor = self._floor(state)
        ceiling = float(p.soc_max_kwh)
        islanded = state.islanded
        max_charge_kw = float(p.max_charge_kw)
        max_discharge_kw = float(p.max_discharge_kw - (p.island_headroom_kw if islanded else 0))
        cheap, dear = self._room_order(prices, state)
        high = _trajectory(soc0, held, hs, leg)
        for t in cheap:
            base, h = held[t], hs[t]
            want = max_charge_kw - base
            room = ceiling - _MARGIN_KWH - (high[t] if islanded else max(high[t:]))
            if want > 0 and room > 0:
                buys[t] = rate = min(want, _rate_up(base, room, h, leg))
                gain = _stored_kwh(base + rate, h, leg) - _stored_kwh(base, h, leg)
                high[t:] = [s + gain for s in high[t:]]
        worst = self._worst(held, sells, calls)
        low = _trajectory(soc0, worst, hs, leg)
        for t in dear:
            base, h = worst[t], hs[t]
            want = base + max_discharge_kw
            room = (low[t] if islanded else min(low[t:])) - floor - _MARGIN_KWH
            if want > 0 and room > 0:
                sells[t] = rate = min(want, _rate_down(base, room, h, leg))
                loss = _stored_kwh(base, h, leg) - _stored_kwh(base - rate, h, leg)
                low[t:] = [s - loss for s in low[t:]]
        return buys, sells, bid, offer

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: BatteryState,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]:
        ordered = _in_order(intervals)
        buys, sells, bid, offer = self.plan(ordered, state, forecast, positions)
        party = self.party
        if not (bid.is_finite() and offer.is_finite()):
            raise PriceError(f"battery {party}: bid {bid} and offer {offer} must be finite")
        out: list[Tender] = []
        # A rate that rounds to more than zero is a valid tender quantity, the bid and
        # offer are finite and the party was checked: the tenders need no further checks.
        prefixes = round_prefixes(party, now, ordered)
        for interval, prefix, buy, sell in zip(ordered, prefixes, buys, sells, strict=True):
            if buy >= _KW_STEP and (rate := kw(buy)) > 0:
                out.append(trusted_tender(f"{prefix}:BUY", party, _BUY, interval, bid, rate))
            if sell >= _KW_STEP and (rate := kw(sell)) > 0:
                out.append(trusted_tender(f"{prefix}:SELL", party, _SELL, interval, offer, rate))
        return out

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        """Charge (+) or discharge (−) at the held rate, within the power limits."""
        p = self.preferences
        return draw_setpoint(interval, position_kw, -p.max_discharge_kw, p.max_charge_kw)
