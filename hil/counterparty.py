"""The simulated external market: a retail energy provider speaking CTS 1.0 over HTTP.

A real aiohttp server on loopback, under ``/cts/v1/``. For every interval of the site's
horizon (e.g. 5-min intervals for 2 h, 15-min to 6 h, 1-h to 24 h) it stands a forward
*sell* tender (the building may import up to the PCC import limit) and a forward *buy*
tender (the building may export up to the export limit), priced from a day-ahead shape
(hil/loads/day_ahead_price_per_kwh.csv) with seeded real-time noise; the sell price is
always above the buy price, and a scenario's price spikes multiply both. It accepts
transactions on its tenders within those limits, reports positions, settles deliveries
against positions at its real-time price, and answers every bad payload with an HTTP 4xx
and an error object naming the field and the reason.

Time comes from the :class:`drivers.clock.Clock` it is given, so an accelerated day
trades as it would live. Money is Decimal; the noise is a function of (seed, interval),
so the same interval always has the same price.

Error body (HTTP 400 malformed, 404 unknown id, 409 refused by a market rule)::

    {"payloadType": "EiResponse", "response": {"responseCode": 409,
     "responseDescription": "transaction.tender.quantity: ..."},
     "field": "transaction.tender.quantity", "reason": "..."}
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from drivers.clock import Clock
from hil.physics.shapes import shipped
from market.context import MarketContext
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
    CtsDecodeError,
    DistributeTender,
    Payload,
    ReplyPosition,
    RequestPosition,
    Response,
    decode,
    encode,
    encode_market_context,
    encode_tender,
    reply_position,
)
from market.errors import TemixError
from market.interval import Interval, format_duration, parse_duration
from market.model import Delivery, StreamTender, Tender, TenderBook, Transaction
from market.positions import PositionBook
from market.sides import Side

API_PREFIX = "/cts/v1"
PRICE_STEP = Decimal("0.0001")
RETAIL_ADDER_PER_KWH = 0.03  # sell (to the building) above the real-time price
EXPORT_DISCOUNT_PER_KWH = 0.02  # buy (from the building) below it
PRICE_NOISE_PU = 0.05


@dataclass(frozen=True)
class PriceWindow:
    """Prices multiplied by ``factor`` for intervals overlapping [start, end)."""

    start: datetime
    end: datetime
    factor: float


@dataclass(frozen=True)
class Settlement:
    """One delivery settled against the position at the real-time price."""

    delivery_id: str
    party: str
    interval: Interval
    delivered_kwh: Decimal
    contracted_kwh: Decimal
    imbalance_kwh: Decimal
    price_per_kwh: Decimal
    amount: Decimal  # positive: the provider pays the party


class CtsRefusal(Exception):
    """A request refused with an HTTP status, a field path and a reason."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Tier:
    """Intervals of ``duration`` traded up to ``until`` ahead."""

    duration: timedelta
    until: timedelta


class SimulatedCounterparty:
    """A retail energy provider: standing tenders, transactions, positions, settlement."""

    def __init__(
        self,
        clock: Clock,
        *,
        party_id: str = "simulated-rep",
        market_id: str = "urn:temix:simulated-rep",
        zone: str = "UTC",
        horizon: Sequence[Tier] = (
            Tier(timedelta(minutes=5), timedelta(hours=2)),
            Tier(timedelta(minutes=15), timedelta(hours=6)),
            Tier(timedelta(hours=1), timedelta(hours=24)),
        ),
        import_limit_kw: Decimal = Decimal(150),
        export_limit_kw: Decimal = Decimal(60),
        price_windows: Sequence[PriceWindow] = (),
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = API_PREFIX,
    ) -> None:
        self.clock = clock
        self.party_id = party_id
        self.market_id = market_id
        self.zone = zone
        self.horizon = tuple(horizon)
        self.import_limit_kw = import_limit_kw
        self.export_limit_kw = export_limit_kw
        self.price_windows = tuple(price_windows)
        self.seed = seed
        self.host = host
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.book = TenderBook()
        self.positions = PositionBook()
        self.transactions: list[Transaction] = []
        self.received_tenders: dict[str, Tender | StreamTender] = {}
        self.quotes: list[CreateQuote] = []
        self.settlements: list[Settlement] = []
        self._price_shape = shipped("day_ahead_price_per_kwh")
        self._tz = ZoneInfo(zone)
        self._granularity = min(tier.duration for tier in self.horizon)
        self._expiry: dict[str, datetime] = {}
        self._ids = itertools.count(1)
        self._prices: dict[Interval, Decimal] = {}
        self._runner: web.AppRunner | None = None

    # --- prices ------------------------------------------------------------------------

    def real_time_price(self, interval: Interval) -> Decimal:
        """The provider's price for an interval: day-ahead shape × spikes × seeded noise."""
        cached = self._prices.get(interval)
        if cached is None:
            cached = self._prices[interval] = self._price_of(interval)
        return cached

    def _price_of(self, interval: Interval) -> Decimal:
        middle = interval.start + interval.duration / 2
        local = middle.astimezone(self._tz)
        second = local.hour * 3600 + local.minute * 60 + local.second
        price = self._price_shape.at(float(second))
        for window in self.price_windows:
            if interval.start < window.end and window.start < interval.end:
                price *= window.factor
        noise = random.Random(
            f"{self.seed}:{interval.start_us}:{interval.duration_us}"
        ).gauss(0.0, PRICE_NOISE_PU)
        price *= 1.0 + max(-3 * PRICE_NOISE_PU, min(3 * PRICE_NOISE_PU, noise))
        return Decimal(repr(price)).quantize(PRICE_STEP)

    def sell_price(self, interval: Interval) -> Decimal:
        """What the building pays to import (the provider sells)."""
        return self.real_time_price(interval) + Decimal(str(RETAIL_ADDER_PER_KWH))

    def buy_price(self, interval: Interval) -> Decimal:
        """What the building is paid to export (the provider buys); always below sell."""
        return self.real_time_price(interval) - Decimal(str(EXPORT_DISCOUNT_PER_KWH))

    # --- the standing tenders ------------------------------------------------------------

    def horizon_intervals(self, now: datetime) -> list[Interval]:
        """Every interval the provider tenders on at ``now``, coarser tiers further out."""
        intervals: list[Interval] = []
        covered = _ceil(now, self._granularity)
        for tier in self.horizon:
            start = _ceil(covered, tier.duration)
            end = now + tier.until
            while start + tier.duration <= end:
                intervals.append(Interval(start, tier.duration))
                start += tier.duration
            covered = max(covered, start)
        return intervals

    def refresh(self) -> datetime:
        """Drop tenders whose interval has begun; stand new ones across the horizon."""
        now = self.clock.now()
        for tender_id, expires in list(self._expiry.items()):
            if expires <= now:
                self.book.cancel(tender_id)
                del self._expiry[tender_id]
        for interval in self.horizon_intervals(now):
            for side, quantity, price in (
                (Side.SELL, self.import_limit_kw, self.sell_price(interval)),
                (Side.BUY, self.export_limit_kw, self.buy_price(interval)),
            ):
                tender_id = _tender_id(side, interval)
                if tender_id in self.book or quantity <= 0:
                    continue
                self.book.add(Tender(
                    tender_id=tender_id, party=self.party_id, side=side, interval=interval,
                    price=price, quantity=quantity, expires=interval.start,
                    market_id=self.market_id,
                ))
                self._expiry[tender_id] = interval.start
        return now

    def standing_tenders(self, interval: Interval | None = None) -> list[Tender]:
        now = self.refresh()
        return self.book.standing(now, interval)

    # --- the services ---------------------------------------------------------------------

    def create_tender(self, request: CreateTender) -> CreatedTender:
        """A tender from the building: kept, and taken at once if it beats our prices."""
        self._check_market(request.market_id)
        tender = request.tender
        if tender.party != request.party_id:
            raise CtsRefusal(400, "tender.partyId",
                             f"tender originator {tender.party!r} is not the requesting party "
                             f"{request.party_id!r}")
        if tender.tender_id in self.received_tenders:
            raise CtsRefusal(409, "tender.tenderId",
                             f"tender {tender.tender_id!r} was already received")
        self.received_tenders[tender.tender_id] = tender
        description = "OK: tender received"
        if isinstance(tender, Tender):
            taken = self._take_if_attractive(tender)
            if taken is not None:
                description = f"OK: accepted as transaction {taken.transaction_id}"
        return CreatedTender(party_id=self.party_id, counterparty_id=request.party_id,
                             tender_id=tender.tender_id, in_response_to=request.request_id,
                             response=Response(200, description))

    def _take_if_attractive(self, tender: Tender) -> Transaction | None:
        now = self.clock.now()
        if tender.is_expired(now) or tender.interval.start <= now:
            return None
        if tender.counterparty not in (None, self.party_id):
            return None
        if tender.side is Side.SELL:
            attractive = tender.price <= self.buy_price(tender.interval)
        else:
            attractive = tender.price >= self.sell_price(tender.interval)
        if not attractive:
            return None
        # the building's sell is our purchase: its position rises by the quantity
        signed = tender.quantity if tender.side is Side.SELL else -tender.quantity
        if not self._within_limits(tender.party, tender.interval, signed):
            return None
        transaction = Transaction(
            transaction_id=f"rep-tx-{next(self._ids)}", tender_id=tender.tender_id,
            party=tender.party, counterparty=self.party_id, side=tender.side,
            interval=tender.interval, price=tender.price, quantity=tender.quantity,
            market_id=self.market_id, executed_at=now,
        )
        self._record(transaction)
        return transaction

    def cancel_tender(self, request: CancelTender) -> CanceledTender:
        self._check_market(request.market_id)
        tender = self.received_tenders.get(request.tender_id)
        if tender is None:
            raise CtsRefusal(404, "tenderId", f"no tender {request.tender_id!r} from "
                                              f"{request.party_id!r} stands here")
        if tender.party != request.party_id:
            raise CtsRefusal(409, "tenderId", f"tender {request.tender_id!r} belongs to "
                                              f"{tender.party!r}, not {request.party_id!r}")
        del self.received_tenders[request.tender_id]
        return CanceledTender(party_id=self.party_id, counterparty_id=request.party_id,
                              tender_id=request.tender_id, in_response_to=request.request_id)

    def create_transaction(self, request: CreateTransaction) -> CreatedTransaction:
        """The building accepts (part of) one of our standing tenders."""
        self._check_market(request.market_id)
        offered = request.transaction
        path = "transaction.tender"
        self.refresh()
        if offered.tender_id not in self.book:
            raise CtsRefusal(404, f"{path}.tenderId",
                             f"no standing tender {offered.tender_id!r}; it expired, was "
                             "filled or never existed (GET tenders for the current ones)")
        if any(t.transaction_id == offered.transaction_id for t in self.transactions):
            raise CtsRefusal(409, "transaction.transactionId",
                             f"transaction id {offered.transaction_id!r} is already used")
        standing = self.book.get(offered.tender_id)
        if offered.counterparty != request.party_id:
            raise CtsRefusal(400, "transaction.counterPartyId",
                             f"the accepting party is {request.party_id!r}, not "
                             f"{offered.counterparty!r}")
        for field, mine, theirs in (
            ("partyId", standing.party, offered.party),
            ("side", standing.side, offered.side),
            ("tenderDetail.interval", standing.interval, offered.interval),
            ("tenderDetail.price", standing.price, offered.price),
        ):
            if mine != theirs:
                raise CtsRefusal(409, f"{path}.{field}",
                                 f"does not match standing tender {standing.tender_id} "
                                 f"({mine} here, {theirs} offered)")
        signed = offered.quantity if standing.side is Side.BUY else -offered.quantity
        if not self._within_limits(request.party_id, standing.interval, signed):
            raise CtsRefusal(409, f"{path}.tenderDetail.quantity",
                             f"{offered.quantity} kW would take {request.party_id!r} beyond "
                             f"the limits (import {self.import_limit_kw} kW, export "
                             f"{self.export_limit_kw} kW) in {standing.interval}")
        try:
            transaction = self.book.accept(
                standing.tender_id, quantity=offered.quantity, counterparty=request.party_id,
                transaction_id=offered.transaction_id, at=self.clock.now(),
            )
        except TemixError as err:
            raise CtsRefusal(409, f"{path}.tenderDetail.quantity", str(err)) from err
        self._record(transaction)
        return CreatedTransaction(party_id=self.party_id, counterparty_id=request.party_id,
                                  transaction_id=transaction.transaction_id,
                                  in_response_to=request.request_id)

    def _within_limits(self, party: str, interval: Interval, signed_kw: Decimal) -> bool:
        """Would ``party``'s position (+ = selling to us) stay within the PCC limits?"""
        step = min(self._granularity, interval.duration)
        for piece in interval.split(step):
            after = self.positions.position(party, piece) + signed_kw
            if after > self.export_limit_kw or -after > self.import_limit_kw:
                return False
        return True

    def _record(self, transaction: Transaction) -> None:
        self.transactions.append(transaction)
        self.positions.add(transaction)

    def request_position(self, request: RequestPosition) -> ReplyPosition:
        self._check_market(request.market_id)
        try:
            return reply_position(self.positions, request, party_id=self.party_id)
        except TemixError as err:
            raise CtsRefusal(400, "intervalDuration", str(err)) from err

    def create_quote(self, request: CreateQuote) -> CreatedQuote:
        self._check_market(request.market_id)
        self.quotes.append(request)
        return CreatedQuote(party_id=self.party_id, counterparty_id=request.party_id,
                            quote_id=request.quote.quote_id, in_response_to=request.request_id,
                            response=Response(200, "OK: quote noted (quotes are not actionable)"))

    def create_delivery(self, request: CreateDelivery) -> CreatedDelivery:
        """Settle metered energy against the position at the real-time price."""
        self._check_market(request.market_id)
        delivery: Delivery = request.delivery
        if delivery.party != request.party_id:
            raise CtsRefusal(400, "delivery.partyId",
                             f"delivery of {delivery.party!r} reported by {request.party_id!r}")
        if any(s.delivery_id == delivery.delivery_id for s in self.settlements):
            raise CtsRefusal(409, "delivery.deliveryId",
                             f"delivery {delivery.delivery_id!r} is already settled")
        if delivery.interval.end > self.clock.now():
            raise CtsRefusal(409, "delivery.interval",
                             f"interval {delivery.interval} has not ended yet")
        position_kw = self.positions.position(delivery.party, delivery.interval)
        contracted = position_kw * Decimal(delivery.interval.hours.numerator) / Decimal(
            delivery.interval.hours.denominator)
        imbalance = delivery.energy_kwh - contracted
        price = self.real_time_price(delivery.interval)
        amount = (imbalance * price).quantize(Decimal("0.01"))
        self.settlements.append(Settlement(
            delivery.delivery_id, delivery.party, delivery.interval, delivery.energy_kwh,
            contracted, imbalance, price, amount,
        ))
        description = (f"OK: imbalance {imbalance.normalize():f} kWh at {price} "
                       f"USD/kWh settles {amount} USD")
        return CreatedDelivery(party_id=self.party_id, counterparty_id=request.party_id,
                               delivery_id=delivery.delivery_id,
                               in_response_to=request.request_id,
                               response=Response(200, description))

    def distribute_tender(self, request: DistributeTender) -> list[CreatedTender]:
        """Tenders sent to a group that includes us: each handled as a createTender."""
        if self.party_id not in request.target_group:
            raise CtsRefusal(409, "targetGroup",
                             f"{self.party_id!r} is not in the target group")
        return [
            self.create_tender(CreateTender(
                party_id=request.party_id, counterparty_id=self.party_id,
                request_id=f"{request.request_id}/{index}", market_id=request.market_id,
                tender=tender,
            ))
            for index, tender in enumerate(request.tenders)
        ]

    def market_context(self) -> MarketContext:
        return MarketContext(
            market_id=self.market_id,
            currency="USD",
            interval_durations=tuple(tier.duration for tier in self.horizon),
            zone=self.zone,
        )

    def _check_market(self, market_id: str) -> None:
        if market_id != self.market_id:
            raise CtsRefusal(400, "marketId",
                             f"unknown market {market_id!r}; this provider's market is "
                             f"{self.market_id!r} (GET marketContext)")

    # --- HTTP ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        posts: dict[str, tuple[type, Callable[[Any], Any]]] = {
            "createTender": (CreateTender, self.create_tender),
            "cancelTender": (CancelTender, self.cancel_tender),
            "createTransaction": (CreateTransaction, self.create_transaction),
            "requestPosition": (RequestPosition, self.request_position),
            "createQuote": (CreateQuote, self.create_quote),
            "createDelivery": (CreateDelivery, self.create_delivery),
            "distributeTender": (DistributeTender, self.distribute_tender),
        }
        for name, (payload_class, service) in posts.items():
            app.router.add_post(f"{self.prefix}/{name}", _post_handler(payload_class, service))
        app.router.add_get(f"{self.prefix}/tenders", self._get_tenders)
        app.router.add_get(f"{self.prefix}/marketContext", self._get_market_context)
        return app

    async def _get_tenders(self, request: web.Request) -> web.Response:
        interval = None
        query = request.query
        if "dtStart" in query or "duration" in query:
            try:
                start = datetime.fromisoformat(query.get("dtStart", ""))
                if start.tzinfo is None:
                    raise ValueError("time without an offset")
                interval = Interval(start, parse_duration(query.get("duration", "")))
            except (ValueError, TemixError) as err:
                return _error(400, "dtStart/duration",
                              f"give dtStart (ISO 8601 with offset) and duration (e.g. PT1H): "
                              f"{err}")
        tenders = [replace(t, quantity=self.book.remaining(t.tender_id))
                   for t in self.standing_tenders(interval)]  # what is left to take
        return web.json_response({
            "marketId": self.market_id,
            "partyId": self.party_id,
            "asOf": self.clock.now().isoformat(),
            "tenders": [encode_tender(t) for t in tenders],
        })

    async def _get_market_context(self, request: web.Request) -> web.Response:
        return web.json_response(encode_market_context(self.market_context()))

    async def start(self) -> str:
        """Listen on host:port (0 = any free port); return the base URL."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    async def __aenter__(self) -> SimulatedCounterparty:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _post_handler(
    payload_class: type, service: Callable[[Any], Any]
) -> Callable[[web.Request], Any]:
    expected = payload_class.__name__

    async def handle(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return _error(400, "body", f"not JSON: {err}")
        if not isinstance(body, dict):
            return _error(400, "body", "expected a JSON object (a CTS payload)")
        try:
            payload: Payload = decode(body)
        except CtsDecodeError as err:
            return _error(400, err.path, err.problem)
        except TemixError as err:
            return _error(400, "payload", str(err))
        if not isinstance(payload, payload_class):
            return _error(400, "payloadType",
                          f"this endpoint takes Ei{expected}, got {body.get('payloadType')!r}")
        try:
            answer = service(payload)
        except CtsRefusal as refusal:
            return _error(refusal.status, refusal.field, refusal.reason)
        except TemixError as err:
            return _error(409, "payload", str(err))
        if isinstance(answer, list):
            return web.json_response({"createdTenders": [encode(item) for item in answer]})
        return web.json_response(encode(answer))

    return handle


def _error(status: int, field: str, reason: str) -> web.Response:
    return web.json_response(
        {
            "payloadType": "EiResponse",
            "response": {"responseCode": status, "responseDescription": f"{field}: {reason}"},
            "field": field,
            "reason": reason,
        },
        status=status,
    )


def _ceil(moment: datetime, step: timedelta) -> datetime:
    """The first instant at or after ``moment`` on a ``step`` grid from the Unix epoch."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = -((epoch - moment) // step)
    return (epoch + steps * step).astimezone(UTC)


def _tender_id(side: Side, interval: Interval) -> str:
    return f"rep-{side.value.lower()}-{format_duration(interval.duration)}-{interval.start_us}"
