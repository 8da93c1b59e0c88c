"""Horizon tiers, re-clearing rounds with accumulating positions, the nested market, and a
24-hour battery run in 5-minute steps that must never leave its state-of-charge limits."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.agents import (
    Battery,
    BatteryPreferences,
    BatteryState,
    BoundAgent,
    CriticalLoad,
    CriticalLoadPreferences,
    CurtailableLoad,
    CurtailableLoadPreferences,
    EvCharger,
    EvPreferences,
    EvSession,
    Generator,
    GeneratorPreferences,
    GeneratorState,
    HvacPreferences,
    HvacState,
    HvacZone,
    NestedMarket,
    PriceBand,
    PvArray,
    PvPreferences,
)
from market.agents.battery import stored_energy_change_kwh
from market.clearing import ExternalTenders
from market.horizon import HorizonTier, Micromarket, horizon_intervals
from market.temix import Interval, IntervalError, Side, Transaction, extended_price_exact

D = Decimal
T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
BAND = PriceBand(D(0), D(10))
FIVE = timedelta(minutes=5)
HOUR = timedelta(hours=1)


def test_default_horizon_nests_5_15_60_minute_tiers_without_gaps() -> None:
    intervals = horizon_intervals(T0 + timedelta(minutes=3))
    assert intervals[0].start == T0 + FIVE
    assert Counter(iv.duration for iv in intervals) == {
        FIVE: 26,  # 12:05 .. 14:15 (2 h reach, then up to the next 15-minute boundary)
        timedelta(minutes=15): 19,  # 14:15 .. 19:00
        HOUR: 18,  # 19:00 .. 13:00 next day
    }
    assert all(a.end == b.start for a, b in pairwise(intervals))
    assert intervals[-1].end == T0 + timedelta(hours=25)


def test_tiers_that_do_not_nest_are_refused() -> None:
    with pytest.raises(IntervalError, match="nest"):
        horizon_intervals(T0, [HorizonTier(timedelta(minutes=7), HOUR), HorizonTier(HOUR, HOUR)])


def _load(party: str = "it") -> CriticalLoad:
    return CriticalLoad(party, CriticalLoadPreferences(rated_kw=D(30)), BAND)


GRID = ExternalTenders(D("0.25"), D("0.05"), D(150), D(60))


def test_positions_accumulate_as_forecasts_change() -> None:
    market = Micromarket(tiers=[HorizonTier(HOUR, timedelta(hours=2))], band=BAND)
    load = _load()
    first = market.clear_round(T0, [BoundAgent(load, None, {})], external=lambda iv: GRID)
    hour = first.intervals[0]
    assert market.book.position("it", hour) == -30
    assert market.net_import_kw(hour) == 30
    second = market.clear_round(
        T0, [BoundAgent(load, None, {hour: D(18)})], external=lambda iv: GRID
    )
    [sell_back] = second.result(hour).transactions
    assert (sell_back.side, sell_back.quantity) == ("SELL", D(12))
    assert market.book.position("it", hour) == -18
    assert len(market.book) == 3, "two hours bought, one sold back: the book holds the sum"
    assert len(market.transactions_covering(hour)) == 2
    assert market.forget_before(hour.end) == 2
    assert market.transactions_covering(hour) == []
    assert market.book.position("it", hour) == -18


def test_a_market_restored_from_its_transactions_trades_nothing_twice() -> None:
    tiers = [HorizonTier(HOUR, timedelta(hours=2))]
    before = Micromarket(tiers=tiers, band=BAND)
    traded = before.clear_round(T0, [BoundAgent(_load(), None, {})], external=lambda iv: GRID)
    restarted = Micromarket(tiers=tiers, band=BAND)
    for transaction in traded.transactions:
        restarted.add_transaction(transaction)
    again = restarted.clear_round(T0, [BoundAgent(_load(), None, {})], external=lambda iv: GRID)
    assert again.transactions == [], "positions read back from the book: nothing to buy"
    assert restarted.positions("it", again.intervals) == dict.fromkeys(again.intervals, D(-30))


def test_an_hour_traded_coarse_is_not_traded_again_when_it_becomes_fine() -> None:
    market = Micromarket(band=BAND)
    load = BoundAgent(_load(), None, {})
    market.clear_round(T0, [load], external=lambda iv: GRID)
    later = T0 + timedelta(hours=20)
    fine = [iv for iv in horizon_intervals(later) if iv.duration == FIVE]
    assert market.book.position("it", fine[0]) == -30, "hourly position covers 5-minute pieces"
    result = market.clear_round(later, [load], external=lambda iv: GRID)
    assert all(not result.result(iv).transactions for iv in fine)


def test_nested_market_trades_as_one_party_and_shares_fills_with_its_members() -> None:
    market = Micromarket(tiers=[HorizonTier(HOUR, HOUR)], band=BAND)
    hour = Interval(T0, HOUR)
    pv = PvArray("floor2-pv", PvPreferences(rated_kw=D(10)), BAND)
    floor = NestedMarket(
        "floor2",
        [BoundAgent(_load("floor2-it"), None, {hour: D(8)}), BoundAgent(pv, None, {hour: D(6)})],
        priority=60,
    )
    outside = BoundAgent(_load("lobby"), None, {hour: D(5)})
    result = market.clear_round(T0, [floor, outside], external=lambda iv: GRID).result(hour)
    assert result.price == D("0.25")
    assert {t.party for t in result.transactions} == {"floor2", "lobby"}
    assert market.book.position("floor2", hour) == -2
    assert floor.position("floor2-it", hour) == -8
    assert floor.position("floor2-pv", hour) == 6
    assert floor.book.position("floor2", hour) == 2, "the floor's operator is flat"

    def signed_money(transactions: list[Transaction], party: str) -> Fraction:
        return sum(
            (
                extended_price_exact(t.price, t.quantity, t.interval)
                * (1 if t.side_of(party) is Side.SELL else -1)
                for t in transactions
            ),
            Fraction(0),
        )

    outer = [t for t in result.transactions if t.party == "floor2"]
    assert signed_money(outer, "floor2") + signed_money(floor.transactions, "floor2") == 0
    assert floor.setpoint(hour, D(-2)).power_kw == 2


def _price_at(instant: datetime) -> Decimal:
    hour = instant.hour + instant.minute / 60
    return D("0.30") if 17 <= hour < 21 else D("0.08") if hour < 6 else D("0.18")


def _pv_kw(interval: Interval) -> Decimal:
    hour = interval.start.hour + interval.start.minute / 60
    return D(round(max(0.0, 50 * math.sin(math.pi * (hour - 6) / 12)), 3))


@pytest.mark.parametrize("seed", [1, 2])
def test_battery_never_leaves_its_soc_limits_over_24_hours_of_5_minute_rounds(seed: int) -> None:
    rng = random.Random(seed)
    prefs = BatteryPreferences(
        capacity_kwh=D(200),
        soc_min_kwh=D(10),
        soc_max_kwh=D(195),
        max_charge_kw=D(75),
        max_discharge_kw=D(75),
        round_trip_efficiency=D("0.88"),
        reserve_kwh=D(20),
    )
    battery = Battery("bat", prefs, BAND)
    pv = PvArray("pv", PvPreferences(rated_kw=D(60)), BAND)
    load = _load()
    market = Micromarket(band=BAND)
    soc = rng.uniform(20, 195)
    socs = []
    start = T0.replace(hour=0)
    for step in range(288):
        now = start + step * FIVE
        intervals = horizon_intervals(now)
        noise = {iv: D(rng.randint(-3, 3)) / 100 for iv in intervals}
        forecast = {iv: _price_at(iv.start) + noise[iv] for iv in intervals}

        def external(iv: Interval) -> ExternalTenders:
            return ExternalTenders(_price_at(iv.start), D("0.04"), D(150), D(60))

        participants = [
            BoundAgent(battery, BatteryState(D(repr(soc))), forecast),
            BoundAgent(pv, None, {iv: _pv_kw(iv) for iv in intervals}),
            BoundAgent(load, None, {iv: D(rng.randint(10, 30)) for iv in intervals}),
        ]
        market.clear_round(now, participants, external=external)
        delivered = intervals[0]
        assert delivered.start == now
        setpoint = battery.setpoint(delivered, market.book.position("bat", delivered))
        soc += stored_energy_change_kwh(prefs, float(setpoint.power_kw), 5 / 60)
        socs.append(soc)
        assert float(prefs.reserve_kwh) <= soc <= float(prefs.soc_max_kwh), f"step {step}"
    assert max(socs) - min(socs) > 50, "the battery actually cycles"


def _island_battery(max_charge_kw: Decimal) -> Battery:
    """200 kWh, 20 kW out, half of it reserve (which an island may use), lossless."""
    prefs = BatteryPreferences(
        capacity_kwh=D(200),
        soc_min_kwh=D(10),
        soc_max_kwh=D(190),
        max_charge_kw=max_charge_kw,
        max_discharge_kw=D(20),
        round_trip_efficiency=D(1),
        reserve_kwh=D(100),
    )
    return Battery("bat", prefs, BAND)


def test_islanded_round_carries_critical_loads_on_local_supply_and_sheds_the_rest() -> None:
    market = Micromarket(tiers=[HorizonTier(HOUR, HOUR)], band=BAND)
    hour = Interval(T0, HOUR)
    battery = _island_battery(max_charge_kw=D(75))
    plug = CriticalLoad("plug", CriticalLoadPreferences(rated_kw=D(30), priority=5), BAND)
    participants = [
        BoundAgent(battery, BatteryState(D(60), islanded=True), {hour: D(5)}),
        BoundAgent(PvArray("pv", PvPreferences(rated_kw=D(60)), BAND), None, {hour: D(10)}),
        BoundAgent(_load("it"), None, {hour: D(18)}),
        BoundAgent(plug, None, {hour: D(25)}),
    ]
    result = market.clear_round(T0, participants, islanded=True).result(hour)
    assert result.price == BAND.cap and result.net_import_kw == 0
    assert market.book.position("it", hour) == -18, "critical load fully served"
    assert market.book.position("plug", hour) == -12
    [shed] = result.shed
    assert (shed.party, shed.shed_kw) == ("plug", D(13))
    assert market.book.position("bat", hour) == 20, "the island may use the reserve"


def test_islanded_round_covers_what_was_bought_from_the_grid_inside_the_building() -> None:
    """The grid failed after the hour was traded: the import it backed cannot arrive, so
    the island re-balances the held positions on its own supply (in HIL the pre-outage
    positions alone once asked the battery for more than it could give)."""
    market = Micromarket(tiers=[HorizonTier(HOUR, HOUR)], band=BAND)
    hour = Interval(T0, HOUR)
    battery = _island_battery(max_charge_kw=D(20))
    lights = CurtailableLoad("lights", CurtailableLoadPreferences(D(12), D("0.40")), BAND)
    pv = PvArray("pv", PvPreferences(rated_kw=D(60)), BAND)

    def agents(islanded: bool) -> list[BoundAgent[Any]]:
        return [
            BoundAgent(battery, BatteryState(D(120), islanded=islanded), {hour: D("0.50")}),
            BoundAgent(pv, None, {hour: D(10)}),
            BoundAgent(_load("it"), None, {hour: D(30)}),
            BoundAgent(lights, None, {}),
        ]

    market.clear_round(T0, agents(False), external=lambda iv: GRID)
    assert market.net_import_kw(hour) == 52, "grid-connected: loads and battery charge imported"
    result = market.clear_round(T0, agents(True), islanded=True).result(hour)
    assert result.island_cover_kw > 0 and result.shed == ()
    assert market.net_import_kw(hour) == 0, "held positions now add up on local supply"
    assert market.book.position("it", hour) == -30, "the critical load keeps its energy"
    assert market.book.position("lights", hour) == 0, "lighting sold back above 0.40"
    assert market.book.position("bat", hour) == 20 and market.book.position("pv", hour) == 10
    assert result.price >= D("0.40")


def test_islanded_round_covers_only_the_intervals_before_cover_until() -> None:
    market = Micromarket(tiers=[HorizonTier(HOUR, timedelta(hours=3))], band=BAND)
    load = BoundAgent(_load("it"), None, {})
    lights = CurtailableLoad("lights", CurtailableLoadPreferences(D(12), D("0.40")), BAND)
    participants = [load, BoundAgent(lights, None, {})]
    first = market.clear_round(T0, participants, external=lambda iv: GRID)
    soon, later, last = first.intervals
    assert [market.net_import_kw(iv) for iv in first.intervals] == [42, 42, 42]
    island = market.clear_round(T0, participants, islanded=True, cover_until=T0 + HOUR)
    assert market.net_import_kw(soon) == 30, "lighting sold back; 30 kW could not be covered"
    [short] = island.result(soon).shed
    assert (short.tender_id, short.party, short.shed_kw, short.served_kw) == (
        "island-cover:it", "it", D(30), D(0)), "named by what it still holds, not the lights"
    assert [market.net_import_kw(iv) for iv in (later, last)] == [42, 42], "left as traded"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(min_value=0, max_value=30),
            st.sampled_from([FIVE, timedelta(minutes=15), HOUR]),
            st.integers(min_value=1, max_value=50),
        ),
        max_size=30,
    ),
    st.integers(min_value=0, max_value=23),
)
def test_market_positions_equal_the_position_book(trades, minutes_ahead: int) -> None:
    market = Micromarket(band=BAND)
    for n, (party, side, slot, duration, kw) in enumerate(trades):
        start = T0 + slot * duration
        market.add_transaction(
            Transaction(
                f"x{n}",
                f"t{n}",
                party,
                "market-operator",
                side,
                Interval(start, duration),
                D("0.1"),
                D(kw),
            )
        )
    intervals = horizon_intervals(T0 + minutes_ahead * FIVE)
    for party in ("a", "b", "market-operator", "nobody"):
        held = market.positions(party, intervals)
        for iv in intervals:
            assert held.get(iv, D(0)) == market.book.position(party, iv)
        assert held.get(Interval(iv.start, iv.duration), D(0)) == market.book.position(party, iv)


def test_a_mixed_round_balances_every_interval_and_setpoints_stay_within_limits() -> None:
    market = Micromarket(band=BAND)
    now = T0 + timedelta(minutes=2)
    intervals = horizon_intervals(now)
    prices = {iv: _price_at(iv.start) for iv in intervals}
    agents = {
        "it": (_load("it"), None, {}),
        "pv": (
            PvArray("pv", PvPreferences(D(60)), BAND),
            None,
            {iv: _pv_kw(iv) for iv in intervals},
        ),
        "bat": (
            Battery("bat", BatteryPreferences(D(200), D(10), D(190), D(75), D(75)), BAND),
            BatteryState(D(120)),
            prices,
        ),
        "zone": (
            HvacZone("zone", HvacPreferences(D(15), 22.5, 21.0, 24.0), BAND),
            HvacState(23.4, 0.8, (D("0.15"), D("0.25"))),
            {},
        ),
        "lights": (
            CurtailableLoad("lights", CurtailableLoadPreferences(D(12), D("0.2")), BAND),
            None,
            {},
        ),
        "ev": (
            EvCharger("ev", EvPreferences(D(22), D("0.30")), BAND),
            EvSession(D(40), now + timedelta(hours=5)),
            prices,
        ),
        "gen": (
            Generator("gen", GeneratorPreferences(D(40), D(10), D("0.30"), D(8), HOUR), BAND),
            GeneratorState(False),
            {},
        ),
    }
    participants = [BoundAgent(a, s, f) for a, s, f in agents.values()]

    def external(iv: Interval) -> ExternalTenders:
        return ExternalTenders(_price_at(iv.start), D("0.04"), D(150), D(60))

    for step in range(3):
        result = market.clear_round(now + step * FIVE, participants, external=external)
        for r in result.results:
            bought = sum((t.quantity for t in r.transactions if t.side == "BUY"), D(0))
            sold = sum((t.quantity for t in r.transactions if t.side == "SELL"), D(0))
            assert bought - sold == r.net_import_kw
            assert all(t.price == r.price for t in r.transactions)
    for iv in horizon_intervals(now + 3 * FIVE):
        held = {p: market.book.position(p, iv) for p in agents}
        assert sum(held.values()) == -market.net_import_kw(iv)
        for party, (agent, _, _) in agents.items():
            power = agent.setpoint(iv, held[party]).power_kw
            assert -75 <= power <= 75, party
        assert 0 <= agents["ev"][0].setpoint(iv, held["ev"]).power_kw <= 22
        assert -60 <= agents["pv"][0].setpoint(iv, held["pv"]).power_kw <= 0
    # the grid fails: one islanded round buys back inside what every interval imported;
    # what the island cannot supply (or absorb) is reported, never left as a silent import
    islanded = [
        BoundAgent(a, BatteryState(D(120), islanded=True) if a.party == "bat" else s, f)
        for a, s, f in agents.values()
    ]
    island = market.clear_round(now + 3 * FIVE, islanded, islanded=True)
    for r in island.results:
        cover = [d for d in r.shed if d.tender_id.startswith("island-cover")]
        short = sum((d.shed_kw for d in cover), D(0))
        spare = sum((c.curtailed_kw for c in r.curtailed
                     if c.tender_id.startswith("island-cover")), D(0))
        assert all(d.party != market.operator for d in cover), "named by the holders"
        for d in cover:
            assert d.shed_kw <= -market.book.position(d.party, r.interval)
        assert abs(market.net_import_kw(r.interval) - (short - spare)) < D("0.001"), r.interval
    assert any(r.island_cover_kw for r in island.results)
