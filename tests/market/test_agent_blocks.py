"""Tenders the agents build without the full tender validation are the tenders the checked
constructor makes, and the parts the agent cannot vouch for are still checked."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from market.agents import (
    Battery,
    BatteryPreferences,
    BatteryState,
    Generator,
    GeneratorPreferences,
    GeneratorState,
    PriceBand,
)
from market.agents.base import block_tender
from market.temix import Interval, PriceError, QuantityError, Side, Tender

D = Decimal
NOW = datetime(2026, 6, 1, tzinfo=UTC)
HORIZON = [Interval(NOW + timedelta(hours=h), timedelta(hours=1)) for h in range(6)]
BAND = PriceBand(D(0), D(10))


def _checked(tender: Tender) -> Tender:
    return Tender(
        tender.tender_id,
        tender.party,
        tender.side,
        tender.interval,
        tender.price,
        tender.quantity,
        all_or_none=tender.all_or_none,
    )


def test_a_start_block_is_the_all_or_none_tender_the_checked_constructor_makes() -> None:
    prefs = GeneratorPreferences(D(40), D(10), D("0.30"), D(8), timedelta(hours=2))
    stopped = GeneratorState(running=False)
    blocks = Generator("genset", prefs, BAND).tenders(NOW, HORIZON, stopped, {}, {})
    assert len(blocks) == len(HORIZON)
    for block in blocks:
        assert type(block) is Tender and block.all_or_none and block == _checked(block)
        assert (block.side, block.price, block.quantity) == (Side.SELL, D("0.40"), D(40))


def test_a_start_block_of_unbounded_output_is_refused_as_the_checked_tender_would_be() -> None:
    prefs = GeneratorPreferences(D("Infinity"), D(0), D("0.30"), D(8), timedelta(hours=2))
    genset = Generator("genset", prefs, BAND)
    with pytest.raises(QuantityError, match="quantity of tender genset@"):
        genset.tenders(NOW, HORIZON, GeneratorState(running=False), {}, {})


def test_block_tender_checks_price_and_quantity() -> None:
    with pytest.raises(PriceError, match="price of tender b1"):
        block_tender("b1", "genset", Side.SELL, HORIZON[0], D("NaN"), D(1))
    with pytest.raises(QuantityError, match="quantity of tender b1"):
        block_tender("b1", "genset", Side.SELL, HORIZON[0], D("0.3"), D(0))


def test_battery_tenders_equal_checked_ones_and_do_not_depend_on_horizon_order() -> None:
    prefs = BatteryPreferences(D(200), D(10), D(190), D(75), D(75), D("0.9"), D(20))
    battery = Battery("store", prefs, BAND)
    prices = {iv: D(8 + 5 * (n % 4)) / 100 for n, iv in enumerate(HORIZON)}
    state = BatteryState(D(100))
    tenders = battery.tenders(NOW, HORIZON, state, prices, {})
    assert {t.side for t in tenders} == {Side.BUY, Side.SELL}
    assert all(type(t) is Tender and t == _checked(t) for t in tenders)
    shuffled = HORIZON[:]
    random.Random(5).shuffle(shuffled)
    assert battery.tenders(NOW, shuffled, state, prices, {}) == tenders
