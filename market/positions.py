"""Positions: a party's net rate (kW) per interval, over nested intervals.

TeMIX sign: positive = net seller. The position of a party for an interval is Σ sells −
Σ buys of every transaction of that party (as party, or as counterparty with the side
flipped) whose interval contains the queried one — so a 5-minute position includes the
15-minute and hourly transactions above it. Option transactions count only once exercised.

The book keeps, per party and per duration, the net rate of each distinct interval start
(sorted), so ``add`` is a dictionary update and ``position`` costs a binary search per
distinct duration the party trades — not a scan over all transactions.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal

from market.errors import IntervalError
from market.interval import Interval
from market.model import Transaction
from market.products import OptionProduct
from market.sides import Side

__all__ = ["PositionBook"]

_ZERO = Decimal(0)


class _DurationIndex:
    """Net rates of one party on intervals of one duration, keyed by start (µs)."""

    __slots__ = ("net_kw", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.net_kw: dict[int, Decimal] = {}

    def add(self, start_us: int, signed_kw: Decimal) -> None:
        if start_us in self.net_kw:
            self.net_kw[start_us] += signed_kw
        else:
            insort(self.starts, start_us)
            self.net_kw[start_us] = signed_kw

    def covering(self, start_us: int, end_us: int, duration_us: int) -> Decimal:
        lo = bisect_left(self.starts, end_us - duration_us)
        hi = bisect_right(self.starts, start_us)
        total = _ZERO
        for key in self.starts[lo:hi]:
            total += self.net_kw[key]
        return total


class PositionBook:
    """Net positions of every party, fed with transactions one at a time."""

    def __init__(self, transactions: Iterable[Transaction] = ()) -> None:
        self._by_party: dict[str, dict[int, _DurationIndex]] = {}
        self._count = 0
        for transaction in transactions:
            self.add(transaction)

    def __len__(self) -> int:
        """Number of transactions added."""
        return self._count

    @property
    def parties(self) -> frozenset[str]:
        """Every party (or counterparty) with at least one transaction."""
        return frozenset(self._by_party)

    def add(self, transaction: Transaction) -> None:
        """Record ``transaction`` for its party and, side flipped, for its counterparty.

        An option transaction is a right, not a delivery: it enters positions only when
        exercised (the exercise's transaction trades the underlying), so it is counted in
        ``len`` but adds no rate here.
        """
        self.add_all((transaction,))

    def add_all(self, transactions: Iterable[Transaction]) -> None:
        """:meth:`add` for many transactions at once (a market round's fills).

        The legs of each counterparty are summed per interval before they are booked: in a
        round one operator is the counterparty of every fill, so its index is touched once
        per interval instead of once per transaction.
        """
        counter_legs: dict[tuple[str, int, int], Decimal] = {}
        count = 0
        sell = Side.SELL
        index_of = self._index
        for transaction in transactions:
            count += 1
            product = transaction.product
            if product is not None and isinstance(product, OptionProduct):
                continue
            quantity = transaction.quantity
            signed = quantity if transaction.side is sell else -quantity
            interval = transaction.interval
            start_us, duration_us = interval.start_us, interval.duration_us
            index_of(transaction.party, duration_us).add(start_us, signed)
            key = (transaction.counterparty, duration_us, start_us)
            leg = counter_legs.get(key)
            counter_legs[key] = -signed if leg is None else leg - signed
        for (party, duration_us, start_us), signed in counter_legs.items():
            index_of(party, duration_us).add(start_us, signed)
        self._count += count

    def _index(self, party: str, duration_us: int) -> _DurationIndex:
        by_duration = self._by_party.get(party)
        if by_duration is None:
            by_duration = self._by_party[party] = {}
        index = by_duration.get(duration_us)
        if index is None:
            index = by_duration[duration_us] = _DurationIndex()
        return index

    def position(self, party: str, interval: Interval) -> Decimal:
        """Net rate (kW, positive = net seller) of ``party`` over ``interval``."""
        by_duration = self._by_party.get(party)
        if not by_duration:
            return _ZERO
        start_us = interval.start_us
        end_us = start_us + interval.duration_us
        total = _ZERO
        for duration_us, index in by_duration.items():
            if duration_us >= interval.duration_us:
                total += index.covering(start_us, end_us, duration_us)
        return total

    def positions_over(
        self, party: str, starts_us: Sequence[int], ends_us: Sequence[int]
    ) -> list[Decimal] | None:
        """:meth:`position` on many intervals in one pass, None when ``party`` holds nothing.

        The intervals (given by start and end in µs, as :attr:`Interval.start_us`) must be
        sorted and must not overlap — a market horizon. Why: a round asks this for every
        agent over its whole horizon, and one pass over the party's trades costs less than
        a search per interval.
        """
        by_duration = self._by_party.get(party)
        if not by_duration or not starts_us:
            return None
        count = len(starts_us)
        first, last = starts_us[0], ends_us[-1]
        values = [_ZERO] * count
        for duration_us, index in by_duration.items():
            starts, net_kw = index.starts, index.net_kw
            for k in range(bisect_right(starts, first - duration_us), len(starts)):
                start = starts[k]
                if start >= last:
                    break
                end = start + duration_us
                kw = net_kw[start]
                j = bisect_left(starts_us, start)
                while j < count and starts_us[j] < end:
                    if ends_us[j] <= end:
                        values[j] += kw
                    j += 1
        return values

    def positions(
        self, party: str, bounding: Interval, step: timedelta
    ) -> list[tuple[Interval, Decimal]]:
        """The stream of positions of ``party`` over ``bounding`` split into ``step`` pieces."""
        if not isinstance(step, timedelta) or step <= timedelta(0):
            raise IntervalError(f"position step must be a positive timedelta, got {step!r}")
        return [(piece, self.position(party, piece)) for piece in bounding.split(step)]
