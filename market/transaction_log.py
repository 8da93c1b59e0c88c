"""Transactions kept for delivery and settlement, found by the interval they cover.

Every finest interval (every five minutes) settlement asks for the transactions whose
interval contains the one that ended: the 5-minute, 15-minute and hourly trades above it.
A scan over a day of transactions (tens of thousands on a busy site) cost tens of
milliseconds per settlement on the edge box — a demo day spent more time looking for
transactions than clearing. Here they are grouped by interval (duration, then start):
a query bisects once per distinct duration, and forgetting what ended drops whole
intervals. Order is kept: :meth:`TransactionLog.covering` and iteration return
transactions in the order they were added (statements list their lines in that order).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import count, groupby
from operator import attrgetter

from market.interval import Interval, instant_us
from market.model import Transaction

__all__ = ["TransactionLog"]

_INTERVAL = attrgetter("interval")
"""groupby compares keys identity first: a round's runs on one interval object cost no
Interval comparisons."""


class TransactionLog:
    """Transactions in the order added, indexed by the interval each one is for."""

    def __init__(self, transactions: Iterable[Transaction] = ()) -> None:
        self._groups: dict[int, dict[int, list[tuple[int, Transaction]]]] = {}
        """duration (µs) → start (µs) → (sequence number, transaction) in order added."""
        self._starts: dict[int, list[int]] = {}
        """duration (µs) → the starts of its groups, sorted."""
        self._sequence = count()
        self._count = 0
        self.extend(transactions)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Transaction]:
        entries = [e for by_start in self._groups.values() for g in by_start.values() for e in g]
        entries.sort(key=_sequence_number)
        return (transaction for _, transaction in entries)

    def add(self, transaction: Transaction) -> None:
        self.extend((transaction,))

    def extend(self, transactions: Iterable[Transaction]) -> None:
        """Add many (a market round's fills: each run on one interval shares one lookup)."""
        for interval, run in groupby(transactions, key=_INTERVAL):
            group = self._group(interval)
            before = len(group)
            group.extend(zip(self._sequence, run, strict=False))  # the count never ends
            self._count += len(group) - before

    def _group(self, interval: Interval) -> list[tuple[int, Transaction]]:
        duration_us, start_us = interval.duration_us, interval.start_us
        by_start = self._groups.setdefault(duration_us, {})
        group = by_start.get(start_us)
        if group is None:
            group = by_start[start_us] = []
            insort(self._starts.setdefault(duration_us, []), start_us)
        return group

    def covering(self, interval: Interval) -> list[Transaction]:
        """Every transaction whose interval contains ``interval`` (itself included)."""
        start_us = interval.start_us
        end_us = start_us + interval.duration_us
        found: list[tuple[int, Transaction]] = []
        for duration_us, starts in self._starts.items():
            by_start = self._groups[duration_us]
            low = bisect_left(starts, end_us - duration_us)
            for group_start in starts[low : bisect_right(starts, start_us)]:
                found += by_start[group_start]
        found.sort(key=_sequence_number)
        return [transaction for _, transaction in found]

    def forget_before(self, instant: datetime) -> int:
        """Drop the transactions whose interval ended by ``instant``; return how many."""
        until_us = instant_us(instant)
        dropped = 0
        for duration_us, starts in self._starts.items():
            by_start = self._groups[duration_us]
            ended = bisect_right(starts, until_us - duration_us)
            for start_us in starts[:ended]:
                dropped += len(by_start.pop(start_us))
            del starts[:ended]
        self._count -= dropped
        return dropped


def _sequence_number(entry: tuple[int, Transaction]) -> int:
    return entry[0]
