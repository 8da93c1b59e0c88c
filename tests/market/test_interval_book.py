"""An interval book: tenders checked and converted as they arrive, cleared at the gate."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from market_builders import HOUR, buy, sell

from market.clearing import ExternalTenders, IntervalBook, clear
from market.temix import CounterpartyError, Interval, IntervalError, PriceError, QuantityError

NEXT_HOUR = Interval(HOUR.end, timedelta(hours=1))


def test_a_refused_batch_leaves_the_book_as_it_was_and_names_the_tender() -> None:
    book = IntervalBook(HOUR, tenders=[buy("b1", "0.30", "5")])
    late = buy("b9", "0.30", "5", interval=NEXT_HOUR)
    with pytest.raises(IntervalError, match="tender b9 of b9 is for"):
        book.extend([sell("s1", "0.10", "5"), late])
    with pytest.raises(CounterpartyError, match="tender m1 of market-operator"):
        book.add(buy("m1", "0.30", "1", party="market-operator"))
    assert (len(book), [t.tender_id for t in book.buys], book.sells) == (1, ["b1"], [])


def test_clearing_a_book_at_the_gate_prices_and_fills_it_to_the_micro_unit() -> None:
    book = IntervalBook(HOUR)
    book.extend([buy("b1", "0.30", "6"), sell("s1", "0.10", "4")])
    book.add(sell("s2", "0.20", "4"))
    result = clear(book, HOUR)
    # 6 kW of demand up to 0.30 meets 4 kW at 0.10 and 2 of 4 kW at 0.20: s2 sets the price.
    assert result.price == Decimal("0.2")
    assert {t.tender_id: t.quantity for t in result.transactions} == {
        "b1": Decimal(6), "s1": Decimal(4), "s2": Decimal(2)
    }
    money = sum(t.quantity * t.price for t in result.transactions if t.tender_id != "b1")
    assert money == Decimal("1.2")  # what b1 pays per hour: 6 kW × 0.20


def test_a_book_for_another_interval_or_operator_is_refused() -> None:
    book = IntervalBook(HOUR, tenders=[buy("b1", "0.30", "5")])
    with pytest.raises(IntervalError, match="not for"):
        clear(book, NEXT_HOUR)
    with pytest.raises(IntervalError, match="'op-2'"):
        clear(book, HOUR, operator="op-2")


def test_expired_tenders_in_a_book_are_left_out_at_the_gate() -> None:
    gate = HOUR.start - timedelta(minutes=5)
    book = IntervalBook(HOUR, tenders=[
        buy("b1", "0.30", "5", expires=gate - timedelta(seconds=1)),
        buy("b2", "0.25", "3", expires=gate),
        sell("s1", "0.10", "8"),
    ])
    assert book.expiring == 2
    result = clear(book, HOUR, now=gate)
    assert {t.tender_id for t in result.transactions} == {"b2", "s1"}
    assert result.accepted_kw("s1") == Decimal(3)


def test_a_tender_above_a_gigawatt_is_refused_by_name() -> None:
    with pytest.raises(QuantityError, match="tender huge of huge is for 1000001 kW"):
        IntervalBook(HOUR, tenders=[buy("ok", "0.3", "1"), buy("huge", "0.3", "1000001")])


def test_prices_far_outside_the_band_keep_their_meaning() -> None:
    """Held at ±10⁹ per kWh inside the book: a buy still bids the cap, a sell never trades."""
    result = clear(
        [buy("b1", "1E+30", "5"), sell("s1", "1E+30", "5"), sell("s2", "-1E+30", "2")],
        HOUR,
        price_cap=Decimal(3),
    )
    assert {t.tender_id: t.quantity for t in result.transactions} == {
        "b1": Decimal(2), "s2": Decimal(2)
    }
    assert result.price == Decimal(3)
    assert [d.tender_id for d in result.shed] == ["b1"]


def test_price_bands_and_pcc_limits_beyond_the_auction_range_are_refused() -> None:
    with pytest.raises(PriceError, match="within ±1000000000"):
        clear([], HOUR, price_cap=Decimal("1E+9"))
    with pytest.raises(QuantityError, match="from 0 to 1000000 kW"):
        ExternalTenders(Decimal("0.3"), Decimal("0.1"), Decimal("2E+6"), Decimal(0))
