"""The forward horizon and the round that clears it: nested intervals, accumulating positions.

Horizon. Tiers from config, finest first, e.g. 5-minute intervals for the next 2 hours,
15-minute to 6 hours, hourly to 24 hours. The horizon starts at the first boundary of the
finest tier at or after ``now``; each tier runs until its reach, extended to the next
boundary of the tier above so intervals never overlap, and the next tier carries on from
there. As time advances the same hour is traded first as one hourly interval, later as
four 15-minute and finally as twelve 5-minute intervals.

Round. :meth:`Micromarket.clear_round` asks every participant for tenders over the
horizon, giving it its current position per interval (every transaction whose interval
contains it, coarser ones included — what :class:`~market.temix.PositionBook` sums),
clears each interval (:func:`market.clearing.clear`), and adds the transactions to the
book. Agents tender only the difference between what they want and what they hold, so
positions accumulate TeMIX-fashion (buy-back / sell-back) instead of being overwritten.
The operator's position on an interval is the building's net position: minus the sum
of the agents' positions, i.e. imports − exports, which the trader squares outside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from itertools import pairwise
from typing import Protocol, runtime_checkable

from market.agents.base import DEFAULT_BAND, BoundAgent, Participant, PriceBand
from market.clearing import DEFAULT_OPERATOR, ClearingResult, ExternalTenders, clear
from market.collector import paused_collection
from market.temix import Interval, IntervalError, PositionBook, Tender, Transaction
from market.transaction_log import TransactionLog

__all__ = [
    "DEFAULT_TIERS",
    "HorizonTier",
    "Micromarket",
    "RoundResult",
    "TradeRecorder",
    "horizon_intervals",
]


@dataclass(frozen=True, slots=True)
class HorizonTier:
    """Intervals of ``duration`` up to ``reach`` ahead of now."""

    duration: timedelta
    reach: timedelta


_INSTANT = timedelta(microseconds=1)

DEFAULT_TIERS = (
    HorizonTier(timedelta(minutes=5), timedelta(hours=2)),
    HorizonTier(timedelta(minutes=15), timedelta(hours=6)),
    HorizonTier(timedelta(hours=1), timedelta(hours=24)),
)


def _boundary_at_or_after(instant: datetime, duration: timedelta, zone: tzinfo) -> datetime:
    containing = Interval(instant, _INSTANT).containing(duration, zone)
    return instant if containing.start == instant else containing.end


def horizon_intervals(
    now: datetime, tiers: Sequence[HorizonTier] = DEFAULT_TIERS, zone: tzinfo = UTC
) -> list[Interval]:
    """The nested, non-overlapping intervals of the horizon at ``now`` (rule above)."""
    if not tiers:
        raise IntervalError("a horizon needs at least one tier")
    for finer, coarser in pairwise(tiers):
        if coarser.duration % finer.duration or coarser.reach < finer.reach:
            raise IntervalError(
                f"horizon tiers must nest: {coarser.duration} after {finer.duration} "
                "must be a whole multiple with a reach at least as long"
            )
    start = _boundary_at_or_after(now, tiers[0].duration, zone)
    out: list[Interval] = []
    for k, tier in enumerate(tiers):
        end = _boundary_at_or_after(now + tier.reach, tier.duration, zone)
        if k + 1 < len(tiers):
            end = _boundary_at_or_after(end, tiers[k + 1].duration, zone)
        while start < end:
            out.append(Interval(start, tier.duration))
            start = start + tier.duration
    return out


@runtime_checkable
class TradeRecorder(Protocol):
    """A participant that must hear of its fills (a nested market shares them out)."""

    def record(self, transactions: Sequence[Transaction]) -> list[Transaction]: ...


@dataclass(frozen=True)
class RoundResult:
    """One round: the horizon at ``now`` and the clearing of each of its intervals."""

    now: datetime
    intervals: tuple[Interval, ...]
    results: tuple[ClearingResult, ...]

    @property
    def transactions(self) -> list[Transaction]:
        return [t for r in self.results for t in r.transactions]

    def result(self, interval: Interval) -> ClearingResult:
        for r in self.results:
            if r.interval == interval:
                return r
        raise IntervalError(f"interval {interval} is not in the horizon of this round")


ExternalSource = Callable[[Interval], ExternalTenders | None]


class _HorizonIndex:
    """The intervals of one round, found by identity first (agents hand back the same
    objects) and by equality otherwise — cheaper than hashing thousands of intervals."""

    def __init__(self, intervals: Sequence[Interval]) -> None:
        self.intervals = list(intervals)
        self.starts = [iv.start_us for iv in self.intervals]
        self.ends = [s + iv.duration_us for s, iv in zip(self.starts, self.intervals, strict=True)]
        self._by_id = {id(iv): j for j, iv in enumerate(self.intervals)}

    def find(self, interval: Interval) -> int | None:
        j = self._by_id.get(id(interval))
        if j is not None:  # the index keeps its intervals alive, so an id names one of them
            return j
        for j, candidate in enumerate(self.intervals):
            if candidate == interval:
                return j
        return None


class _HorizonPositions(Mapping[Interval, Decimal]):
    """One party's positions on the intervals of a round (a read-only mapping)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: _HorizonIndex, values: list[Decimal]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, interval: Interval) -> Decimal:
        j = self._index.find(interval)
        if j is None:
            raise KeyError(interval)
        return self._values[j]

    def __iter__(self) -> Iterator[Interval]:
        return iter(self._index.intervals)

    def __len__(self) -> int:
        return len(self._values)


class Micromarket:
    """The market operator's book: clears rounds over a rolling horizon."""

    def __init__(
        self,
        *,
        tiers: Sequence[HorizonTier] = DEFAULT_TIERS,
        zone: tzinfo = UTC,
        operator: str = DEFAULT_OPERATOR,
        band: PriceBand = DEFAULT_BAND,
    ) -> None:
        self.tiers = tuple(tiers)
        self.zone = zone
        self.operator = operator
        self.band = band
        self.book = PositionBook()
        self.transactions = TransactionLog()
        """Booked transactions, kept for settlement until :meth:`forget_before`."""

    def add_transaction(self, transaction: Transaction) -> None:
        """Book a transaction made outside the auction (e.g. an option exercise, or one
        read back from the ledger after a restart)."""
        self.book.add(transaction)
        self.transactions.add(transaction)

    def _book_all(self, transactions: Sequence[Transaction]) -> None:
        self.book.add_all(transactions)
        self.transactions.extend(transactions)

    def transactions_covering(self, interval: Interval) -> list[Transaction]:
        """Every booked transaction whose interval contains ``interval`` (for settlement)."""
        return self.transactions.covering(interval)

    def forget_before(self, instant: datetime) -> int:
        """Drop booked transactions whose interval ended by ``instant`` (once settled).

        Positions are unaffected (the book keeps its sums); returns how many were dropped.
        """
        return self.transactions.forget_before(instant)

    def positions(self, party: str, intervals: Sequence[Interval]) -> Mapping[Interval, Decimal]:
        """A party's position on each interval (empty when it holds nothing)."""
        return self._positions(party, _HorizonIndex(intervals))

    def _positions(self, party: str, index: _HorizonIndex) -> Mapping[Interval, Decimal]:
        values = self.book.positions_over(party, index.starts, index.ends)
        return {} if values is None else _HorizonPositions(index, values)

    def net_import_kw(self, interval: Interval) -> Decimal:
        """The building's net position on ``interval``: what the operator must import."""
        return self.book.position(self.operator, interval)

    def _held_by(self, interval: Interval) -> dict[str, Decimal]:
        """Every party's held net purchase on ``interval`` (kW; negative: a net sale)."""
        book = self.book
        return {party: -book.position(party, interval) for party in book.parties
                if party != self.operator}

    def _held_import_kw(
        self, interval: Interval, islanded: bool, cover_until: datetime | None
    ) -> Decimal:
        if not islanded or (cover_until is not None and interval.start >= cover_until):
            return Decimal(0)
        return self.net_import_kw(interval)

    def clear_round(
        self,
        now: datetime,
        participants: Sequence[Participant],
        *,
        external: ExternalSource | None = None,
        islanded: bool = False,
        cover_until: datetime | None = None,
    ) -> RoundResult:
        """Collect tenders over the horizon at ``now``, clear every interval, book the result.

        Islanded, the net import held on each interval that starts before ``cover_until``
        (every interval when None) is bought back inside the building, and what cannot be
        is reported by the parties holding it (``held_import_kw`` and ``held_by`` of
        :func:`market.clearing.clear`); later intervals keep their
        grid positions, to be delivered if the grid is back by then or covered by a later
        round. The cyclic garbage collector is paused for the round
        (:mod:`market.collector`).
        """
        with paused_collection():
            return self._clear_round(now, participants, external, islanded, cover_until)

    def _clear_round(
        self,
        now: datetime,
        participants: Sequence[Participant],
        external: ExternalSource | None,
        islanded: bool,
        cover_until: datetime | None,
    ) -> RoundResult:
        intervals = horizon_intervals(now, self.tiers, self.zone)
        index = _HorizonIndex(intervals)
        buckets: list[list[Tender]] = [[] for _ in intervals]
        for participant in participants:
            held = self._positions(participant.party, index)
            for t in participant.tenders(now, index.intervals, held):
                j = index.find(t.interval)
                if j is None:
                    raise IntervalError(
                        f"{participant.party} tendered {t.tender_id} for {t.interval}, which "
                        f"is not an interval of the horizon at {now.isoformat()}"
                    )
                buckets[j].append(t)
        priorities = {p.party: p.priority for p in participants}
        results = []
        for interval, bucket in zip(intervals, buckets, strict=True):
            result = clear(
                bucket,
                interval,
                external=None if external is None else external(interval),
                islanded=islanded,
                price_floor=self.band.floor,
                price_cap=self.band.cap,
                priorities=priorities,
                operator=self.operator,
                now=now,
                held_import_kw=(cover := self._held_import_kw(interval, islanded, cover_until)),
                held_by=self._held_by(interval) if cover else None,
            )
            self._book_all(result.transactions)
            results.append(result)
        round_result = RoundResult(now, tuple(intervals), tuple(results))
        recorders = [
            p for p in participants if type(p) is not BoundAgent and isinstance(p, TradeRecorder)
        ]
        if recorders:
            fills = round_result.transactions
            for recorder in recorders:
                recorder.record([t for t in fills if t.party == recorder.party])
        return round_result
