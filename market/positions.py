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
from collections.abc import Iterable
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
        self._count += 1
        product = transaction.product
        if product is not None and isinstance(product, OptionProduct):
            return
        signed = transaction.quantity if transaction.side is Side.SELL else -transaction.quantity
        interval = transaction.interval
        start_us, duration_us = interval.start_us, interval.duration_us
        self._index(transaction.party, duration_us).add(start_us, signed)
        self._index(transaction.counterparty, duration_us).add(start_us, -signed)

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

    def positions(
        self, party: str, bounding: Interval, step: timedelta
    ) -> list[tuple[Interval, Decimal]]:
        """The stream of positions of ``party`` over ``bounding`` split into ``step`` pieces."""
        if not isinstance(step, timedelta) or step <= timedelta(0):
            raise IntervalError(f"position step must be a positive timedelta, got {step!r}")
        return [(piece, self.position(party, piece)) for piece in bounding.split(step)]
