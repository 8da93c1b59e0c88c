"""Parties and market contexts: who trades, and the rules of the market they trade in.

A market context fixes the currency, the power and energy units every price and quantity
is read in, the interval durations the market trades, its resource, and the zone whose
clock intervals align to (see :func:`market.interval.is_aligned`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from market.errors import IntervalError, TemixError
from market.interval import Interval, format_duration, is_aligned, local_day
from market.model import Quote, Tender, Transaction

__all__ = ["DEFAULT_INTERVAL_DURATIONS", "MarketContext", "Party"]

DEFAULT_INTERVAL_DURATIONS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
"""5-, 15- and 60-minute intervals, nested and aligned on the clock."""


@dataclass(frozen=True, slots=True)
class Party:
    """A market participant, known by its party id."""

    party_id: str
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.party_id, str) or not self.party_id:
            raise TemixError(f"party_id must be a non-empty string, got {self.party_id!r}")


@dataclass(frozen=True, slots=True)
class MarketContext:
    """The rules of one market, named by its URI (``market_id``).

    If ``timedelta(days=1)`` is among ``interval_durations``, local days (23/24/25 h in
    ``zone``) are tradeable too.
    """

    market_id: str
    currency: str = "USD"
    power_unit: str = "kW"
    energy_unit: str = "kWh"
    interval_durations: tuple[timedelta, ...] = DEFAULT_INTERVAL_DURATIONS
    resource: str = "POWER"
    zone: str = "UTC"

    def __post_init__(self) -> None:
        for name in ("market_id", "currency", "power_unit", "energy_unit", "resource"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise TemixError(f"market context {name} must be a non-empty string, got {value!r}")
        object.__setattr__(self, "interval_durations", tuple(self.interval_durations))
        if not self.interval_durations:
            raise IntervalError(f"market {self.market_id} lists no interval durations")
        for duration in self.interval_durations:
            if not isinstance(duration, timedelta) or duration <= timedelta(0):
                raise IntervalError(
                    f"market {self.market_id}: interval durations must be positive, "
                    f"got {duration!r}"
                )
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise TemixError(
                f"market {self.market_id}: unknown time zone {self.zone!r}; "
                "use an IANA name such as 'America/New_York' or 'UTC'"
            ) from err

    @property
    def price_unit(self) -> str:
        """How prices read, e.g. ``USD/kWh``."""
        return f"{self.currency}/{self.energy_unit}"

    def check_interval(self, interval: Interval) -> Interval:
        """Return ``interval`` if this market trades it: a listed duration, aligned."""
        zone = ZoneInfo(self.zone)
        if interval.duration not in self.interval_durations:
            local = interval.start.astimezone(zone).date()
            if timedelta(days=1) in self.interval_durations and interval == local_day(local, zone):
                return interval
            listed = ", ".join(format_duration(d) for d in self.interval_durations)
            raise IntervalError(
                f"market {self.market_id} trades intervals of {listed}, "
                f"not {format_duration(interval.duration)} ({interval})"
            )
        if not is_aligned(interval, zone):
            raise IntervalError(
                f"interval {interval} is not aligned to the {self.zone} clock of market "
                f"{self.market_id}: its start must be a whole multiple of "
                f"{format_duration(interval.duration)} after local midnight"
            )
        return interval

    def check(self, item: Tender | Transaction | Quote) -> None:
        """Reject a tender, transaction or quote of another market or a misaligned interval."""
        if item.market_id and item.market_id != self.market_id:
            raise TemixError(
                f"{type(item).__name__.lower()} belongs to market {item.market_id!r}, "
                f"not {self.market_id!r}"
            )
        self.check_interval(item.interval)
