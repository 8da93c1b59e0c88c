"""The settlement log finds exactly what a scan of every transaction finds, in the same
order, and forgets exactly the transactions whose interval has ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from market.horizon import Micromarket
from market.temix import Interval, Side, Transaction
from market.transaction_log import TransactionLog

DAY = datetime(2026, 6, 1, tzinfo=UTC)
DURATIONS = [timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(minutes=7)]

intervals = st.builds(
    lambda minute, duration: Interval(DAY + timedelta(minutes=minute), duration),
    st.integers(min_value=0, max_value=180),
    st.sampled_from(DURATIONS),
)


def _transaction(n: int, interval: Interval) -> Transaction:
    return Transaction(
        f"tx{n}", f"t{n}", f"p{n % 3}", "operator", Side.BUY, interval, Decimal("0.1"), Decimal(1)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(intervals, max_size=40),
    st.lists(intervals, min_size=1, max_size=8),
    st.integers(min_value=0, max_value=240),
)
def test_covering_and_forgetting_match_a_scan(
    traded: list[Interval], queries: list[Interval], forget_minute: int
) -> None:
    transactions = [_transaction(n, iv) for n, iv in enumerate(traded)]
    log = TransactionLog(transactions[: len(transactions) // 2])
    for transaction in transactions[len(transactions) // 2 :]:
        log.add(transaction)
    assert list(log) == transactions and len(log) == len(transactions)
    for query in queries:
        assert log.covering(query) == [t for t in transactions if t.interval.contains(query)]
    instant = DAY + timedelta(minutes=forget_minute)
    kept = [t for t in transactions if t.interval.end > instant]
    assert log.forget_before(instant) == len(transactions) - len(kept)
    assert list(log) == kept and len(log) == len(kept)
    for query in queries:
        assert log.covering(query) == [t for t in kept if t.interval.contains(query)]


def test_a_market_settles_from_the_log_and_forgets_what_ended() -> None:
    market = Micromarket()
    hour = Interval(DAY, timedelta(hours=1))
    five = Interval(DAY + timedelta(minutes=10), timedelta(minutes=5))
    market.add_transaction(_transaction(1, hour))
    market.add_transaction(_transaction(2, five))
    assert [t.transaction_id for t in market.transactions_covering(five)] == ["tx1", "tx2"]
    assert market.forget_before(five.end) == 1
    assert [t.transaction_id for t in market.transactions_covering(five)] == ["tx1"]
    assert market.book.position("p2", five) == Decimal(-1)  # positions keep their sums
