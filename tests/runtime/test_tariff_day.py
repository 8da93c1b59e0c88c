"""A site without a TeMIX counterparty, buying at a time-of-use tariff: three hours of
the demo building through the real protocols, across the start of the evening peak.

Before the tariff, such a site had no grid supply in its market: every load the PV and
the battery could not supply was shed in the market (its devices set off while the grid
was there), and the battery, with no price forecast, never traded.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daykit import run_day, write_scenario
from sitekit import TARIFF, private_demo_site

from gateway.config import load_site
from gateway.runtime.app import Gateway
from hil.rig import BuildingRig
from market.temix import Side, to_cents

pytestmark = pytest.mark.timeout(240)

PEAK = (Decimal("0.48"), Decimal("0.05"))
BASE = (Decimal("0.22"), Decimal("0.05"))


@pytest.fixture(scope="module")
def tariff_afternoon(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("tariff-day")
    path = private_demo_site(folder).path
    text = re.sub(r"external_market:\n(  .*\n)+\n", TARIFF + "\n", path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    site = load_site(path)
    assert site.config.external_market is None and site.config.tariff is not None
    scenario = write_scenario(folder, start="2026-06-22T14:30", duration="3h")
    seen: dict[str, Any] = {}

    def after_stop(rig: BuildingRig, gateway: Gateway) -> None:
        seen["rig"], seen["gateway"] = rig, gateway

    asyncio.run(run_day(site, scenario, speed=600.0, duration=timedelta(hours=3),
                        after_stop=after_stop))
    return seen


def test_the_grid_serves_the_loads_nothing_is_shed(tariff_afternoon: dict[str, Any]) -> None:
    gateway: Gateway = tariff_afternoon["gateway"]
    rounds = gateway.status.rounds
    assert len(rounds) > 20
    assert all(not r.islanded and not r.shed for r in rounds), \
        [(r.now, r.shed) for r in rounds if r.shed]
    assert any(r.net_import_kw > 20 for r in rounds)


def test_every_settled_interval_is_squared_at_the_tariff(tariff_afternoon: dict[str, Any]) -> None:
    gateway: Gateway = tariff_afternoon["gateway"]
    utility, operator = gateway.tariff, gateway.operator
    assert utility is not None and operator is not None
    settlements = gateway.status.settlements
    assert len(settlements) > 20
    for settlement in settlements:
        interval = settlement.interval
        assert settlement.total == Decimal(0), interval
        assert utility.contracted_import_kw(interval) == operator.market.net_import_kw(interval)
        prices = utility.schedule.prices(interval)
        assert prices == (PEAK if interval.start.astimezone(utility.schedule.zone).hour >= 16
                          else BASE)
        for contract in utility.transactions_covering(interval):
            assert contract.price in prices, contract
        bill = settlement.statements["city-power"]  # the utility's bill of its meter
        price = prices[0] if bill.metered_kwh > 0 else prices[1]
        assert bill.total == to_cents(bill.metered_kwh * price), (interval, bill)


def test_the_battery_discharges_into_the_evening_peak(tariff_afternoon: dict[str, Any]) -> None:
    gateway: Gateway = tariff_afternoon["gateway"]
    operator = gateway.operator
    assert operator is not None
    peak = [s.interval for s in gateway.status.settlements
            if s.interval.start.astimezone(gateway.zone).hour >= 16]
    assert peak
    sold = [operator.market.book.position("battery", iv) for iv in peak]
    assert sum(sold) > 0, "the battery sells (discharges) while the grid costs 0.48"
    bought_at_peak = [t for t in operator.market.transactions_covering(peak[0])
                      if t.party == "battery" and t.side is Side.BUY]
    assert not bought_at_peak
