"""Delivery and settlement: imbalance at the real-time price, statements, money conserved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from market_builders import buy, sell

from market.clearing import ExternalTenders, clear
from market.settlement import MeterTariff, settle_interval
from market.temix import Interval, Side, TemixError, Transaction

D = Decimal
T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOUR = Interval(T0, timedelta(hours=1))
FIVE = Interval(T0, timedelta(minutes=5))
OP = "market-operator"


def tx(
    tx_id: str, party: str, side: Side, price: str, qty: str, iv: Interval = HOUR
) -> Transaction:
    return Transaction(tx_id, f"t-{tx_id}", party, OP, side, iv, D(price), D(qty))


def test_imbalance_is_settled_at_the_realtime_price_and_statements_sum_to_zero() -> None:
    trades = [
        tx("1", "load", Side.BUY, "0.25", "20"),
        tx("2", "pv", Side.SELL, "0.25", "8"),
    ]
    metered = {"load": D(-22), "pv": D(8), "external": D(14)}  # PCC imported 14 kWh
    result = settle_interval(HOUR, trades, metered, D("0.40"))
    load, pv, op, ext = (result.statements[p] for p in ("load", "pv", OP, "external"))
    assert (load.scheduled_kwh, load.metered_kwh, load.imbalance_kwh) == (D(-20), D(-22), D(-2))
    assert load.total == D("-5.80")  # pays 5.00 forward and 0.80 for 2 kWh taken unbought
    assert pv.total == D("2.00") and pv.imbalance_kwh == 0
    assert ext.total == D("5.60")  # 14 kWh delivered, nothing sold forward: at real time
    assert op.metered_kwh == 0 and op.position_kw == 12
    assert op.total == D("-1.80")
    assert result.total == 0
    assert [line.kind for line in load.lines] == ["forward", "imbalance"]


def test_an_hourly_trade_settles_a_twelfth_in_each_five_minute_piece() -> None:
    trades = [tx("1", "load", Side.BUY, "0.24", "12")]
    result = settle_interval(FIVE, trades, {"load": D(-1), "external": D(1)}, D(1))
    load = result.statements["load"]
    assert load.imbalance_kwh == 0
    assert load.total == D("-0.24")  # 0.24 × 12 kW × 1/12 h
    assert result.total == 0


def test_operator_has_no_meter() -> None:
    with pytest.raises(TemixError, match="residual"):
        settle_interval(HOUR, [], {OP: D(1)}, D(1))


def test_cleared_interval_settles_with_money_conserved() -> None:
    grid = ExternalTenders(D("0.25"), D("0.05"), D(150), D(60))
    book = [buy("K", "10", "18"), buy("A", "0.30", "10"), sell("PV", "0", "5")]
    result = clear(book, HOUR, external=grid)
    metered = {"K": D(-18), "A": D(-9), "PV": D("4.5"), "external": D("22.5")}
    settlement = settle_interval(HOUR, result.transactions, metered, D("0.31"))
    assert settlement.total == 0
    assert settlement.statements["A"].imbalance_kwh == 1
    assert settlement.statements["A"].total == D("-2.19")  # −2.50 + 0.31


amounts = st.integers(min_value=-500_000, max_value=500_000).map(lambda m: D(m).scaleb(-3))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(min_value=-50_000, max_value=500_000).map(lambda c: D(c).scaleb(-5)),
            st.integers(min_value=1, max_value=100_000).map(lambda m: D(m).scaleb(-3)),
            st.sampled_from([FIVE, HOUR]),
        ),
        max_size=12,
    ),
    st.dictionaries(st.sampled_from(["a", "b", "c", "d", "external"]), amounts),
    st.integers(min_value=-10_000, max_value=100_000).map(lambda c: D(c).scaleb(-4)),
)
def test_money_is_conserved_for_any_trades_and_meter_readings(trades, metered, rt_price) -> None:
    transactions = [
        tx(str(n), party, side, str(price), str(qty), iv)
        for n, (party, side, price, qty, iv) in enumerate(trades)
    ]
    settlement = settle_interval(FIVE, transactions, metered, rt_price)
    assert settlement.total == 0
    for party, statement in settlement.statements.items():
        if party != OP:
            assert statement.total == statement.total.quantize(D("0.01"))


def test_a_utility_meter_settles_its_imbalance_as_its_bill_split_at_zero() -> None:
    """Contracted 10 kW of import for the hour; the PV surprise exported 5 kWh instead."""
    utility = MeterTariff("utility", import_price=D("0.22"), export_price=D("0.05"))
    contract = Transaction("c1", "t-c1", "utility", OP, Side.SELL, HOUR, D("0.22"), D(10))
    result = settle_interval(HOUR, [contract], {"utility": D(-5), "pv": D(5)}, D("0.22"),
                             tariff=utility)
    bill = result.statements["utility"]
    # 10 kWh not imported, at the import price; 5 kWh exported, at the export price
    assert [(line.energy_kwh, line.price, line.amount) for line in bill.lines[1:]] == [
        (D(-10), D("0.22"), D("-2.20")), (D(-5), D("0.05"), D("-0.25"))]
    assert bill.total == D("-0.25")  # the bill of the meter: 5 kWh exported at 0.05
    pv = result.statements["pv"]
    assert pv.total == D("1.10")  # inside, the surprise is paid at the real-time price
    assert result.total == 0
