"""The unchecked constructors of the market's hot path build the same frozen objects as
the checked ones, and the checks they skip are made once, upstream, instead."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from market.agents import CriticalLoad, CriticalLoadPreferences, PriceBand
from market.agents.base import PositionCurve, curve_tenders
from market.model import trusted_tender, trusted_transactions
from market.temix import Interval, PriceError, QuantityError, Side, TemixError, Tender, Transaction

D = Decimal
HOUR = Interval(datetime(2026, 6, 1, 12, tzinfo=UTC), timedelta(hours=1))


def test_a_trusted_tender_is_a_frozen_tender_equal_to_the_checked_one() -> None:
    fast = trusted_tender("t1", "pv", Side.SELL, HOUR, D("0.05"), D(30))
    checked = Tender("t1", "pv", Side.SELL, HOUR, D("0.05"), D(30))
    assert type(fast) is Tender and fast == checked and hash(fast) == hash(checked)
    assert fast.energy_kwh == 30 and fast.expires is None and fast.resource == "POWER"
    with pytest.raises(FrozenInstanceError):
        fast.quantity = D(1)  # type: ignore[misc]


def test_a_trusted_all_or_none_tender_equals_the_checked_one() -> None:
    fast = trusted_tender("g1", "gen", Side.SELL, HOUR, D("0.3"), D(40), all_or_none=True)
    checked = Tender("g1", "gen", Side.SELL, HOUR, D("0.3"), D(40), all_or_none=True)
    assert type(fast) is Tender and fast == checked and fast.all_or_none is True


def test_a_trusted_transaction_accepts_part_of_a_tender_like_the_checked_one() -> None:
    tender = Tender("t1", "pv", Side.SELL, HOUR, D("0.05"), D(30))
    [fast] = trusted_transactions([tender], [D(12)], "operator", D("0.07"), HOUR.start)
    checked = Transaction(
        "t1:tx", "t1", "pv", "operator", Side.SELL, HOUR, D("0.07"), D(12), executed_at=HOUR.start
    )
    assert type(fast) is Transaction and fast == checked
    assert fast.extended_price == D("0.84")
    with pytest.raises(FrozenInstanceError):
        fast.price = D(1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("curve", "error"),
    [
        (PositionCurve(D(0), ((D("0.1"), D(0)),)), PriceError),
        (PositionCurve(D(0), ((D("NaN"), D(1)),)), PriceError),
        (PositionCurve(D("Infinity")), QuantityError),
    ],
)
def test_curve_tenders_refuse_a_curve_that_would_make_invalid_tenders(
    curve: PositionCurve, error: type[Exception]
) -> None:
    with pytest.raises(error, match="load"):
        curve_tenders("load", HOUR, curve, D(0), PriceBand(), "load@1")


def test_price_band_and_agent_party_are_checked_once_at_construction() -> None:
    with pytest.raises(PriceError, match="floor"):
        PriceBand(D(5), D(1))
    with pytest.raises(PriceError, match="finite"):
        PriceBand(D(0), D("Infinity"))
    with pytest.raises(TemixError, match="agent party"):
        CriticalLoad("", CriticalLoadPreferences(D(5)))
