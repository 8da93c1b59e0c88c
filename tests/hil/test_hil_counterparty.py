"""The simulated retail provider over real HTTP: CTS payloads in and out, limits, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from drivers.clock import ManualClock
from hil.counterparty import PriceWindow, SimulatedCounterparty
from market.cts import (
    CanceledTender,
    CancelTender,
    CreatedDelivery,
    CreateDelivery,
    CreatedQuote,
    CreatedTender,
    CreatedTransaction,
    CreateQuote,
    CreateTender,
    CreateTransaction,
    DistributeTender,
    ReplyPosition,
    RequestPosition,
    decode,
    decode_market_context,
    decode_tender,
    encode,
)
from market.temix import Delivery, Interval, Quote, Side, Tender, Transaction

ZONE = ZoneInfo("America/Los_Angeles")
NOON = datetime(2026, 6, 22, 12, 0, tzinfo=ZONE)
MARKET = "urn:temix:simulated-rep"
US = "demo-building"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOON)


@pytest.fixture
async def rep(clock: ManualClock) -> AsyncIterator[SimulatedCounterparty]:
    async with SimulatedCounterparty(clock, zone="America/Los_Angeles", seed=3) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _post(http: aiohttp.ClientSession, rep: SimulatedCounterparty, name: str,
                body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, str | bytes) else None
    json_body = None if data is not None else body
    async with http.post(f"{rep.url}/{name}", data=data, json=json_body) as response:
        return response.status, await response.json()


async def _tenders(http: aiohttp.ClientSession, rep: SimulatedCounterparty,
                   **query: str) -> list[Tender]:
    async with http.get(f"{rep.url}/tenders", params=query) as response:
        assert response.status == 200
        body = await response.json()
    tenders = [decode_tender(item) for item in body["tenders"]]
    assert all(isinstance(t, Tender) for t in tenders)
    return tenders  # type: ignore[return-value]


def _take(tender: Tender, quantity: str, transaction_id: str = "tx-1") -> dict[str, object]:
    transaction = Transaction(
        transaction_id=transaction_id, tender_id=tender.tender_id, party=tender.party,
        counterparty=US, side=tender.side, interval=tender.interval, price=tender.price,
        quantity=Decimal(quantity), market_id=MARKET,
    )
    return encode(CreateTransaction(party_id=US, counterparty_id=tender.party, request_id="r1",
                                    market_id=MARKET, transaction=transaction))


async def test_market_context_and_standing_tenders_cover_the_horizon(
    rep: SimulatedCounterparty, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{rep.url}/marketContext") as response:
        context = decode_market_context(await response.json())
    assert context.market_id == MARKET and context.zone == "America/Los_Angeles"
    assert context.interval_durations == (
        timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
    tenders = await _tenders(http, rep)
    by_duration: dict[timedelta, set[datetime]] = {}
    for tender in tenders:
        by_duration.setdefault(tender.interval.duration, set()).add(tender.interval.start)
    assert len(by_duration[timedelta(minutes=5)]) == 24  # 12:00-14:00
    assert len(by_duration[timedelta(minutes=15)]) == 16  # 14:00-18:00
    assert len(by_duration[timedelta(hours=1)]) == 18  # 18:00-12:00 next day
    assert min(by_duration[timedelta(minutes=5)]) == NOON
    prices: dict[Interval, dict[Side, Decimal]] = {}
    for tender in tenders:
        prices.setdefault(tender.interval, {})[tender.side] = tender.price
        assert tender.market_id == MARKET and tender.expires == tender.interval.start
        assert tender.quantity == (Decimal(150) if tender.side is Side.SELL else Decimal(60))
    assert all(p[Side.SELL] > p[Side.BUY] for p in prices.values())
    evening = Interval(datetime(2026, 6, 22, 18, 0, tzinfo=ZONE), timedelta(hours=1))
    assert prices[evening][Side.SELL] > prices[Interval(NOON, timedelta(minutes=5))][Side.SELL]


async def test_tenders_filter_by_interval(
    rep: SimulatedCounterparty, http: aiohttp.ClientSession
) -> None:
    one = await _tenders(http, rep, dtStart="2026-06-22T12:30:00-07:00", duration="PT15M")
    assert {t.interval.duration for t in one} == {timedelta(minutes=5)}
    assert len(one) == 6  # three 5-min intervals, buy and sell


async def test_transactions_within_limits_make_positions_and_beyond_them_are_refused(
    rep: SimulatedCounterparty, http: aiohttp.ClientSession
) -> None:
    tenders = await _tenders(http, rep)
    hour = next(t for t in tenders if t.side is Side.SELL
                and t.interval.duration == timedelta(hours=1))
    status, body = await _post(http, rep, "createTransaction", _take(hour, "100"))
    assert status == 200, body
    created = decode(body)
    assert isinstance(created, CreatedTransaction) and created.transaction_id == "tx-1"
    status, body = await _post(http, rep, "createTransaction", _take(hour, "60", "tx-2"))
    assert status == 409
    assert body["field"] == "transaction.tender.tenderDetail.quantity"
    assert "limits" in body["reason"]
    request = RequestPosition(party_id=US, request_id="p1", market_id=MARKET, position_party=US,
                              bounding_interval=hour.interval,
                              interval_duration=timedelta(minutes=15))
    status, body = await _post(http, rep, "requestPosition", encode(request))
    assert status == 200
    reply = decode(body)
    assert isinstance(reply, ReplyPosition)
    assert [q for _, q in reply.positions] == [Decimal(-100)] * 4  # we bought: net buyer


async def test_delivery_settles_the_imbalance_at_the_real_time_price(
    rep: SimulatedCounterparty, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    tenders = await _tenders(http, rep)
    first = next(t for t in tenders if t.side is Side.SELL and t.interval.start == NOON)
    status, _ = await _post(http, rep, "createTransaction", _take(first, "60"))
    assert status == 200
    delivery = Delivery(delivery_id="d1", party=US, interval=first.interval,
                        energy_kwh=Decimal("-6"), market_id=MARKET)
    payload = encode(CreateDelivery(party_id=US, counterparty_id=rep.party_id,
                                    request_id="r9", market_id=MARKET, delivery=delivery))
    status, body = await _post(http, rep, "createDelivery", payload)
    assert status == 409 and body["field"] == "delivery.interval"  # not over yet
    await clock.advance(300)
    status, body = await _post(http, rep, "createDelivery", payload)
    assert status == 200
    assert isinstance(decode(body), CreatedDelivery)
    settlement = rep.settlements[0]
    # 60 kW for 5 min = 5 kWh bought; 6 kWh taken: 1 kWh short, paid at the real-time price
    assert settlement.contracted_kwh == Decimal(-5)
    assert settlement.imbalance_kwh == Decimal(-1)
    assert settlement.amount == (-settlement.price_per_kwh).quantize(Decimal("0.01"))
    assert settlement.price_per_kwh == rep.real_time_price(first.interval)


async def test_expired_tenders_cannot_be_taken(
    rep: SimulatedCounterparty, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    tenders = await _tenders(http, rep)
    first = next(t for t in tenders if t.interval.start == NOON)
    await clock.advance(1)
    status, body = await _post(http, rep, "createTransaction", _take(first, "1"))
    assert status == 404 and body["field"] == "transaction.tender.tenderId"


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("createTender", "{not json", "body"),
        ("createTender", "[1, 2]", "body"),
        ("createTender", {"partyId": US}, "payloadType"),
        ("createTender", {"payloadType": "EiCreateTender", "partyId": US,
                          "counterPartyId": "simulated-rep", "requestId": "r",
                          "marketId": MARKET}, "tender"),
        ("requestPosition", {"payloadType": "EiCancelTender", "partyId": US,
                             "counterPartyId": "simulated-rep", "requestId": "r",
                             "marketId": MARKET, "tenderId": "x"}, "payloadType"),
        ("cancelTender", {"payloadType": "EiCancelTender", "partyId": US,
                          "counterPartyId": "simulated-rep", "requestId": "r",
                          "marketId": "urn:other", "tenderId": "x"}, "marketId"),
        ("cancelTender", {"payloadType": "EiCancelTender", "partyId": US,
                          "counterPartyId": "simulated-rep", "requestId": "r",
                          "marketId": MARKET, "tenderId": "nope"}, "tenderId"),
    ],
    ids=["not-json", "not-object", "no-type", "no-tender", "wrong-endpoint", "wrong-market",
         "unknown-tender"],
)
async def test_bad_payloads_get_4xx_naming_the_field(
    rep: SimulatedCounterparty, http: aiohttp.ClientSession, endpoint: str, body: Any,
    field: str,
) -> None:
    status, answer = await _post(http, rep, endpoint, body)
    assert 400 <= status < 500
    assert answer["field"] == field
    assert answer["response"]["responseCode"] == status
    assert answer["reason"]


async def test_building_tenders_quotes_and_distribution(
    rep: SimulatedCounterparty, http: aiohttp.ClientSession
) -> None:
    interval = Interval(NOON + timedelta(minutes=30), timedelta(minutes=5))
    cheap = Tender(tender_id="b1", party=US, side=Side.SELL, interval=interval,
                   price=Decimal("0.001"), quantity=Decimal(10), market_id=MARKET)
    dear = Tender(tender_id="b2", party=US, side=Side.SELL, interval=interval,
                  price=Decimal("5.00"), quantity=Decimal(10), market_id=MARKET)
    status, body = await _post(http, rep, "createTender", encode(CreateTender(
        party_id=US, counterparty_id=rep.party_id, request_id="c1", market_id=MARKET,
        tender=cheap)))
    created = decode(body)
    assert status == 200 and isinstance(created, CreatedTender)
    assert "accepted as transaction" in created.response.description
    status, body = await _post(http, rep, "distributeTender", encode(DistributeTender(
        party_id=US, request_id="d1", market_id=MARKET, target_group=(rep.party_id,),
        tenders=(dear,))))
    assert status == 200
    answers = [decode(item) for item in body["createdTenders"]]
    assert [a.tender_id for a in answers if isinstance(a, CreatedTender)] == ["b2"]
    assert len(rep.transactions) == 1  # the dear one stands, untaken
    status, body = await _post(http, rep, "cancelTender", encode(CancelTender(
        party_id=US, counterparty_id=rep.party_id, request_id="x", market_id=MARKET,
        tender_id="b2")))
    assert status == 200 and isinstance(decode(body), CanceledTender)
    quote = Quote(quote_id="q1", party=US, side=Side.BUY, interval=interval,
                  price=Decimal("0.10"), quantity=Decimal(5), market_id=MARKET)
    status, body = await _post(http, rep, "createQuote", encode(CreateQuote(
        party_id=US, counterparty_id=rep.party_id, request_id="q", market_id=MARKET,
        quote=quote)))
    assert status == 200 and isinstance(decode(body), CreatedQuote)


async def test_price_spike_raises_prices_and_the_same_seed_gives_the_same_prices(
    clock: ManualClock,
) -> None:
    spike = PriceWindow(NOON + timedelta(hours=4), NOON + timedelta(hours=6), 8.0)
    calm = SimulatedCounterparty(clock, zone="America/Los_Angeles", seed=5)
    twin = SimulatedCounterparty(clock, zone="America/Los_Angeles", seed=5)
    spiky = SimulatedCounterparty(clock, zone="America/Los_Angeles", seed=5,
                                  price_windows=(spike,))
    inside = Interval(NOON + timedelta(hours=5), timedelta(minutes=15))
    outside = Interval(NOON + timedelta(hours=7), timedelta(minutes=15))
    assert calm.real_time_price(inside) == twin.real_time_price(inside)
    ratio = spiky.real_time_price(inside) / calm.real_time_price(inside)
    assert ratio == pytest.approx(Decimal(8), rel=Decimal("0.001"))
    assert spiky.real_time_price(outside) == calm.real_time_price(outside)
    assert spiky.sell_price(inside) > spiky.buy_price(inside)
