"""A restart reads the building's positions back from the ledger: the micromarket's own
transactions into the market, the contracts outside into the trader. The two share the
building's party id; booked into the market, the contracts would cancel the net import
they square and the restarted gateway would sell everything back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from drivers.clock import ManualClock
from gateway.config.loader import load_site
from gateway.runtime.operator import MarketOperator
from gateway.runtime.trader import Trader
from market.agents import PriceBand
from market.horizon import HorizonTier, Micromarket
from market.temix import Interval, Side, Tender, Transaction

T0 = datetime(2026, 6, 22, 10, 0, tzinfo=UTC)
NEAR = Interval(T0 + timedelta(minutes=10), timedelta(minutes=5))
D = Decimal


@pytest.fixture
def site(repo_root: Path) -> Any:
    return load_site(repo_root / "config" / "examples" / "demo-site.yaml")


def test_restored_contracts_outside_leave_the_net_import_and_need_no_order(site: Any) -> None:
    config = site.config
    party = config.external_market.party_id
    provider = config.external_market.counterparty_id
    trader = Trader(config.external_market, config.market, ManualClock(T0), config.site, None)
    market = Micromarket(tiers=[HorizonTier(timedelta(minutes=5), timedelta(hours=2))],
                         zone="UTC", operator=party, band=PriceBand(D(-1), D(10)))
    operator = MarketOperator(
        market=market, services={}, writer=trader.writer, external=trader,
        pcc_import_limit_kw=D(200), pcc_export_limit_kw=D(100),
        settlement_duration=timedelta(minutes=5), market_id=config.market.market_id,
        island_cover_ahead=timedelta(minutes=10))
    ledger = [
        Transaction("r1-hvac", "t-hvac", "hvac_zone_1", party, Side.BUY, NEAR, D("0.21"), D(30)),
        Transaction("r1-pv", "t-pv", "pv_array", party, Side.SELL, NEAR, D("0.21"), D(12)),
        Transaction("x1", "p-sell", provider, party, Side.SELL, NEAR, D("0.21"), D(18)),
    ]
    operator.restore(ledger)
    trader.restore(ledger)

    assert market.net_import_kw(NEAR) == D(18)
    assert trader.contracted_import_kw(NEAR) == D(18)
    trader.standing = {NEAR: {side: Tender(f"p-{side}", provider, side, NEAR, D("0.21"), D(500))
                              for side in Side}}
    assert trader.orders_for(T0, {NEAR: market.net_import_kw(NEAR)}) == []
