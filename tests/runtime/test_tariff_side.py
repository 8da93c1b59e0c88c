"""The utility's tariff as the building's outside market: its prices by local time of
day, the standing import and export it offers the micromarket, and contracts that follow
the bill to the cent however the net import moves between rounds."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.site import MarketSection, SiteInfo, TariffSection
from gateway.runtime.tariff import TariffSide
from market.quantities import extended_price_exact, to_cents
from market.settlement import settle_interval
from market.temix import Interval, Side

D = Decimal
ZONE = ZoneInfo("America/Los_Angeles")
SITE = SiteInfo(name="Test", timezone="America/Los_Angeles", nominal_voltage_v=277,
                nominal_frequency_hz=60, pcc_import_limit_kw=D(200), pcc_export_limit_kw=D(80),
                pcc_rating_kva=D(300))
MARKET = MarketSection(market_id="urn:temix:test", horizon=[{"interval": "5min",
                                                             "until": "2h"}])
TARIFF = TariffSection(
    utility_id="city-power", import_per_kwh=D("0.22"), export_per_kwh=D("0.05"),
    time_of_use=[{"start": "16:00", "end": "21:00", "import_per_kwh": "0.48"},
                 {"start": "23:00", "end": "06:00", "import_per_kwh": "0.12",
                  "export_per_kwh": "0.02"}])
NOW = datetime(2026, 3, 8, 15, 0, tzinfo=ZONE)  # the day clocks go forward in California


def at(hour: int, minute: int = 0, day: int = 8) -> Interval:
    return Interval(datetime(2026, 3, day, hour, minute, tzinfo=ZONE), timedelta(minutes=5))


def side() -> TariffSide:
    return TariffSide(TARIFF, "building", MARKET, SITE)


def test_prices_follow_local_time_of_use_across_midnight_and_dst() -> None:
    schedule = side().schedule
    assert schedule.prices(at(15, 55)) == (D("0.22"), D("0.05"))
    assert schedule.prices(at(16, 0)) == (D("0.48"), D("0.05"))
    assert schedule.prices(at(20, 55)) == (D("0.48"), D("0.05"))
    assert schedule.prices(at(21, 0)) == (D("0.22"), D("0.05"))
    assert schedule.prices(at(23, 30)) == (D("0.12"), D("0.02"))
    assert schedule.prices(at(5, 55, day=9)) == (D("0.12"), D("0.02"))
    assert schedule.prices(at(6, 0, day=9)) == (D("0.22"), D("0.05"))
    # 03:00 PDT on the morning the clocks went forward is 10:00 UTC: still night rate
    assert schedule.prices(at(3, 0)) == (D("0.12"), D("0.02"))


def test_the_standing_tenders_offer_the_tariff_within_the_pcc_limits() -> None:
    tenders = side().external_tenders(at(17))
    assert (tenders.import_price, tenders.export_price) == (D("0.48"), D("0.05"))
    assert (tenders.import_limit_kw, tenders.export_limit_kw) == (D(200), D(80))


def test_net_metering_keeps_the_two_tenders_apart_but_contracts_at_the_tariff() -> None:
    flat = TariffSection(import_per_kwh=D("0.30"), export_per_kwh=D("0.30"))
    net_metered = TariffSide(flat, "building", MARKET, SITE)
    assert net_metered.external_tenders(at(12)).export_price == D("0.299999")
    (contract,) = net_metered.orders_for(NOW, {at(15, 10): D(-10)})
    assert (contract.transaction.side, contract.transaction.price) == (Side.BUY, D("0.30"))


async def test_contracts_follow_the_bill_when_the_net_import_moves() -> None:
    utility = side()
    interval = at(16, 30)
    sequence = []
    for target in (D(30), D(10), D(-15), D(-15), D(5)):
        orders = utility.orders_for(NOW, {interval: target})
        await utility.send(orders)
        sequence.append([(o.transaction.side, o.transaction.quantity, o.transaction.price)
                         for o in orders])
        assert utility.contracted_import_kw(interval) == target
    assert sequence == [
        [(Side.SELL, D(30), D("0.48"))],
        [(Side.BUY, D(20), D("0.48"))],
        [(Side.BUY, D(10), D("0.48")), (Side.BUY, D(15), D("0.05"))],
        [],
        [(Side.SELL, D(5), D("0.48")), (Side.SELL, D(15), D("0.05"))],
    ]
    assert all(o.transaction.party == "city-power" and o.transaction.counterparty == "building"
               for o in utility.orders_for(NOW, {interval: D(50)}))


def test_far_intervals_wait_for_a_bigger_difference_near_ones_are_squared_exactly() -> None:
    utility = side()
    near, far = at(15, 50), at(16, 30)
    small = D("0.4")
    assert [o.transaction.interval for o in utility.orders_for(NOW, {near: small, far: small})] \
        == [near]


def test_a_restart_reads_the_contracts_back() -> None:
    before = side()
    targets = {at(15, 30): D(12), at(15, 45): D(-4)}
    contracts = [o.transaction for o in before.orders_for(NOW, targets)]
    after = side()
    after.restore_contracts(contracts)
    assert {iv: after.contracted_import_kw(iv) for iv in targets} == targets
    assert after.orders_for(NOW, targets) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.decimals(min_value=-120, max_value=250, places=3), min_size=1, max_size=8),
       st.sampled_from([at(12), at(17), at(23, 30)]),
       st.decimals(min_value=-10, max_value=20, places=3))
async def test_whatever_the_rounds_the_contracts_cost_what_the_bill_says(
        targets: list[Decimal], interval: Interval, metered_kwh: Decimal) -> None:
    """... and at delivery, whatever the meter read, the utility's statement is the bill of
    the meter reading (contracts plus imbalance, split at zero like the bill)."""
    utility = side()
    now = interval.start - timedelta(minutes=30)  # near: squared exactly
    for target in targets:
        await utility.send(utility.orders_for(now, {interval: target}))
    final = max(D(-80), min(D(200), targets[-1]))
    imported, exported = utility.schedule.prices(interval)
    paid = sum((extended_price_exact(t.price, t.quantity, interval)
                * (1 if t.side is Side.SELL else -1)
                for t in utility.transactions_covering(interval)), start=Fraction(0))
    bill = extended_price_exact(imported, max(final, D(0)), interval) \
        - extended_price_exact(exported, max(-final, D(0)), interval)
    assert to_cents(paid) == to_cents(bill)
    assert utility.contracted_import_kw(interval) == final
    settlement = settle_interval(interval, utility.transactions_covering(interval),
                                 {"city-power": metered_kwh, "loads": -metered_kwh},
                                 imported, operator="building",
                                 tariff=utility.meter_tariff(interval))
    price = imported if metered_kwh > 0 else exported
    assert settlement.statements["city-power"].total == to_cents(Fraction(metered_kwh * price))
    assert settlement.total == 0
