"""The market operator loop: clear the horizon, commit the round, set the devices, settle.

One round (:meth:`MarketOperator.run_round`), on every clearing cadence boundary:

1. every device service with an agent issues its forward tenders for the horizon (its
   TeMIX service interface binds the agent to the device's state and forecast);
2. the micromarket clears every interval, the external counterparty's standing tenders
   entering as import supply and export demand (within what the PCC limits leave);
3. the round — each agent's tenders and every transaction — is written to the ledger in
   one group commit; nothing acts on a round the ledger has not acknowledged;
4. the trader squares the building's net position outside;
5. each service sets its device for the current interval from its position.

At each settlement-interval end (:meth:`settle`), metered energy is compared with the
positions and the difference settled at the real-time price; deliveries and statements go
to the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any, Protocol

from gateway.ledger.entries import EntryKind, NewEntry
from gateway.ledger.entries import Settlement as LedgerSettlement
from gateway.runtime.metering import EnergyMeter
from gateway.runtime.services import DeviceService, MarketView
from market.agents import Participant, Positions
from market.clearing import ExternalTenders
from market.cts import CreateDelivery, CreateTransaction, encode, encode_interval, encode_tender
from market.horizon import Micromarket, RoundResult, horizon_intervals
from market.settlement import MeterTariff, Settlement, settle_interval
from market.temix import Delivery, Interval, Tender, Transaction

log = logging.getLogger(__name__)

RECENT_PRICES = 24


class ExternalSide(Protocol):
    """What the operator needs of the trader (the building's party outside)."""

    party: str
    counterparty: str

    def external_tenders(self, interval: Interval) -> ExternalTenders | None: ...

    def expected_prices(self, intervals: Sequence[Interval]) -> dict[Interval, Decimal]: ...

    def price_forecast(self, intervals: Sequence[Interval]) -> dict[Interval, Decimal]: ...

    def realtime_price(self, interval: Interval) -> Decimal | None: ...

    def meter_tariff(self, interval: Interval) -> MeterTariff | None: ...

    def transactions_covering(self, interval: Interval) -> list[Transaction]: ...

    def forget_before(self, instant: datetime) -> int: ...

    async def refresh(self, now: datetime, intervals: Sequence[Interval]) -> None: ...

    def orders_for(
        self, now: datetime, targets: Mapping[Interval, Decimal]
    ) -> list[CreateTransaction]: ...

    def order_entry(self, order: CreateTransaction) -> NewEntry: ...

    async def send(self, orders: Sequence[CreateTransaction]) -> list[Any]: ...

    async def deliver(self, interval: Interval, energy_kwh: Decimal, now: datetime) -> None: ...


class RoundWriter(Protocol):
    async def commit(self, entries: Iterable[NewEntry], at: datetime) -> list[int]: ...


@dataclass
class RoundReport:
    """What one round did, for the progress line, the status API and the day summary."""

    now: datetime
    interval: Interval
    price: Decimal
    net_import_kw: Decimal
    islanded: bool
    transactions: int
    shed: tuple[str, ...]
    problems: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)  # real seconds per phase
    finished_at: datetime | None = None  # clock time when committed and squared


@dataclass
class MarketOperator:
    market: Micromarket
    services: Mapping[str, DeviceService]
    writer: RoundWriter
    external: ExternalSide | None
    pcc_import_limit_kw: Decimal
    pcc_export_limit_kw: Decimal
    settlement_duration: timedelta
    market_id: str
    island_cover_ahead: timedelta
    """Islanded, a round buys back inside the grid imports of the intervals that start
    within this time; later ones keep them, delivered if the grid is back by then."""
    islanded: bool = False
    recent_prices: list[Decimal] = field(default_factory=list)
    meter: EnergyMeter = field(init=False)
    last_round: RoundResult | None = None
    prices: dict[Interval, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.meter = EnergyMeter(self.settlement_duration)

    @property
    def party(self) -> str:
        return self.market.operator

    def restore(self, transactions: Sequence[Transaction]) -> None:
        """Rebuild the book from the ledger after a restart (nothing traded twice).

        Only the micromarket's own transactions: the building's contracts outside share the
        operator's party id, and booked here they would cancel the net import they square
        (the trader would then sell back everything it had bought)."""
        outside = self.external.counterparty if self.external is not None else None
        for transaction in transactions:
            parties = (transaction.party, transaction.counterparty)
            if self.party in parties and outside not in parties:
                self.market.add_transaction(transaction)

    def _external(self, interval: Interval) -> ExternalTenders | None:
        if self.external is None:
            return None
        standing = self.external.external_tenders(interval)
        if standing is None:
            return None
        already = self.market.net_import_kw(interval)
        return ExternalTenders(
            import_price=standing.import_price,
            export_price=standing.export_price,
            import_limit_kw=max(Decimal(0), min(standing.import_limit_kw,
                                                self.pcc_import_limit_kw - already)),
            export_limit_kw=max(Decimal(0), min(standing.export_limit_kw,
                                                self.pcc_export_limit_kw + already)),
        )

    async def run_round(self, now: datetime) -> RoundReport:
        timings: dict[str, float] = {}
        mark = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal mark
            timings[name] = time.perf_counter() - mark
            mark = time.perf_counter()

        # The round's mode is fixed at its start: the islanding loop may switch it while the
        # round clears in a thread, and one round must not mix the two.
        islanded = self.islanded
        intervals = horizon_intervals(now, self.market.tiers, self.market.zone)
        if self.external is not None and not islanded:
            await self.external.refresh(now, intervals)
        lap("refresh")
        expected: dict[Interval, Decimal] = {}
        if self.external is not None:
            expected = self.external.expected_prices(intervals)
            if not expected:
                expected = self.external.price_forecast(intervals)
        view = MarketView(now, expected, tuple(self.recent_prices), islanded)
        bound = [s.participant(view, intervals) for s in self.services.values()]
        participants = [_Recorded(p) for p in bound if p is not None]
        lap("tenders")
        result = await asyncio.to_thread(
            self.market.clear_round, now, participants,
            external=None if islanded else self._external, islanded=islanded,
            cover_until=now + self.island_cover_ahead,
        )
        lap("clear")
        new = result.transactions
        trading = self.external is not None and not islanded
        orders: list[CreateTransaction] = []
        order_entries: list[NewEntry] = []
        if self.external is not None and trading:
            targets = {iv: self.market.net_import_kw(iv) for iv in result.intervals}
            orders = self.external.orders_for(now, targets)
            order_entries = [self.external.order_entry(o) for o in orders]
        # A generator: the ledger encodes each entry in turn and keeps only its JSON text,
        # so a big round's CTS dicts (tens of thousands of tenders) never all exist at once.
        # The squaring orders go in the same commit, before they are sent.
        entries = chain(
            (NewEntry(EntryKind.TENDER, p.party, {"round": now.isoformat(),
                                                  "tenders": [encode_tender(t) for t in p.issued]})
             for p in participants if p.issued),
            (NewEntry.for_transaction(tx, party=self.party) for tx in new),
            order_entries)
        await self.writer.commit(entries, now)
        lap("ledger")
        self.last_round = result
        current = result.results[0]
        for r in result.results:
            self.prices[r.interval] = r.price
        self.recent_prices = [*self.recent_prices, current.price][-RECENT_PRICES:]
        report = RoundReport(now, current.interval, current.price,
                             self.market.net_import_kw(current.interval), islanded,
                             len(new), tuple(s.party for s in current.shed))
        if self.external is not None and trading:
            report.problems += [str(p) for p in await self.external.send(orders)]
        lap("square")
        report.timings_s = timings
        return report

    async def apply(self, interval: Interval) -> list[str]:
        """Function (1): every device to the operating level of its position."""
        problems = []
        for service in self.services.values():
            if not service.trades or not service.healthy():
                continue  # a device that is not answering is not written to (it would stall)
            position = self.market.book.position(service.party, interval)
            problems += await service.apply(interval, position)
        return problems

    async def settle(self, interval: Interval, now: datetime) -> Settlement:
        """Delivery and settlement of a finished interval; written to the ledger."""
        parties = [s.party for s in self.services.values() if s.trades]
        external_party = self.external.counterparty if self.external else None
        metered = self.meter.take(interval, [*parties, *([external_party] if external_party
                                                         else [])])
        transactions = self.market.transactions_covering(interval)
        if self.external is not None:
            transactions += self.external.transactions_covering(interval)
        price = self._realtime_price(interval)
        tariff = self.external.meter_tariff(interval) if self.external is not None else None
        settlement = settle_interval(interval, transactions, metered, price,
                                     operator=self.party, tariff=tariff)
        entries = [
            NewEntry(EntryKind.DELIVERY, party,
                     _delivery_payload(party, interval, energy, now, self.market_id, self.party))
            for party, energy in metered.items() if party != external_party
        ]
        entries += [
            NewEntry.for_settlement(
                LedgerSettlement(party, interval, statement.total),
                _statement_payload(statement, settlement.realtime_price), party=self.party)
            for party, statement in settlement.statements.items()
        ]
        await self.writer.commit(entries, now)
        if self.external is not None and external_party is not None:
            # Islanded too: the PCC meter then reads nothing, so the counterparty settles
            # what was contracted for the outage as undelivered, by its own rules.
            await self.external.deliver(interval, metered[external_party], now)
        self._forget_before(interval.end)
        return settlement

    def _realtime_price(self, interval: Interval) -> Decimal:
        if self.external is not None and not self.islanded:
            price = self.external.realtime_price(interval)
            if price is not None:
                return price
        for known, price in self.prices.items():
            if known.contains(interval):
                return price
        return self.recent_prices[-1] if self.recent_prices else Decimal(0)

    def _forget_before(self, end: datetime) -> None:
        horizon = end - timedelta(days=1)
        self.market.forget_before(horizon)
        if self.external is not None:
            self.external.forget_before(horizon)
        self.prices = {iv: p for iv, p in self.prices.items() if iv.end > horizon}


@dataclass
class _Recorded:
    """A participant whose tenders of this round are kept for the ledger."""

    inner: Participant
    issued: list[Tender] = field(default_factory=list)

    @property
    def party(self) -> str:
        return self.inner.party

    @property
    def priority(self) -> int:
        return self.inner.priority

    def tenders(self, now: datetime, intervals: Sequence[Interval],
                positions: Positions) -> list[Tender]:
        self.issued = self.inner.tenders(now, intervals, positions)
        return self.issued


def _delivery_payload(
    party: str, interval: Interval, energy: Decimal, now: datetime, market_id: str, operator: str
) -> Any:
    delivery = Delivery(f"{party}:{interval.start.isoformat()}", party, interval, energy,
                        market_id=market_id, metered_at=now)
    return encode(CreateDelivery(party_id=party, counterparty_id=operator,
                                 request_id=delivery.delivery_id, market_id=market_id,
                                 delivery=delivery))


def _statement_payload(statement: Any, realtime_price: Decimal) -> dict[str, Any]:
    return {
        "party": statement.party,
        "interval": encode_interval(statement.interval),
        "positionKw": str(statement.position_kw),
        "scheduledKwh": str(statement.scheduled_kwh),
        "meteredKwh": str(statement.metered_kwh),
        "imbalanceKwh": str(statement.imbalance_kwh),
        "realtimePrice": str(realtime_price),
        "lines": [{"kind": line.kind, "reference": line.reference,
                   "energyKwh": str(line.energy_kwh), "price": str(line.price),
                   "amount": str(line.amount)} for line in statement.lines],
        "total": str(statement.total),
    }
