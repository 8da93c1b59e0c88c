"""Print how long a round of 250,000 transactions takes to build, book and query.

Run from the repository root: ``python -m bench.temix_positions``.
Figures, not assertions: compare runs by eye.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from market.temix import Interval, PositionBook, Side, Transaction

TRANSACTIONS = 250_000
PARTIES = 500


def main() -> None:
    horizon = Interval(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=2))
    intervals = (
        horizon.split(timedelta(minutes=5))
        + horizon.split(timedelta(minutes=15))
        + horizon.split(timedelta(hours=1))
    )
    price = Decimal("0.1")
    rates = [Decimal(n) for n in range(1, 8)]
    began = time.perf_counter()
    transactions = [
        Transaction(
            f"x{n}",
            f"t{n}",
            f"agent{n % PARTIES}",
            "market",
            Side.BUY if n % 2 else Side.SELL,
            intervals[n % len(intervals)],
            price,
            rates[n % len(rates)],
        )
        for n in range(TRANSACTIONS)
    ]
    built = time.perf_counter()
    book = PositionBook(transactions)
    booked = time.perf_counter()
    for party in [f"agent{p}" for p in range(PARTIES)] + ["market"]:
        book.positions(party, horizon, timedelta(minutes=5))
    queried = time.perf_counter()
    print(f"construct {TRANSACTIONS} transactions: {built - began:.2f} s")
    print(f"PositionBook.add all:                {booked - built:.2f} s")
    print(f"positions() 2 h x 5 min for {PARTIES + 1} parties: {queried - booked:.2f} s")


if __name__ == "__main__":
    main()
