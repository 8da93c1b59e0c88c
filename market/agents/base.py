"""The contract every agent personality keeps, and the curve → tenders arithmetic they share.

An agent turns its device's state and forecast into tenders for each interval of the
horizon, and a cleared position into a target operating level::

    tenders(now, intervals, state, forecast, positions) -> list[Tender]
    setpoint(interval, position_kw) -> Setpoint

- ``state`` is the personality's own small dataclass (zone temperature, state of charge,
  EV session …) read by the gateway from the device; ``forecast`` maps an interval to the
  one figure the personality plans with (its load, its PV output or the expected price —
  each personality says which); ``positions`` maps an interval to the agent's current
  position on it (TeMIX sign: positive = net seller).
- Positions accumulate: an agent tenders only the *difference* between the position it
  wants and the one it holds (buy-back / sell-back), never a fresh total.
- Each agent describes what it wants as a :class:`PositionCurve` — the position it wants
  as the price rises — and :func:`curve_tenders` turns curve minus current position into
  buy tenders (accepted at or below their price) and sell tenders (at or above).
- ``Setpoint.power_kw`` is the target draw from the building bus: positive consumes,
  negative produces (so it is minus the position, limited to what the device can do).

The market operator does not see states or forecasts: it talks to a :class:`Participant`
(party, priority, tenders for a horizon). :class:`BoundAgent` binds an agent to the state
and forecast of this round — that is what the gateway's device service hands the market.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Context, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Generic, NamedTuple, Protocol, TypeVar

from market.clearing import DEFAULT_PRICE_CAP, DEFAULT_PRICE_FLOOR, PRICE_SCALE, QUANTITY_SCALE
from market.model import check_id, trusted_tender
from market.quantities import check_price, check_quantity
from market.temix import Interval, PriceError, QuantityError, Side, Tender

__all__ = [
    "DEFAULT_BAND",
    "Agent",
    "BoundAgent",
    "Forecast",
    "Participant",
    "Personality",
    "PositionCurve",
    "Positions",
    "PriceBand",
    "Setpoint",
    "block_tender",
    "curve_tenders",
    "draw_setpoint",
    "hours",
    "kw",
    "price",
    "round_prefixes",
    "tender_prefix",
]

Forecast = Mapping[Interval, Decimal]
"""One planning figure per interval (load kW, PV kW or expected price per kWh)."""
Positions = Mapping[Interval, Decimal]
"""The agent's current position per interval (kW, positive = net seller)."""

StateT = TypeVar("StateT", contravariant=True)

_ZERO = Decimal(0)
_KW_QUANTUM = Decimal(1) / QUANTITY_SCALE
_PRICE_QUANTUM = Decimal(1) / PRICE_SCALE
_NO_QUANTUM = _PRICE_QUANTUM * 0
"""Zero at the price resolution: a step's ask keeps the exponent the clearing expects."""
_BUY, _SELL = Side.BUY, Side.SELL


def kw(value: Decimal | float | int) -> Decimal:
    """A rate rounded down to the market's resolution (one micro-kW)."""
    return Decimal(value).quantize(_KW_QUANTUM, rounding=ROUND_FLOOR)


def price(value: Decimal | float | int) -> Decimal:
    """A price rounded half-even to the market's resolution (one micro-unit per kWh)."""
    return Decimal(value).quantize(_PRICE_QUANTUM)


@dataclass(frozen=True, slots=True)
class PriceBand:
    """The market's price floor and cap: "any price" for an agent means one of these."""

    floor: Decimal = DEFAULT_PRICE_FLOOR
    cap: Decimal = DEFAULT_PRICE_CAP

    def __post_init__(self) -> None:
        finite = all(type(p) is Decimal and p.is_finite() for p in (self.floor, self.cap))
        if not finite or self.floor > self.cap:
            raise PriceError(
                f"price band needs finite Decimal prices with floor <= cap, got floor "
                f"{self.floor!r} and cap {self.cap!r}"
            )


DEFAULT_BAND = PriceBand()


@dataclass(frozen=True, slots=True)
class Setpoint:
    """Target operating level for one interval: draw from the bus (+ consumes, − produces)."""

    interval: Interval
    power_kw: Decimal


class PositionCurve(NamedTuple):
    """The position an agent wants as a function of the clearing price.

    At prices below every step the agent wants ``base_kw``; each ``(price, delta_kw)`` step
    (prices ascending, ``delta_kw`` > 0) raises the wanted position by ``delta_kw`` once the
    price is above ``price`` — a buyer buys less, a seller sells more. A critical load is
    a flat curve at minus its load; a PV array is 0 with one step of its output at ~0.
    (A named tuple: every agent makes one per interval per round.)
    """

    base_kw: Decimal
    steps: tuple[tuple[Decimal, Decimal], ...] = ()

    @classmethod
    def flat(cls, position_kw: Decimal) -> PositionCurve:
        return cls(position_kw)


def curve_tenders(
    party: str,
    interval: Interval,
    curve: PositionCurve,
    current_kw: Decimal,
    band: PriceBand,
    id_prefix: str,
) -> list[Tender]:
    """Tenders that move ``current_kw`` onto ``curve`` at whatever price clears.

    Quantities and prices are used as given (the clearing rounds them conservatively to
    its micro-units); agents that compute them by division round with :func:`kw`.

    Below the current position the curve is bought (buy tenders at each step's price, and
    at the cap for what is wanted at any price); above it, sold (sell tenders at each
    step's price, and at the floor for what is offered at any price). When the current
    position lies inside a step, the sell-back of that step is offered one micro-unit above
    the step price, so the agent never buys and sells at one price.

    The curve is checked here (finite step prices, positive step sizes, a named party), so
    the tenders can be built without per-tender checks — this runs for every agent and
    interval.
    """
    _check_party(party, interval)
    return [
        trusted_tender(f"{id_prefix}:{n}", party, side, interval, at, quantity)
        for n, (side, at, quantity) in enumerate(
            _curve_terms(party, interval, curve, current_kw, band)
        )
    ]


_Terms = tuple[tuple[Side, Decimal, Decimal], ...]
"""(side, price, quantity) of each tender one interval needs, in id order."""


def _check_party(party: str, interval: Interval) -> None:
    if type(party) is not str or not party:
        raise QuantityError(f"{party!r}: tenders on {interval} need a named party")


def _curve_terms(
    party: str, interval: Interval, curve: PositionCurve, current_kw: Decimal, band: PriceBand
) -> _Terms:
    """The checked terms behind :func:`curve_tenders` (the party is checked by the caller).

    A flat curve (critical loads, idle devices) and a one-step curve (PV, lighting, EV,
    generators) take short paths with the same arithmetic as the general one, so every
    quantity keeps its exact value and exponent.
    """
    base, steps = curve
    if not steps:
        if not (base.is_finite() and current_kw.is_finite()):
            raise _not_finite(party, interval, base, current_kw)
        if current_kw > base:
            return ((_BUY, band.cap, current_kw - base),)
        if base > current_kw:
            return ((_SELL, band.floor, base - current_kw),)
        return ()
    if len(steps) == 1:
        ((step_price, delta),) = steps
        if not (delta > _ZERO and step_price.is_finite()):
            raise _bad_step(party, interval, step_price, delta)
        after = base + delta
        if not (after.is_finite() and current_kw.is_finite()):
            raise _not_finite(party, interval, base, current_kw)
        # min() and max() of the general path are resolved by the comparisons made here
        # (on a tie they return their first argument).
        if current_kw > base:  # inside the step: buys it (and any excess back at the cap)
            if current_kw > after:
                return ((_BUY, band.cap, current_kw - after), (_BUY, step_price, after - base))
            if after > current_kw:
                ask = step_price + _PRICE_QUANTUM
                return ((_BUY, step_price, current_kw - base), (_SELL, ask, after - current_kw))
            return ((_BUY, step_price, after - base),)
        ask = step_price + _NO_QUANTUM
        if base > current_kw:
            return ((_SELL, band.floor, base - current_kw), (_SELL, ask, after - base))
        if after > current_kw:  # current_kw == base
            return ((_SELL, ask, after - base),)
        return ()
    return _steps_terms(party, interval, curve, current_kw, band)


def _steps_terms(
    party: str, interval: Interval, curve: PositionCurve, current_kw: Decimal, band: PriceBand
) -> _Terms:
    """Terms of a curve of any number of steps (see :func:`curve_tenders`)."""
    out: list[tuple[Side, Decimal, Decimal]] = []
    base, steps = curve
    top = base
    for step_price, delta in steps:
        if not (delta > 0 and step_price.is_finite()):
            raise _bad_step(party, interval, step_price, delta)
        top += delta
    if not (top.is_finite() and current_kw.is_finite()):
        raise _not_finite(party, interval, base, current_kw)
    if current_kw > top:
        out.append((_BUY, band.cap, current_kw - top))
    if base > current_kw:
        out.append((_SELL, band.floor, base - current_kw))
    before = base
    for step_price, delta in steps:
        after = before + delta
        inside = current_kw > before
        if inside:
            out.append((_BUY, step_price, min(after, current_kw) - before))
        if after > current_kw:
            ask = step_price + (_PRICE_QUANTUM if inside else _NO_QUANTUM)
            out.append((_SELL, ask, after - max(before, current_kw)))
        before = after
    return tuple(out)


def _bad_step(party: str, interval: Interval, step_price: Decimal, delta: Decimal) -> PriceError:
    return PriceError(
        f"{party}: curve step ({step_price}, {delta} kW) on {interval} needs a finite "
        "price and a positive size"
    )


def _not_finite(
    party: str, interval: Interval, base: Decimal, current_kw: Decimal
) -> QuantityError:
    return QuantityError(
        f"{party!r}: curve from {base} kW and position {current_kw} kW on {interval} must "
        "be finite, for a named party"
    )


def block_tender(
    tender_id: str, party: str, side: Side, interval: Interval, price: Decimal, quantity: Decimal
) -> Tender:
    """An all-or-none tender (a generator's start block) built like :func:`trusted_tender`.

    The caller guarantees the ids, side and interval; the price and quantity are checked
    here with the tender's own checks (and error texts), which is all of its validation
    an agent's block needs — at a fraction of the cost.
    """
    if not (type(price) is Decimal and price.is_finite()):
        price = check_price(price, f"price of tender {tender_id}")
    if not (type(quantity) is Decimal and quantity.is_finite() and quantity > 0):
        quantity = check_quantity(quantity, f"quantity of tender {tender_id}")
    return trusted_tender(tender_id, party, side, interval, price, quantity, all_or_none=True)


def tender_prefix(party: str, now: datetime, interval: Interval) -> str:
    """Unique, readable id stem for one agent's tenders on one interval in one round."""
    return party + _stem(now.isoformat(), interval)


def _stem(now_written: str, interval: Interval) -> str:
    """The part of :func:`tender_prefix` after the party (the one place its format lives)."""
    return f"@{now_written}/{interval}"


class _RoundStems:
    """The id stems (``tender_prefix`` without the party) of the last horizon asked for:
    every agent of a round asks for the same one (the same list object at the same
    ``now``), so it is built once per round, not once per agent.

    ``now`` must match as written, not only as an instant: 02:00Z and 03:00+01:00 are
    equal datetimes (and a fall-back hour's two 01:30s in one zone too) but ids show the
    offset.
    """

    def __init__(self) -> None:
        self._last: tuple[Sequence[Interval], datetime, str, list[str]] | None = None

    def __call__(self, now: datetime, intervals: Sequence[Interval]) -> list[str]:
        last = self._last
        if last is not None and last[0] is intervals and last[1] is now:
            return last[3]
        written = now.isoformat()
        if last is not None and last[0] is intervals and last[2] == written:
            return last[3]
        stems = [_stem(written, iv) for iv in intervals]
        self._last = (intervals, now, written, stems)
        return stems


_round_stems = _RoundStems()


def round_prefixes(party: str, now: datetime, intervals: Sequence[Interval]) -> list[str]:
    """:func:`tender_prefix` of each interval, from the stems shared by the whole round."""
    return [party + stem for stem in _round_stems(now, intervals)]


class Agent(Protocol[StateT]):
    """An agent personality (see the module docstring)."""

    @property
    def party(self) -> str: ...

    @property
    def priority(self) -> int: ...

    def tenders(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        state: StateT,
        forecast: Forecast,
        positions: Positions,
    ) -> list[Tender]: ...

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint: ...


class Participant(Protocol):
    """What the market operator needs of a trader in its market."""

    @property
    def party(self) -> str: ...

    @property
    def priority(self) -> int: ...

    def tenders(
        self, now: datetime, intervals: Sequence[Interval], positions: Positions
    ) -> list[Tender]: ...


S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class BoundAgent(Generic[S]):
    """An agent with this round's device state and forecast: a :class:`Participant`."""

    agent: Agent[S]
    state: S
    forecast: Forecast = field(default_factory=dict)

    @property
    def party(self) -> str:
        return self.agent.party

    @property
    def priority(self) -> int:
        return self.agent.priority

    def tenders(
        self, now: datetime, intervals: Sequence[Interval], positions: Positions
    ) -> list[Tender]:
        return self.agent.tenders(now, intervals, self.state, self.forecast, positions)


class _Prioritised(Protocol):
    @property
    def priority(self) -> int: ...


PrefsT = TypeVar("PrefsT", bound=_Prioritised)


class Personality(Generic[PrefsT]):
    """What every personality shares: ``(party, preferences, band)`` and its priority.

    A subclass adds its own ``tenders`` and ``setpoint``; one whose plan is a curve per
    interval hands :meth:`curve_round` the curve of each interval.
    """

    def __init__(self, party: str, preferences: PrefsT, band: PriceBand = DEFAULT_BAND) -> None:
        check_id(party, "agent party")
        self.party = party
        self.preferences = preferences
        self.band = band

    @property
    def priority(self) -> int:
        return self.preferences.priority

    def curve_round(
        self,
        now: datetime,
        intervals: Sequence[Interval],
        positions: Positions,
        curve_of: Callable[[Interval], PositionCurve | None],
    ) -> list[Tender]:
        """Tenders moving each interval's position onto ``curve_of(interval)``.

        An interval whose curve is None is not tendered (its position is held as it is).
        When an interval has the very same curve and position objects as the one before
        (a load without a forecast, a first round without positions), its terms are
        reused rather than worked out again: only the interval and the ids differ.
        """
        out: list[Tender] = []
        party, band = self.party, self.band
        last_curve: PositionCurve | None = None
        last_held: Decimal | None = None
        terms: _Terms = ()
        for interval, stem in zip(intervals, _round_stems(now, intervals), strict=True):
            curve = curve_of(interval)
            if curve is None:
                continue
            held = positions.get(interval, _ZERO) if positions else _ZERO
            if curve is not last_curve or held is not last_held:
                if last_curve is None:
                    _check_party(party, interval)
                terms = _curve_terms(party, interval, curve, held, band)
                last_curve, last_held = curve, held
            prefix = party + stem
            for n, (side, at, quantity) in enumerate(terms):
                out.append(trusted_tender(f"{prefix}:{n}", party, side, interval, at, quantity))
        return out


def draw_setpoint(
    interval: Interval, position_kw: Decimal, low_kw: Decimal, high_kw: Decimal
) -> Setpoint:
    """Setpoint drawing minus the position, kept within what the device can do."""
    return Setpoint(interval, min(max(-position_kw, low_kw), high_kw))


_HOURS_CONTEXT = Context(prec=28)
_HOUR_US = 3_600_000_000


def hours(interval: Interval) -> Decimal:
    """Interval length in hours as a Decimal (28 digits whatever the caller's context;
    exact for whole quarter hours)."""
    return _hours(interval.duration_us)


@lru_cache(maxsize=64)
def _hours(duration_us: int) -> Decimal:
    """A market has a handful of durations: each one's hours are worked out once."""
    length = Fraction(duration_us, _HOUR_US)
    return _HOURS_CONTEXT.divide(Decimal(length.numerator), length.denominator)
