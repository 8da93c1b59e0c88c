"""The building's one party in the external market: a CTS 1.0 JSON client.

Each round the trader fetches the counterparty's standing tenders (``GET tenders``) and
offers them to the micromarket as import supply and export demand. After clearing it
squares the building's net position per interval: the difference between what the
micromarket needs to import (or export) and what is already contracted outside is bought
from the counterparty's sell tender (or sold to its buy tender) with ``createTransaction``
— never beyond the PCC limits, and only when the difference is worth a trade.

Every order is recorded in the ledger (an ``order`` entry) *before* it is sent, and its
outcome after: a ``transaction`` entry when taken, an ``EXT-TRADE-REFUSED`` alarm naming
it when refused. An order without an answer stays *pending* and is sent again with the
same transaction id when the counterparty is back — also after a crash, since a restart
reads the unresolved orders back from the ledger; "transaction id already used" then
proves it was taken, so nothing is lost or traded twice. While the counterparty is
unreachable the last known tenders are used for ``stale_prices_max``; after that the
building trades as if islanded economically (no external supply beyond contracted
positions).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp

from drivers.clock import Clock
from gateway.config.site import ExternalMarketSection, MarketSection, SiteInfo
from gateway.ledger.entries import Entry, EntryKind, NewEntry
from gateway.runtime.outside import NEAR, OutsideContracts, worth_a_trade
from market.clearing import ExternalTenders
from market.cts import (
    CreateDelivery,
    CreateTransaction,
    decode,
    decode_tender,
    encode,
)
from market.temix import Delivery, Interval, Side, Tender, Transaction

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 8
RETRIES = 2


class CounterpartyUnavailable(Exception):
    """The counterparty did not answer (connection refused, timeout, 5xx)."""


@dataclass(frozen=True)
class Refused:
    """The counterparty answered a request with a CTS error (4xx)."""

    what: str
    status: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"counterparty refused {self.what}: HTTP {self.status} {self.field}: {self.reason}"


def recorded_orders(entries: Iterable[Entry]) -> tuple[list[CreateTransaction], set[str]]:
    """The orders a ledger holds (``order`` entries) and the ids of those it recorded as
    refused (``EXT-TRADE-REFUSED`` alarms): what :meth:`Trader.restore` needs besides the
    transactions."""
    orders: list[CreateTransaction] = []
    refused: set[str] = set()
    for entry in entries:
        if entry.kind == EntryKind.ORDER:
            order = decode(entry.payload)
            if isinstance(order, CreateTransaction):
                orders.append(order)
        elif entry.kind == EntryKind.ALARM and entry.payload.get("code") == "EXT-TRADE-REFUSED":
            refused.add(str(entry.payload.get("transaction_id", "")))
    return orders, refused


class Trader(OutsideContracts):
    """Async context manager: ``async with Trader(...) as trader``."""

    def __init__(self, section: ExternalMarketSection, market: MarketSection, clock: Clock,
                 site: SiteInfo, writer: Any) -> None:
        super().__init__(section.party_id, section.counterparty_id)
        self.section = section
        self.market_id = market.market_id
        self.base_url = section.counterparty_url.rstrip("/")
        self.clock = clock
        self.writer = writer
        self.import_limit_kw = site.pcc_import_limit_kw
        self.export_limit_kw = site.pcc_export_limit_kw
        self.pending: dict[str, CreateTransaction] = {}
        self.unsquared: set[Interval] = set()
        """Near intervals the trader has not squared in full at its last try: no standing
        tender left (expired or filled), too little of one, an order refused or expired
        unanswered. Unless a later round squares them, they settle in part as imbalance."""
        self.standing: dict[Interval, dict[Side, Tender]] = {}
        self.external_market_id: str | None = None
        self.last_contact: datetime | None = None
        self.unreachable_since: datetime | None = None
        self._ids = itertools.count(1)
        self.orders_sent = 0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Trader:
        timeout = aiohttp.ClientTimeout(total=self.section.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def restore(self, transactions: Sequence[Transaction],
                orders: Sequence[CreateTransaction] = (),
                refused: Collection[str] = ()) -> None:
        """Contracted positions from the ledger after a restart, and the orders sent
        before it whose answer never came (neither a transaction nor a refusal id in
        ``refused``): pending, sent again at the next refresh."""
        self.restore_contracts(transactions)
        answered = {tx.transaction_id for tx in self.transactions} | set(refused)
        for order in orders:
            tx_id = order.transaction.transaction_id
            if order.party_id == self.party and tx_id not in answered:
                self.pending[tx_id] = order
        if self.pending:
            log.info("%d external orders sent before the restart await an answer; they are "
                     "sent again with their ids", len(self.pending))

    # -- HTTP ---------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self._session is not None, "use the trader as an async context manager"
        url = f"{self.base_url}/{path}"
        last: Exception | None = None
        for attempt in range(RETRIES + 1):
            try:
                async with self._session.request(method, url, json=body) as response:
                    payload = await response.json(content_type=None)
                    if response.status >= 500:
                        raise CounterpartyUnavailable(f"HTTP {response.status} from {url}")
                    self._contact()
                    return response.status, payload
            except (aiohttp.ClientError, TimeoutError, CounterpartyUnavailable) as err:
                last = err
                if attempt < RETRIES:
                    await asyncio.sleep(0.05 * (attempt + 1))
        self._lost(last)
        raise CounterpartyUnavailable(f"{method} {url}: {last}") from last

    def _contact(self) -> None:
        now = self.clock.now()
        if self.unreachable_since is not None:
            log.warning("external counterparty %s reachable again (down since %s)",
                        self.counterparty, self.unreachable_since.isoformat())
        self.unreachable_since = None
        self.last_contact = now

    def _lost(self, err: Exception | None) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = self.clock.now()
            log.error("external counterparty %s unreachable at %s: %s; trading on the "
                      "internal market with the last known prices", self.counterparty,
                      self.base_url, err)

    @property
    def reachable(self) -> bool:
        return self.unreachable_since is None

    # -- what the operator asks ---------------------------------------------------------

    async def refresh(self, now: datetime, intervals: Sequence[Interval]) -> None:
        """Fetch the standing tenders; send again what is pending from an outage."""
        try:
            status, body = await self._request("GET", "tenders")
        except CounterpartyUnavailable:
            return
        if status != 200 or not isinstance(body, dict):
            log.error("GET tenders answered HTTP %s: %s", status, body)
            return
        standing: dict[Interval, dict[Side, Tender]] = {}
        for item in body.get("tenders", []):
            tender = decode_tender(item)
            if isinstance(tender, Tender):
                standing.setdefault(tender.interval, {})[tender.side] = tender
        self.standing = standing
        self.external_market_id = body.get("marketId", self.external_market_id)
        if self.pending:
            await self._resend_pending()

    def _usable(self) -> bool:
        if self.unreachable_since is None:
            return True
        return self.clock.now() - self.unreachable_since <= self.section.stale_prices_max

    def _tender(self, interval: Interval, side: Side) -> Tender | None:
        if not self._usable():
            return None
        now = self.clock.now()
        tender = self.standing.get(interval, {}).get(side)
        if tender is None or (tender.expires is not None and tender.expires <= now):
            return None
        return tender

    def external_tenders(self, interval: Interval) -> ExternalTenders | None:
        sell = self._tender(interval, Side.SELL)
        buy = self._tender(interval, Side.BUY)
        if sell is None:
            return None
        export_price = buy.price if buy is not None else Decimal("-1000")
        return ExternalTenders(
            import_price=sell.price,
            export_price=min(export_price, sell.price - Decimal("0.000001")),
            import_limit_kw=min(sell.quantity, self.import_limit_kw),
            export_limit_kw=min(buy.quantity, self.export_limit_kw) if buy else Decimal(0),
        )

    def expected_prices(self, intervals: Sequence[Interval]) -> dict[Interval, Decimal]:
        out = {}
        for interval in intervals:
            sell = self._tender(interval, Side.SELL)
            if sell is not None:
                out[interval] = sell.price
        return out

    def price_forecast(self, intervals: Sequence[Interval]) -> dict[Interval, Decimal]:
        """Expected prices when the tenders cannot be used (islanded, or stale): the last
        known sell price of each interval, else the mean of all known prices."""
        known = {iv: sides[Side.SELL].price for iv, sides in self.standing.items()
                 if Side.SELL in sides}
        if not known:
            return {}
        mean = (sum(known.values(), Decimal(0)) / len(known)).quantize(Decimal("0.000001"))
        return {iv: next((p for k, p in known.items() if k.contains(iv)), mean)
                for iv in intervals}

    def realtime_price(self, interval: Interval) -> Decimal | None:
        for known, sides in self.standing.items():
            if known.contains(interval) and Side.SELL in sides:
                return sides[Side.SELL].price
        return None

    # -- squaring the building's position -------------------------------------------------

    async def square(self, now: datetime, targets: Mapping[Interval, Decimal]) -> list[Any]:
        """Trade the difference between each target net import and what is contracted:
        :meth:`orders_for`, their ``order`` entries committed, then :meth:`send`."""
        orders = self.orders_for(now, targets)
        if orders:
            await self.writer.commit([self.order_entry(o) for o in orders], now)
        return await self.send(orders)

    def orders_for(
        self, now: datetime, targets: Mapping[Interval, Decimal]
    ) -> list[CreateTransaction]:
        """The orders that square each target net import (within the PCC limits) against
        what is contracted or pending. Write their :meth:`order_entry` to the ledger
        before :meth:`send`: a crash after sending must not forget what was sent."""
        orders = []
        for interval, target in targets.items():
            target = max(-self.export_limit_kw, min(self.import_limit_kw, target))
            delta = target - self.contracted_import_kw(interval) - self._pending_import_kw(interval)
            side = Side.SELL if delta > 0 else Side.BUY  # the counterparty's side
            near = interval.start - now <= NEAR
            if not worth_a_trade(delta, interval, now):
                if near:
                    self.unsquared.discard(interval)  # squared since
                continue
            tender = self._tender(interval, side)
            if tender is None:
                if near:
                    self.unsquared.add(interval)
                    log.info("at %s cannot square %s kW of %s: no standing %s tender (%s)",
                             now.isoformat(), delta, interval, side.value.lower(),
                             {s.value: t.quantity for s, t in
                              self.standing.get(interval, {}).items()})
                continue
            quantity = min(abs(delta), tender.quantity)
            if near and quantity < abs(delta):
                self.unsquared.add(interval)
            elif near:
                self.unsquared.discard(interval)
            orders.append(self._order(tender, quantity, now))
        return orders

    def order_entry(self, order: CreateTransaction) -> NewEntry:
        """The ledger entry recording ``order`` before it is sent."""
        return NewEntry(EntryKind.ORDER, self.party, encode(order))

    async def send(self, orders: Sequence[CreateTransaction]) -> list[Any]:
        """Send recorded orders (queued as pending while the counterparty is unreachable);
        returns the refusals."""
        self.orders_sent += len(orders)
        if not orders or not self.reachable:
            self.pending.update({o.transaction.transaction_id: o for o in orders})
            return []
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def send_one(order: CreateTransaction) -> Any:
            async with gate:
                return await self._send(order)

        results = await asyncio.gather(*(send_one(o) for o in orders))
        return [r for r in results if r is not None]

    def _pending_import_kw(self, interval: Interval) -> Decimal:
        """What orders still pending would import: counted as if taken, so each round of
        an outage does not queue the same difference again (it would be traded twice)."""
        return sum((o.transaction.quantity if o.transaction.side is Side.SELL
                    else -o.transaction.quantity
                    for o in self.pending.values() if o.transaction.interval == interval),
                   Decimal(0))

    def _order(self, tender: Tender, quantity: Decimal, now: datetime) -> CreateTransaction:
        transaction = Transaction(
            transaction_id=f"{self.party}-x{now.strftime('%Y%m%dT%H%M%S')}-{next(self._ids)}",
            tender_id=tender.tender_id, party=tender.party, counterparty=self.party,
            side=tender.side, interval=tender.interval, price=tender.price,
            quantity=quantity.quantize(Decimal("0.000001")),
            market_id=tender.market_id, executed_at=now,
        )
        return CreateTransaction(party_id=self.party, counterparty_id=self.counterparty,
                                 request_id=transaction.transaction_id,
                                 market_id=tender.market_id, transaction=transaction)

    async def _send(self, order: CreateTransaction) -> Refused | None:
        tx = order.transaction
        try:
            status, body = await self._request("POST", "createTransaction", encode(order))
        except CounterpartyUnavailable:
            self.pending[tx.transaction_id] = order
            return None
        self.pending.pop(tx.transaction_id, None)
        taken = status == 200 or (status == 409 and isinstance(body, dict)
                                  and body.get("field") == "transaction.transactionId")
        if taken:
            await self._record(tx)
            return None
        self.unsquared.add(tx.interval)
        refusal = Refused(f"transaction {tx.transaction_id}", status,
                          str(body.get("field", "")) if isinstance(body, dict) else "",
                          str(body.get("reason", body)) if isinstance(body, dict) else str(body))
        alarm = {"code": "EXT-TRADE-REFUSED", "message": str(refusal),
                 "transaction_id": tx.transaction_id}
        await self.writer.commit([NewEntry(EntryKind.ALARM, self.party, alarm)],
                                 self.clock.now())
        return refusal

    async def _resend_pending(self) -> None:
        orders = list(self.pending.values())
        self.pending.clear()
        for order in orders:
            interval = order.transaction.interval
            if interval.start <= self.clock.now():
                log.warning("order %s for %s got no answer before the interval began; it "
                            "settles as imbalance", order.transaction.transaction_id, interval)
                self.unsquared.add(interval)
                continue
            await self._send(order)

    async def _record(self, tx: Transaction) -> None:
        self.book_contract(tx)
        sides = self.standing.get(tx.interval, {})
        tender = sides.get(tx.side)
        if tender is not None and tender.tender_id == tx.tender_id:
            left = tender.quantity - tx.quantity
            if left > 0:
                sides[tx.side] = replace(tender, quantity=left)
            else:
                del sides[tx.side]
        await self.writer.commit([NewEntry.for_transaction(tx, party=self.party)],
                                 self.clock.now())

    async def deliver(self, interval: Interval, energy_kwh: Decimal, now: datetime) -> None:
        """Report the PCC meter's energy for an ended interval (the counterparty settles)."""
        delivery = Delivery(f"{self.party}:{interval.start.isoformat()}", self.party, interval,
                            -energy_kwh, market_id=self.external_market_id or self.market_id,
                            metered_at=now)
        request = CreateDelivery(party_id=self.party, counterparty_id=self.counterparty,
                                 request_id=delivery.delivery_id,
                                 market_id=delivery.market_id, delivery=delivery)
        try:
            status, body = await self._request("POST", "createDelivery", encode(request))
        except CounterpartyUnavailable:
            return
        if status != 200:
            log.warning("delivery for %s refused: %s", interval, body)
