"""The utility's tariff as the building's outside market, for sites without a TeMIX
counterparty (the site file's ``tariff`` section instead of ``external_market``).

Every interval the utility stands ready to sell at the import price and to buy at the
export price, up to the PCC limits: the micromarket clears against these exactly as it
does against a counterparty's tenders, so loads are served from the grid, the battery
arbitrages the time-of-use windows, and surplus PV is exported.

Nobody is asked: the utility's meter, not an order, makes the contract. After each round
the net import of every interval is squared by contracts with the utility at the tariff,
recorded in the same ledger commit as the round. A contract follows the bill: import
moved within import is priced at the import price, export within export at the export
price, and a change that crosses zero is split at zero. Deviations at delivery settle the
same way (:class:`market.settlement.MeterTariff`), so the utility's statement of an
interval is the bill of its meter reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config.site import MarketSection, SiteInfo, TariffSection
from gateway.ledger.entries import NewEntry
from gateway.runtime.outside import OutsideContracts, worth_a_trade
from market.clearing import ExternalTenders
from market.cts import CreateTransaction
from market.settlement import MeterTariff
from market.temix import Interval, Side, Transaction

_MINUTES_PER_DAY = 1440
_STEP = Decimal("0.000001")


class TariffSchedule:
    """Import and export price per kWh by local time of day (an interval is priced by the
    minute it starts in)."""

    def __init__(self, section: TariffSection, zone: ZoneInfo) -> None:
        self.zone = zone
        base = (section.import_per_kwh, section.export_per_kwh)
        self._by_minute = [base] * _MINUTES_PER_DAY
        for window in section.time_of_use:
            prices = (window.import_per_kwh if window.import_per_kwh is not None else base[0],
                      window.export_per_kwh if window.export_per_kwh is not None else base[1])
            covered = window.minutes()
            for minutes in covered if isinstance(covered, tuple) else (covered,):
                for minute in minutes:
                    self._by_minute[minute] = prices

    def prices(self, interval: Interval) -> tuple[Decimal, Decimal]:
        """(import, export) per kWh for ``interval``."""
        local = interval.start.astimezone(self.zone)
        return self._by_minute[local.hour * 60 + local.minute]


class TariffSide(OutsideContracts):
    """The operator's outside side for a tariff site (see the module docstring)."""

    def __init__(self, section: TariffSection, party: str, market: MarketSection,
                 site: SiteInfo) -> None:
        super().__init__(party, section.utility_id)
        self.schedule = TariffSchedule(section, ZoneInfo(site.timezone))
        self.market_id = market.market_id
        self.import_limit_kw = site.pcc_import_limit_kw
        self.export_limit_kw = site.pcc_export_limit_kw

    async def refresh(self, now: datetime, intervals: Sequence[Interval]) -> None:
        """Nothing to fetch: the tariff is in the site file."""

    def external_tenders(self, interval: Interval) -> ExternalTenders:
        imported, exported = self.schedule.prices(interval)
        return ExternalTenders(
            import_price=imported,
            # net metering (export = import) would cross the two tenders in the auction
            export_price=min(exported, imported - _STEP),
            import_limit_kw=self.import_limit_kw,
            export_limit_kw=self.export_limit_kw,
        )

    def expected_prices(self, intervals: Sequence[Interval]) -> dict[Interval, Decimal]:
        return {interval: self.schedule.prices(interval)[0] for interval in intervals}

    def price_forecast(self, intervals: Sequence[Interval]) -> dict[Interval, Decimal]:
        return self.expected_prices(intervals)

    def realtime_price(self, interval: Interval) -> Decimal:
        return self.schedule.prices(interval)[0]

    def meter_tariff(self, interval: Interval) -> MeterTariff:
        """Deviations from the contracts settle as the bill prices the meter."""
        return MeterTariff(self.counterparty, *self.schedule.prices(interval))

    def orders_for(
        self, now: datetime, targets: Mapping[Interval, Decimal]
    ) -> list[CreateTransaction]:
        """Contracts that bring each interval's contracted import to its target (within the
        PCC limits), priced as the bill would price the change."""
        contracts = []
        for interval, wanted in targets.items():
            target = max(-self.export_limit_kw, min(self.import_limit_kw, wanted))
            held = self.contracted_import_kw(interval)
            if not worth_a_trade(target - held, interval, now):
                continue
            for region, change, price in self.meter_tariff(interval).changes(held, target):
                contracts.append(self._contract(interval, region, change, price, now))
        return contracts

    def _contract(self, interval: Interval, region: str, change_kw: Decimal, price: Decimal,
                  now: datetime) -> CreateTransaction:
        # One contract per interval, region and round: the id says which.
        key = f"{self.counterparty}-{interval.start.isoformat()}-{region}-{now.isoformat()}"
        transaction = Transaction(
            transaction_id=key, tender_id=f"tariff-{region}", party=self.counterparty,
            counterparty=self.party, side=Side.SELL if change_kw > 0 else Side.BUY,
            interval=interval, price=price, quantity=abs(change_kw),
            market_id=self.market_id, executed_at=now,
        )
        return CreateTransaction(party_id=self.party, counterparty_id=self.counterparty,
                                 request_id=key, market_id=self.market_id,
                                 transaction=transaction)

    def order_entry(self, order: CreateTransaction) -> NewEntry:
        """The contract itself: committed with the round, so nothing is left to answer."""
        return NewEntry.for_transaction(order.transaction, party=self.party)

    async def send(self, orders: Sequence[CreateTransaction]) -> list[Any]:
        """Book the contracts (already in the ledger); the utility refuses nothing."""
        for order in orders:
            self.book_contract(order.transaction)
        return []

    async def deliver(self, interval: Interval, energy_kwh: Decimal, now: datetime) -> None:
        """Nothing to report: the utility reads its own meter."""
