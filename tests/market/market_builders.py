"""Builders shared by the market tests: one interval, a tender in one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from market.temix import Interval, Side, Tender

HOUR = Interval(datetime(2026, 6, 1, 12, tzinfo=UTC), timedelta(hours=1))


def tender(
    tender_id: str,
    side: Side,
    price: str | Decimal,
    quantity: str | Decimal,
    *,
    party: str | None = None,
    interval: Interval = HOUR,
    all_or_none: bool = False,
    expires: datetime | None = None,
) -> Tender:
    return Tender(
        tender_id=tender_id,
        party=party or tender_id,
        side=side,
        interval=interval,
        price=Decimal(price),
        quantity=Decimal(quantity),
        all_or_none=all_or_none,
        expires=expires,
    )


def buy(tender_id: str, price: str, quantity: str, **kw: object) -> Tender:
    return tender(tender_id, Side.BUY, price, quantity, **kw)  # type: ignore[arg-type]


def sell(tender_id: str, price: str, quantity: str, **kw: object) -> Tender:
    return tender(tender_id, Side.SELL, price, quantity, **kw)  # type: ignore[arg-type]
