"""Known-answer books for ``clear``: prices and quantities by hand, money to the cent."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from market_builders import HOUR, buy, sell

from market.clearing import ExternalTenders, clear
from market.temix import CounterpartyError, Interval, IntervalError, PriceError, Side, to_cents

D = Decimal
GRID = ExternalTenders(
    import_price=D("0.25"), export_price=D("0.05"), import_limit_kw=D(150), export_limit_kw=D(60)
)


def fills(result: object) -> dict[str, Decimal]:
    return {f.tender.tender_id: f.quantity_kw for f in result.fills}  # type: ignore[attr-defined]


def test_marginal_sell_sets_the_price_and_is_split() -> None:
    result = clear(
        [
            buy("A", "0.30", "10"),
            buy("B", "0.20", "10"),
            sell("C", "0.10", "5"),
            sell("D", "0.25", "10"),
        ],
        HOUR,
    )
    assert result.price == D("0.25")
    assert fills(result) == {"A": D(10), "C": D(5), "D": D(5)}
    money = {t.tender_id: to_cents(t.extended_price) for t in result.transactions}
    assert money == {"A": D("2.50"), "C": D("1.25"), "D": D("1.25")}
    assert all(t.counterparty == "market-operator" for t in result.transactions)
    assert {t.tender_id: t.side for t in result.transactions}["A"] is Side.BUY
    assert result.net_import_kw == 0


def test_tie_at_the_margin_is_shared_pro_rata() -> None:
    result = clear([buy("A", "0.30", "10"), sell("B", "0.20", "6"), sell("C", "0.20", "9")], HOUR)
    assert result.price == D("0.20")
    assert fills(result) == {"A": D(10), "B": D(4), "C": D(6)}
    assert result.accepted_kw("C") == 6 and result.accepted_kw("nobody") == 0


def test_pro_rata_remainder_goes_by_tender_id_to_the_micro_kw() -> None:
    book = [
        buy("A", "0.30", "2"),
        sell("D", "0.20", "1"),
        sell("C", "0.20", "1"),
        sell("B", "0.20", "1"),
    ]
    result = clear(book, HOUR)
    got = fills(result)
    assert got["B"] == got["C"] == D("0.666667")
    assert got["D"] == D("0.666666")
    assert got["B"] + got["C"] + got["D"] == D(2)


def test_no_crossing_clears_nothing_at_the_midpoint_of_bid_and_ask() -> None:
    result = clear([buy("A", "0.10", "5"), sell("B", "0.20", "5")], HOUR)
    assert result.price == D("0.15")
    assert result.transactions == ()


def test_buys_only_clear_at_the_cap_and_shed_the_buys_at_the_cap() -> None:
    result = clear(
        [buy("A", "0.10", "5"), buy("K", "99", "3")], HOUR, price_cap=D("5"), islanded=True
    )
    assert result.price == D(5)
    assert result.transactions == ()
    assert [(s.tender_id, s.shed_kw) for s in result.shed] == [("K", D(3))]


def test_sells_only_clear_at_the_floor_and_curtail_the_sells_at_the_floor() -> None:
    result = clear([sell("PV", "0", "5"), sell("BAT", "0.10", "5")], HOUR, islanded=True)
    assert result.price == D(0)
    assert result.transactions == ()
    assert [(c.tender_id, c.curtailed_kw) for c in result.curtailed] == [("PV", D(5))]


def test_empty_book_clears_at_the_floor() -> None:
    result = clear([], HOUR, price_floor=D("-0.05"))
    assert result.price == D("-0.05")
    assert result.transactions == () and result.shed == () and result.curtailed == ()


def test_zero_external_limits_leave_demand_unserved_at_the_cap() -> None:
    closed = ExternalTenders(D("0.25"), D("0.05"), D(0), D(0))
    result = clear([buy("A", "0.30", "5")], HOUR, external=closed)
    assert result.price == D(10)
    assert result.import_kw == 0 and result.export_kw == 0
    assert result.transactions == ()


def test_surplus_pv_is_exported_and_export_price_sets_the_price() -> None:
    book = [buy("K", "10", "18"), buy("A", "0.30", "10"), sell("PV", "0", "60")]
    result = clear(book, HOUR, external=GRID)
    assert result.price == D("0.05")
    assert result.export_kw == D(32) and result.import_kw == 0
    assert result.net_import_kw == D(-32)
    assert fills(result) == {"K": D(18), "A": D(10), "PV": D(60)}


def test_import_at_the_margin_sets_the_price_and_money_balances() -> None:
    book = [buy("K", "10", "18"), buy("A", "0.30", "10"), sell("PV", "0", "5")]
    result = clear(book, HOUR, external=GRID)
    assert result.price == D("0.25")
    assert result.import_kw == D(23)
    money = {t.tender_id: to_cents(t.extended_price) for t in result.transactions}
    assert money == {"K": D("4.50"), "A": D("2.50"), "PV": D("1.25")}
    operator_net = money["K"] + money["A"] - money["PV"]
    assert operator_net == to_cents(GRID.import_price * result.import_kw)


def test_price_between_export_and_import_is_their_midpoint_when_nothing_is_marginal() -> None:
    result = clear([buy("A", "0.30", "10"), sell("PV", "0", "10")], HOUR, external=GRID)
    assert result.price == D("0.15")
    assert result.net_import_kw == 0


def test_islanded_ignores_external_and_sheds_lowest_priority_first() -> None:
    book = [
        buy("K", "10", "18"),
        buy("P", "10", "20"),
        buy("H", "0.50", "10"),
        sell("PV", "0", "15"),
        sell("BAT", "0.20", "10"),
    ]
    result = clear(book, HOUR, external=GRID, islanded=True, priorities={"K": 100, "P": 10})
    assert result.price == D(10)
    assert result.import_kw == 0 and result.export_kw == 0
    assert fills(result) == {"K": D(18), "P": D(7), "PV": D(15), "BAT": D(10)}
    [decision] = result.shed
    assert (decision.party, decision.priority, decision.served_kw, decision.shed_kw) == (
        "P",
        10,
        D(7),
        D(13),
    )


def test_islanded_surplus_curtails_production_at_the_floor() -> None:
    book = [buy("K", "10", "18"), sell("PV", "0", "40"), sell("BAT", "0.20", "10")]
    result = clear(book, HOUR, islanded=True)
    assert result.price == D(0)
    assert fills(result) == {"K": D(18), "PV": D(18)}
    [cut] = result.curtailed
    assert (cut.tender_id, cut.offered_kw, cut.curtailed_kw) == ("PV", D(40), D(22))


def test_islanded_the_operator_buys_the_held_import_inside_the_building() -> None:
    # 10 kW were bought from the grid for this interval before it failed: the battery
    # sells 8 kW more and the EV sells back 2 kW of what it holds, at the EV's price
    book = [sell("BAT", "0.20", "8"), sell("EV", "0.30", "5"), buy("H", "0.25", "3")]
    result = clear(book, HOUR, external=GRID, islanded=True, held_import_kw=D(10))
    assert result.price == D("0.30")
    assert fills(result) == {"BAT": D(8), "EV": D(2)}
    assert result.island_cover_kw == D(10)
    assert result.import_kw == result.export_kw == result.net_import_kw == 0
    assert result.shed == () and result.curtailed == ()
    assert [(t.party, t.counterparty, t.quantity, t.price) for t in result.transactions] == [
        ("BAT", "market-operator", D(8), D("0.30")),
        ("EV", "market-operator", D(2), D("0.30")),
    ]
    assert to_cents(sum(t.price * t.quantity for t in result.transactions)) == D("3.00")


def test_islanded_cover_is_served_before_new_demand_and_its_shortfall_reported() -> None:
    book = [buy("K", "10", "4"), sell("BAT", "0.20", "6")]
    result = clear(book, HOUR, islanded=True, held_import_kw=D(10), priorities={"K": 100})
    assert result.price == D(10)
    assert fills(result) == {"BAT": D(6)}
    assert result.island_cover_kw == D(6)
    assert [(d.tender_id, d.party, d.priority, d.served_kw, d.shed_kw) for d in result.shed] == [
        ("K", "K", 100, D(0), D(4)),
        ("island-cover", "market-operator", 101, D(6), D(4)),
    ]


def test_islanded_held_export_is_sold_inside_at_the_floor_and_the_rest_curtailed() -> None:
    # 5 kW were sold to the grid: the battery charges 3 kW of it, 2 kW cannot be used
    result = clear([buy("BAT", "0.05", "3")], HOUR, islanded=True, held_import_kw=D(-5))
    assert result.price == D(0)
    assert fills(result) == {"BAT": D(3)}
    assert result.island_cover_kw == D(-3)
    [cut] = result.curtailed
    assert (cut.tender_id, cut.party, cut.offered_kw, cut.curtailed_kw) == (
        "island-cover", "market-operator", D(5), D(2))


def test_the_cover_shortfall_is_named_by_its_holders_least_important_first() -> None:
    # 50 kW were bought from the grid: a fixed load (priority 50) holds 20, the critical
    # loads (100) 30; the battery can give 25. The 25 short fall on the fixed load first.
    held = {"F": D(20), "C": D(30), "PV": D(-5), "BAT": D(5)}
    result = clear([sell("BAT-d", "0.20", "25", party="BAT")], HOUR, islanded=True,
                   held_import_kw=D(50), held_by=held, priorities={"F": 50, "C": 100})
    assert result.price == D(10) and result.island_cover_kw == D(25)
    assert [(d.tender_id, d.party, d.priority, d.requested_kw, d.shed_kw)
            for d in result.shed] == [
        ("island-cover:C", "C", 100, D(30), D(5)),
        ("island-cover:F", "F", 50, D(20), D(20)),
    ]


def test_within_a_priority_the_shortfall_is_shared_pro_rata_to_the_holdings() -> None:
    result = clear([], HOUR, islanded=True, held_import_kw=D(20),
                   held_by={"A": D(5), "B": D(15)})
    assert {d.party: d.shed_kw for d in result.shed} == {"A": D(5), "B": D(15)}
    result = clear([sell("G", "0.10", "8")], HOUR, islanded=True, held_import_kw=D(20),
                   held_by={"A": D(5), "B": D(15)})
    assert {d.party: d.shed_kw for d in result.shed} == {"A": D(3), "B": D(9)}


def test_a_holder_that_sold_back_is_not_named_for_what_it_gave_up() -> None:
    # the lights held 12 kW and sell them back at 0.40 once the island is short; only the
    # heater, which keeps its 30, is short
    book = [sell("L-back", "0.40", "12", party="L")]
    result = clear(book, HOUR, islanded=True, held_import_kw=D(42),
                   held_by={"H": D(30), "L": D(12)}, priorities={"H": 100, "L": 20})
    assert fills(result) == {"L-back": D(12)}
    assert [(d.party, d.requested_kw, d.shed_kw) for d in result.shed] == [("H", D(30), D(30))]


def test_an_unabsorbed_export_is_named_by_its_sellers_and_unknown_holdings_by_the_operator(
) -> None:
    result = clear([buy("BAT", "0.05", "3")], HOUR, islanded=True, held_import_kw=D(-15),
                   held_by={"PV": D(-10), "WIND": D(-5)})
    assert {c.party: c.curtailed_kw for c in result.curtailed} == {"PV": D(8), "WIND": D(4)}
    result = clear([], HOUR, islanded=True, held_import_kw=D(10), held_by={"A": D(4)})
    assert [(d.tender_id, d.party, d.shed_kw) for d in result.shed] == [
        ("island-cover", "market-operator", D(6)), ("island-cover:A", "A", D(4))]


def test_held_import_only_matters_islanded() -> None:
    book = [buy("A", "0.30", "10"), sell("PV", "0", "10")]
    result = clear(book, HOUR, external=GRID, held_import_kw=D(10))
    assert result.island_cover_kw == 0 and result.price == D("0.15")


def test_all_or_none_tender_is_never_split() -> None:
    result = clear([buy("A", "0.30", "10", all_or_none=True), sell("B", "0.20", "6")], HOUR)
    assert result.transactions == ()
    whole = clear([buy("A", "0.30", "6", all_or_none=True), sell("B", "0.20", "10")], HOUR)
    assert fills(whole) == {"A": D(6), "B": D(6)}


def test_all_or_none_load_that_rationing_would_split_is_shed_whole() -> None:
    book = [
        buy("K", "10", "18"),
        buy("P", "10", "20", all_or_none=True),
        sell("PV", "0", "15"),
        sell("BAT", "0.20", "10"),
    ]
    result = clear(book, HOUR, islanded=True, priorities={"K": 100, "P": 10})
    assert fills(result) == {"K": D(18), "PV": D(15), "BAT": D(3)}
    assert [(d.party, d.served_kw, d.shed_kw) for d in result.shed] == [("P", 0, D(20))]


def test_expired_tenders_are_left_out() -> None:
    now = HOUR.start - timedelta(minutes=1)
    stale = buy("A", "0.30", "10", expires=now - timedelta(seconds=1))
    result = clear([stale, sell("B", "0.20", "10")], HOUR, now=now)
    assert result.transactions == ()
    fresh = clear([buy("A2", "0.30", "10", expires=now), sell("B", "0.20", "10")], HOUR, now=now)
    assert [t.executed_at for t in fresh.transactions] == [now, now]


def test_tender_for_another_interval_is_refused() -> None:
    other = Interval(HOUR.end, HOUR.duration)
    with pytest.raises(IntervalError, match="tender A"):
        clear([buy("A", "0.30", "1", interval=other)], HOUR)


def test_tender_addressed_elsewhere_or_external_prices_crossed_are_refused() -> None:
    directed = replace(buy("A", "0.3", "1"), counterparty="someone-else")
    with pytest.raises(CounterpartyError):
        clear([directed], HOUR)
    with pytest.raises(PriceError, match="export price"):
        ExternalTenders(D("0.10"), D("0.10"), D(1), D(1))


def test_a_price_longer_than_the_decimal_context_is_never_rounded_past_itself() -> None:
    # 31 significant digits: multiplied out in a 28-digit context the buy would bid 0.123457
    long_bid = "0.1234569999999999999999999999999"
    result = clear([buy("A", long_bid, "10"), sell("B", "0.123457", "10")], HOUR)
    assert result.fills == ()
    assert result.price == D("0.123456")  # midpoint of 0.123456 and 0.123457, half-even
