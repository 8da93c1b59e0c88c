"""PositionBook: TeMIX sign, counterparty flip, nesting, streams — and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.temix import (
    Interval,
    IntervalError,
    OptionKind,
    OptionProduct,
    PositionBook,
    PowerProduct,
    Side,
    Transaction,
    energy_kwh_exact,
    exercise,
    extended_price_exact,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
HORIZON = Interval(T0, 2 * HOUR)
NESTED = HORIZON.split(FIVE) + HORIZON.split(QUARTER) + HORIZON.split(HOUR)


def tx(
    n: int, party: str, counterparty: str, side: Side, interval: Interval, kw: Decimal
) -> Transaction:
    return Transaction(f"x{n}", f"t{n}", party, counterparty, side, interval, Decimal("0.1"), kw)


def test_sells_are_positive_buys_negative_and_the_counterparty_is_flipped() -> None:
    book = PositionBook()
    hour = Interval(T0, HOUR)
    book.add(tx(1, "pv", "market", Side.SELL, hour, Decimal(30)))
    book.add(tx(2, "hvac", "market", Side.BUY, hour, Decimal(12)))
    assert book.position("pv", hour) == 30
    assert book.position("hvac", hour) == -12
    assert book.position("market", hour) == -18
    assert book.position("nobody", hour) == 0
    assert len(book) == 2 and book.parties == {"pv", "hvac", "market"}


def test_a_five_minute_position_includes_the_quarter_and_the_hour_above_it() -> None:
    book = PositionBook()
    book.add(tx(1, "b", "m", Side.SELL, Interval(T0, HOUR), Decimal(10)))
    book.add(tx(2, "b", "m", Side.BUY, Interval(T0 + QUARTER, QUARTER), Decimal(4)))
    book.add(tx(3, "b", "m", Side.SELL, Interval(T0 + QUARTER + FIVE, FIVE), Decimal(1)))
    book.add(tx(4, "b", "m", Side.SELL, Interval(T0 + HOUR, HOUR), Decimal(100)))
    assert book.position("b", Interval(T0, FIVE)) == 10
    assert book.position("b", Interval(T0 + QUARTER, FIVE)) == 6
    assert book.position("b", Interval(T0 + QUARTER + FIVE, FIVE)) == 7
    # a longer interval only sees the transactions that cover all of it
    assert book.position("b", Interval(T0 + QUARTER, QUARTER)) == 6
    assert book.position("b", Interval(T0, HOUR)) == 10
    assert book.position("b", HORIZON) == 0


def test_an_option_counts_only_once_exercised() -> None:
    call = OptionProduct(
        OptionKind.CALL, PowerProduct("pcc"), Decimal("0.2"), Decimal(0), FIVE, FIVE
    )
    hour = Interval(T0, HOUR)
    option = Transaction(
        "o", "t", "battery", "building", Side.SELL, hour, Decimal(0), Decimal(5), product=call
    )
    book = PositionBook([option])
    assert book.position("building", hour) == 0 and len(book) == 1
    book.add(exercise(option, interval=hour, quantity=Decimal(5), transaction_id="e", at=T0 - HOUR))
    assert book.position("building", hour) == -5 and book.position("battery", hour) == 5


def test_positions_stream_over_a_bounding_interval() -> None:
    book = PositionBook()
    book.add(tx(1, "b", "m", Side.BUY, Interval(T0 + QUARTER, QUARTER), Decimal(4)))
    stream = book.positions("b", Interval(T0, HOUR), QUARTER)
    assert [(i.start, q) for i, q in stream] == [
        (T0, 0),
        (T0 + QUARTER, -4),
        (T0 + 2 * QUARTER, 0),
        (T0 + 3 * QUARTER, 0),
    ]
    with pytest.raises(IntervalError):
        book.positions("b", Interval(T0, HOUR), timedelta(0))


def test_same_instant_in_another_zone_is_the_same_interval() -> None:
    from zoneinfo import ZoneInfo

    book = PositionBook()
    local = datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    book.add(tx(1, "a", "b", Side.SELL, Interval(local, HOUR), Decimal(2)))
    assert book.position("a", Interval(T0 + FIVE, FIVE)) == 2


# --- properties -----------------------------------------------------------------------------

kw = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10_000), places=3)
prices = st.decimals(min_value=Decimal(-1), max_value=Decimal(10), places=5)
parties = st.sampled_from(["a", "b", "c", "d"])


@st.composite
def transactions(draw: st.DrawFn, n: int) -> Transaction:
    party = draw(parties)
    counterparty = draw(parties.filter(lambda p: p != party))
    return tx(
        n, party, counterparty, draw(st.sampled_from(Side)), draw(st.sampled_from(NESTED)), draw(kw)
    )


@st.composite
def transaction_lists(draw: st.DrawFn) -> list[Transaction]:
    size = draw(st.integers(min_value=0, max_value=30))
    return [draw(transactions(n)) for n in range(size)]


def brute_force(items: list[Transaction], party: str, interval: Interval) -> Decimal:
    total = Decimal(0)
    for item in items:
        if item.interval.contains(interval) and party in (item.party, item.counterparty):
            sign = 1 if item.side_of(party) is Side.SELL else -1
            total += sign * item.quantity
    return total


@settings(max_examples=60, deadline=None)
@given(transaction_lists(), parties, st.sampled_from(NESTED))
def test_position_equals_the_sum_over_covering_transactions(
    items: list[Transaction], party: str, interval: Interval
) -> None:
    assert PositionBook(items).position(party, interval) == brute_force(items, party, interval)


@settings(max_examples=60, deadline=None)
@given(transaction_lists(), transaction_lists())
def test_positions_add_across_books(first: list[Transaction], second: list[Transaction]) -> None:
    together = PositionBook(first + second)
    a, b = PositionBook(first), PositionBook(second)
    for interval in HORIZON.split(FIVE):
        for party in "abcd":
            assert together.position(party, interval) == a.position(party, interval) + b.position(
                party, interval
            )


@settings(max_examples=60, deadline=None)
@given(transaction_lists())
def test_positions_nest_and_the_market_nets_to_zero(items: list[Transaction]) -> None:
    book = PositionBook(items)
    for hour in HORIZON.split(HOUR):
        for party in "abcd":
            hour_position = book.position(party, hour)
            for five in hour.split(FIVE):
                # a 5-minute position = hourly position + what trades on shorter intervals
                finer = sum(
                    (
                        (1 if t.side_of(party) is Side.SELL else -1) * t.quantity
                        for t in items
                        if party in (t.party, t.counterparty)
                        and t.interval.contains(five)
                        and t.interval.duration < HOUR
                    ),
                    Decimal(0),
                )
                assert book.position(party, five) == hour_position + finer
        assert sum((book.position(p, hour) for p in "abcd"), Decimal(0)) == 0


@given(kw, st.integers(min_value=1, max_value=48))
def test_energy_of_an_hour_equals_its_twelve_five_minute_parts(rate: Decimal, hours: int) -> None:
    whole = Interval(T0, hours * HOUR)
    parts = sum((energy_kwh_exact(rate, p) for p in whole.split(FIVE)), Fraction(0))
    assert parts == energy_kwh_exact(rate, whole) == Fraction(rate) * hours


@given(
    prices, kw, kw, st.integers(min_value=1, max_value=96), st.integers(min_value=1, max_value=96)
)
def test_extended_price_is_linear_in_rate_and_time(
    price: Decimal, rate_a: Decimal, rate_b: Decimal, n: int, m: int
) -> None:
    first = Interval(T0, n * FIVE)
    second = Interval(first.end, m * FIVE)
    both = Interval(T0, (n + m) * FIVE)
    assert extended_price_exact(price, rate_a + rate_b, first) == extended_price_exact(
        price, rate_a, first
    ) + extended_price_exact(price, rate_b, first)
    assert extended_price_exact(price, rate_a, both) == extended_price_exact(
        price, rate_a, first
    ) + extended_price_exact(price, rate_a, second)


@given(transaction_lists(), parties)
def test_bulk_add_and_horizon_read_agree_with_one_at_a_time(
    items: list[Transaction], party: str
) -> None:
    one_by_one, bulk = PositionBook(), PositionBook()
    for item in items:
        one_by_one.add(item)
    bulk.add_all(items)
    assert len(bulk) == len(one_by_one)
    horizons = (HORIZON.split(FIVE), HORIZON.split(QUARTER), HORIZON.split(HOUR))
    for horizon in horizons:
        expected = [one_by_one.position(party, iv) for iv in horizon]
        assert [bulk.position(party, iv) for iv in horizon] == expected
        read = bulk.positions_over(
            party, [iv.start_us for iv in horizon], [iv.end_us for iv in horizon]
        )
        assert (read or [Decimal(0)] * len(horizon)) == expected
