"""Call options end to end: a battery writes, the operator buys, pays, exercises, settles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from market_builders import sell

from market.agents import (
    Battery,
    BatteryPreferences,
    BatteryState,
    BoundAgent,
    CriticalLoad,
    CriticalLoadPreferences,
    PriceBand,
)
from market.clearing import ExternalTenders, clear
from market.horizon import HorizonTier, Micromarket
from market.options_market import OptionBook, call_option_tender
from market.settlement import settle_interval
from market.temix import Interval, OptionExerciseError, Side, TemixError

D = Decimal
T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)
H1 = Interval(T0 + HOUR, HOUR)
BAND = PriceBand(D(0), D(10))
GRID = ExternalTenders(D("0.25"), D("0.05"), D(150), D(60))
PREFS = BatteryPreferences(
    capacity_kwh=D(200),
    soc_min_kwh=D(10),
    soc_max_kwh=D(190),
    max_charge_kw=D(75),
    max_discharge_kw=D(75),
    round_trip_efficiency=D("0.81"),
    reserve_kwh=D(20),
)


def _about(kw: Decimal, expected: int) -> bool:
    """Within the planning margin (a micro-kWh, rounded down to the micro-kW)."""
    return D(expected) - D("0.00001") < kw <= D(expected)


def _call(quantity_kw: str = "20") -> object:
    return call_option_tender(
        tender_id="bat-call-1",
        writer="bat",
        interval=H1,
        quantity_kw=D(quantity_kw),
        strike_price=D("0.30"),
        premium=D("0.02"),
        exercise_lead_time=QUARTER,
        granularity=QUARTER,
    )


def test_battery_writes_a_call_the_operator_exercises_and_every_party_settles() -> None:
    market = Micromarket(tiers=[HorizonTier(HOUR, 2 * HOUR)], band=BAND)
    battery = Battery("bat", PREFS, BAND)
    load = CriticalLoad("it", CriticalLoadPreferences(rated_kw=D(30)), BAND)
    intervals = [Interval(T0, HOUR), H1]
    # 80 kWh above the reserve, drawn at √0.81 = 0.9: 72 kW may be promised for the hour
    assert _about(battery.call_capacity_kw(intervals, BatteryState(D(100)), {}, H1), 72)

    options = OptionBook()
    option = options.buy(_call(), transaction_id="opt-1", at=T0)  # type: ignore[arg-type]
    assert (option.party, option.counterparty, option.side) == ("bat", "market-operator", "SELL")
    assert options.premium("opt-1") == D("0.40")
    assert options.unexercised_kw("bat", H1) == 20

    state = BatteryState(D(100), written_calls_kw={H1: options.unexercised_kw("bat", H1)})
    dear_h1 = {intervals[0]: D("0.10"), H1: D("0.40")}
    offered = battery.tenders(T0, intervals, state, dear_h1, {})
    sold = sum(t.quantity for t in offered if t.side is Side.SELL and t.interval == H1)
    assert _about(sold, 52), "72 kW of capacity less the 20 kW call"
    assert _about(battery.call_capacity_kw(intervals, state, {}, H1), 52)

    participants = [BoundAgent(load, None, {}), BoundAgent(battery, state, {})]
    market.clear_round(T0, participants, external=lambda iv: GRID)
    strike = options.exercise(
        "opt-1", interval=H1, quantity_kw=D(20), transaction_id="ex-1", at=T0 + QUARTER
    )
    market.add_transaction(strike)
    assert (strike.party, strike.side, strike.price) == ("market-operator", Side.BUY, D("0.30"))
    assert options.unexercised_kw("bat", H1) == 0
    assert market.book.position("bat", H1) == 20
    assert battery.setpoint(H1, market.book.position("bat", H1)).power_kw == -20
    assert market.net_import_kw(H1) == 10

    trades = [*market.transactions_covering(H1), option]
    metered = {"bat": D(20), "it": D(-30), "external": D(10)}
    settlement = settle_interval(H1, trades, metered, D("0.28"))
    totals = {p: s.total for p, s in settlement.statements.items()}
    assert totals == {
        "bat": D("6.40"),  # 0.40 premium + 20 kWh at the 0.30 strike
        "it": D("-7.50"),  # 30 kWh at the cleared 0.25
        "external": D("2.80"),  # 10 kWh imported, settled at real time
        "market-operator": D("-1.70"),
    }
    assert settlement.total == 0
    kinds = sorted(line.kind for line in settlement.statements["bat"].lines)
    assert kinds == ["forward", "premium"]


def test_exercise_beyond_the_option_or_too_late_is_refused() -> None:
    options = OptionBook()
    options.buy(_call(), transaction_id="opt-1", at=T0)  # type: ignore[arg-type]
    piece = Interval(H1.start, QUARTER)
    options.exercise("opt-1", interval=piece, quantity_kw=D(15), transaction_id="e1", at=T0)
    with pytest.raises(OptionExerciseError):
        options.exercise("opt-1", interval=piece, quantity_kw=D(6), transaction_id="e2", at=T0)
    with pytest.raises(OptionExerciseError, match="too late"):
        options.exercise(
            "opt-1", interval=H1, quantity_kw=D(1), transaction_id="e3", at=H1.start - QUARTER / 2
        )
    with pytest.raises(OptionExerciseError, match="no option"):
        options.exercise("nope", interval=H1, quantity_kw=D(1), transaction_id="e4", at=T0)
    assert options.unexercised_kw("bat", piece) == 5
    assert options.unexercised_kw("bat", Interval(H1.start + QUARTER, QUARTER)) == 20


def test_only_written_options_can_be_bought() -> None:
    with pytest.raises(TemixError, match="not an option"):
        OptionBook().buy(sell("x", "0.1", "1"), transaction_id="o", at=T0)


def test_option_tenders_are_kept_out_of_the_energy_auction() -> None:
    with pytest.raises(TemixError, match="options trade through"):
        clear([_call()], H1)  # type: ignore[list-item]
