"""Each personality's tenders and setpoints against its documented preferences."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from market.agents import (
    Battery,
    BatteryPreferences,
    BatteryState,
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
    HvacMode,
    HvacPreferences,
    HvacState,
    HvacZone,
    PositionCurve,
    PriceBand,
    PvArray,
    PvPreferences,
    curve_tenders,
)
from market.temix import Interval, IntervalError, Side, Tender

D = Decimal
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOURS = [Interval(NOW + timedelta(hours=k), timedelta(hours=1)) for k in range(4)]
H0 = HOURS[0]
BAND = PriceBand(D(0), D(10))


def summary(tenders: list[Tender]) -> list[tuple[Side, Decimal, Decimal]]:
    return sorted((t.side, t.price, t.quantity) for t in tenders)


def test_curve_minus_position_gives_buys_below_and_sells_above() -> None:
    curve = PositionCurve(D(-10), ((D("0.20"), D(4)), (D("0.40"), D(6))))
    assert summary(curve_tenders("a", H0, curve, D(0), BAND, "x")) == [
        (Side.BUY, D("0.20"), D(4)),
        (Side.BUY, D("0.40"), D(6)),
    ]
    assert summary(curve_tenders("a", H0, curve, D(-8), BAND, "x")) == [
        (Side.BUY, D("0.20"), D(2)),
        (Side.SELL, D("0.200001"), D(2)),
        (Side.SELL, D("0.40"), D(6)),
    ]
    assert summary(curve_tenders("a", H0, PositionCurve(D(-10)), D(-3), BAND, "x")) == [
        (Side.BUY, D(10), D(7))
    ]
    assert summary(curve_tenders("a", H0, PositionCurve(D(-10)), D(-12), BAND, "x")) == [
        (Side.SELL, D(0), D(2))
    ]


def test_critical_load_buys_its_forecast_at_the_cap_and_sells_back_excess() -> None:
    load = CriticalLoad("it", CriticalLoadPreferences(rated_kw=D(20)), BAND)
    forecast = {H0: D(18)}
    assert summary(load.tenders(NOW, [H0], None, forecast, {})) == [(Side.BUY, D(10), D(18))]
    assert load.tenders(NOW, [H0], None, forecast, {H0: D(-18)}) == []
    assert summary(load.tenders(NOW, [H0], None, {H0: D(15)}, {H0: D(-18)})) == [
        (Side.SELL, D(0), D(3))
    ]
    assert load.setpoint(H0, D(-18)).power_kw == 18
    assert load.setpoint(H0, D(-25)).power_kw == 20
    assert load.priority == 100


def test_lighting_is_on_below_its_threshold_price() -> None:
    lights = CurtailableLoad("lights", CurtailableLoadPreferences(D(12), D("0.40")), BAND)
    assert summary(lights.tenders(NOW, [H0], None, {}, {})) == [(Side.BUY, D("0.40"), D(12))]
    assert summary(lights.tenders(NOW, [H0], None, {H0: D(6)}, {H0: D(-12)})) == [
        (Side.SELL, D(0), D(6)),  # the schedule dropped: sell back at any price
        (Side.SELL, D("0.40"), D(6)),  # and the rest if the price rises above the threshold
    ]
    assert lights.setpoint(H0, D(0)).power_kw == 0
    assert lights.setpoint(H0, D(-12)).power_kw == 12


def test_pv_sells_forecast_at_marginal_cost_buys_back_shortfall_and_curtails() -> None:
    pv = PvArray("pv", PvPreferences(rated_kw=D(60)), BAND)
    assert summary(pv.tenders(NOW, [H0], None, {H0: D(45)}, {})) == [(Side.SELL, D(0), D(45))]
    assert summary(pv.tenders(NOW, [H0], None, {H0: D(30)}, {H0: D(45)})) == [
        (Side.BUY, D(0), D(30)),  # at zero marginal cost it may as well buy back
        (Side.BUY, D(10), D(15)),  # what it cannot produce, at any price
    ]
    assert pv.tenders(NOW, [H0], None, {}, {}) == []
    assert pv.setpoint(H0, D(20)).power_kw == -20
    assert pv.setpoint(H0, D(80)).power_kw == -60


def _hvac(mode: HvacMode = HvacMode.COOL) -> HvacZone:
    prefs = HvacPreferences(
        rated_kw=D(15), desired_c=22.5, comfort_min_c=21.0, comfort_max_c=24.0, mode=mode
    )
    return HvacZone("zone1", prefs, BAND)


def _hvac_state(temp_c: float) -> HvacState:
    return HvacState(temp_c, 0.0, (D("0.15"), D("0.25"), D("0.15"), D("0.25")))


def test_hvac_bids_from_temperature_deviation_scaled_by_price_statistics() -> None:
    zone = _hvac()
    got = summary(zone.tenders(NOW, [H0], _hvac_state(23.25), {}, {}))
    # mean 0.20, std 0.05, k 2: blocks at deviations 0.75, 0.25 and −0.25 of a 1.5 °C span
    assert got == [
        (Side.BUY, D("0.183333"), D(5)),
        (Side.BUY, D("0.216667"), D(5)),
        (Side.BUY, D("0.250000"), D(5)),
    ]


def test_hvac_respects_comfort_limits_and_hotter_bids_higher() -> None:
    zone = _hvac()
    too_hot = zone.tenders(NOW, [H0], _hvac_state(24.5), {}, {})
    assert all(t.price == D(10) for t in too_hot) and sum(t.quantity for t in too_hot) == 15
    too_cold = zone.tenders(NOW, [H0], _hvac_state(20.5), {}, {H0: D(-5)})
    assert summary(too_cold) == [(Side.SELL, D(0), D(5))]
    warm = max(t.price for t in zone.tenders(NOW, [H0], _hvac_state(23.0), {}, {}))
    hot = max(t.price for t in zone.tenders(NOW, [H0], _hvac_state(23.8), {}, {}))
    assert hot > warm
    heating = _hvac(HvacMode.HEAT)
    cold = max(t.price for t in heating.tenders(NOW, [H0], _hvac_state(21.5), {}, {}))
    assert cold > max(t.price for t in heating.tenders(NOW, [H0], _hvac_state(22.5), {}, {}))
    assert zone.tenders(NOW, HOURS[1:], _hvac_state(23.0), {}, {}) == [], "beyond lookahead"
    assert zone.setpoint(H0, D(-10)).power_kw == 10


def test_ev_buys_the_cheapest_intervals_before_its_deadline() -> None:
    ev = EvCharger("ev", EvPreferences(max_rate_kw=D(11), max_price=D("0.30")), BAND)
    session = EvSession(energy_needed_kwh=D(16), deadline=NOW + timedelta(hours=3))
    forecast = {HOURS[0]: D("0.25"), HOURS[1]: D("0.10"), HOURS[2]: D("0.15"), HOURS[3]: D(0)}
    tenders = ev.tenders(NOW, HOURS, session, forecast, {})
    assert {(t.interval, t.side, t.price, t.quantity) for t in tenders} == {
        (HOURS[1], Side.BUY, D("0.30"), D(11)),
        (HOURS[2], Side.BUY, D("0.30"), D(5)),
    }
    urgent = ev.tenders(NOW, HOURS, EvSession(D(30), NOW + timedelta(hours=3)), forecast, {})
    assert {t.price for t in urgent} == {D(10)}
    assert sum(t.quantity for t in urgent) == 30
    moved = ev.tenders(NOW, HOURS, session, forecast, {HOURS[0]: D(-11)})
    assert (HOURS[0], Side.SELL, D(0), D(11)) in {
        (t.interval, t.side, t.price, t.quantity) for t in moved
    }
    assert ev.tenders(NOW, HOURS, None, forecast, {}) == []
    assert ev.setpoint(H0, D(-11)).power_kw == 11


def _battery() -> Battery:
    prefs = BatteryPreferences(
        capacity_kwh=D(200),
        soc_min_kwh=D(10),
        soc_max_kwh=D(190),
        max_charge_kw=D(75),
        max_discharge_kw=D(75),
        round_trip_efficiency=D("0.81"),
        reserve_kwh=D(20),
    )
    return Battery("bat", prefs, BAND)


FORECAST = {HOURS[0]: D("0.10"), HOURS[1]: D("0.25"), HOURS[2]: D("0.25"), HOURS[3]: D("0.40")}


def test_battery_charges_cheap_and_discharges_dear_intervals_first() -> None:
    tenders = _battery().tenders(NOW, HOURS, BatteryState(D(100)), FORECAST, {})
    got = {(t.interval, t.side): (t.price, t.quantity) for t in tenders}
    # mean 0.25: bid 0.25 × 0.81, offer 0.25 / 0.81; 90 kWh of room above, 80 below
    assert got[HOURS[0], Side.BUY] == (D("0.2025"), D(75))
    assert got[HOURS[1], Side.BUY][1] < 25  # what is left after the cheapest hour
    assert got[HOURS[3], Side.SELL][0] == D("0.308642")
    assert 71.99 < got[HOURS[3], Side.SELL][1] <= 72  # 80 kWh at √0.81: all to the dearest
    assert (HOURS[1], Side.SELL) not in got and (HOURS[2], Side.SELL) not in got


def test_battery_never_plans_beyond_its_soc_limits() -> None:
    battery = _battery()
    full = battery.tenders(NOW, HOURS, BatteryState(D(190)), FORECAST, {})
    assert all(t.side is Side.SELL for t in full)
    at_reserve = battery.tenders(NOW, HOURS, BatteryState(D(20)), FORECAST, {})
    assert all(t.side is Side.BUY for t in at_reserve)
    islanded = battery.tenders(NOW, HOURS, BatteryState(D(20), islanded=True), FORECAST, {})
    sold = [t for t in islanded if t.side is Side.SELL]
    assert sold and sum(t.quantity for t in sold) * D("0.9") <= D(10), "only the reserve"
    near_full = battery.tenders(NOW, HOURS, BatteryState(D(180)), FORECAST, {})
    bought = sum(t.quantity for t in near_full if t.side is Side.BUY)
    assert 0 < bought * D("0.9") <= D(10)
    assert battery.setpoint(H0, D(-100)).power_kw == 75
    assert battery.setpoint(H0, D(30)).power_kw == -30


def test_islanded_battery_carries_the_interval_now_before_the_dear_evening() -> None:
    """Traded with the grid: charge 75 kW in the cheap first hour, sell 72 kW in the dear
    last one. Grid-connected it keeps that plan; islanded the first hour needs it, so it
    offers to sell back the charge and discharge in full there (the evening sale is
    re-cleared by the island when its hour comes)."""
    battery = _battery()
    held = {HOURS[0]: D(-75), HOURS[3]: D(72)}
    connected = battery.tenders(NOW, HOURS, BatteryState(D(100)), FORECAST, held)
    assert not [t for t in connected if t.interval == HOURS[0] and t.side is Side.SELL]
    islanded = battery.tenders(NOW, HOURS, BatteryState(D(100), islanded=True), FORECAST, held)
    [now_sell] = [t for t in islanded if t.interval == HOURS[0]]
    assert (now_sell.side, now_sell.quantity) == (Side.SELL, D(150))
    kept = Battery("bat", replace(battery.preferences, island_headroom_kw=D("7.5")), BAND)
    [kept_sell] = kept.tenders(NOW, [HOURS[0]], BatteryState(D(100), islanded=True), FORECAST,
                               held)
    assert kept_sell.quantity == D("142.5"), "7.5 kW of the 75 kW left unplanned"
    assert kept.tenders(NOW, HOURS, BatteryState(D(100)), FORECAST, held) == connected


def _generator() -> Generator:
    prefs = GeneratorPreferences(
        max_kw=D(40),
        min_kw=D(10),
        fuel_cost=D("0.30"),
        start_cost=D(8),
        min_run=timedelta(hours=2),
    )
    return Generator("gen", prefs, BAND)


def test_stopped_generator_offers_an_all_or_none_start_block() -> None:
    [start] = _generator().tenders(NOW, [H0], GeneratorState(running=False), {}, {})
    assert (start.side, start.price, start.quantity, start.all_or_none) == (
        Side.SELL,
        D("0.40"),  # 0.30 + 8 / (40 kW × 2 h)
        D(40),
        True,
    )


def test_running_generator_honours_minimum_run_and_buys_back_below_fuel_cost() -> None:
    gen = _generator()
    running = GeneratorState(running=True, running_since=NOW - timedelta(hours=1))
    must_run = gen.tenders(NOW, [H0], running, {}, {})
    assert summary(must_run) == [(Side.SELL, D(0), D(10)), (Side.SELL, D("0.30"), D(30))]
    later = HOURS[2]
    free = gen.tenders(NOW, [later], running, {}, {later: D(25)})
    assert summary(free) == [(Side.BUY, D("0.30"), D(25)), (Side.SELL, D("0.300001"), D(15))]
    assert gen.setpoint(H0, D(4)).power_kw == -10
    assert gen.setpoint(H0, D(0)).power_kw == 0


@pytest.mark.parametrize("bad", [dict(min_kw=D(50)), dict(max_kw=D(0))])
def test_generator_preferences_are_checked(bad: dict[str, Decimal]) -> None:
    fields = dict(max_kw=D(40), min_kw=D(10), fuel_cost=D(1), start_cost=D(0), min_run=timedelta(0))
    with pytest.raises(ValueError, match="generator"):
        GeneratorPreferences(**{**fields, **bad})  # type: ignore[arg-type]


def test_battery_leaves_intervals_without_a_forecast_alone() -> None:
    partial = {HOURS[0]: D("0.10"), HOURS[3]: D("0.40")}
    tenders = _battery().tenders(NOW, HOURS, BatteryState(D(100)), partial, {})
    assert {t.interval for t in tenders} == {HOURS[0], HOURS[3]}


def test_ev_deadline_is_an_instant_across_the_fall_back_fold() -> None:
    new_york = ZoneInfo("America/New_York")
    start = datetime(2026, 11, 1, 0, 0, tzinfo=new_york)
    quarters = []
    for _ in range(12):  # 00:00 EDT .. 01:45 EST: 01:00-02:00 happens twice
        quarters.append(Interval(start, timedelta(minutes=15)))
        start = quarters[-1].end
    deadline = datetime(2026, 11, 1, 1, 30, tzinfo=new_york)  # the first 01:30 (EDT)
    charger = EvCharger("ev", EvPreferences(D(11), D("0.30")))
    plan, _ = charger.plan(quarters, EvSession(D(100), deadline), {})
    assert sorted(plan, key=lambda iv: iv.start_us) == quarters[:6], (
        "the repeated 01:00-01:30 (EST) ends after the deadline although its wall clock does not"
    )
    with pytest.raises(IntervalError, match="deadline"):
        EvSession(D(1), datetime(2026, 11, 1, 1, 30))
