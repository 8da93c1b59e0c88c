"""What the building has contracted outside, whoever it contracted with: the TeMIX
counterparty (:class:`gateway.runtime.trader.Trader`) or the utility's tariff
(:class:`gateway.runtime.tariff.TariffSide`).

Both square the micromarket's net import per interval the same way: intervals starting
within :data:`NEAR` exactly (to the market's resolution, one micro-kW), so what is contracted
outside equals the net position inside when delivery starts; farther ones in coarser steps
(:data:`MIN_TRADE_FAR_KW`) as they come closer, so a forecast's small moves do not each
become a contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from market.settlement import MeterTariff
from market.temix import Interval, PositionBook, Transaction
from market.transaction_log import TransactionLog

MIN_TRADE_KW = Decimal("0.000001")
MIN_TRADE_FAR_KW = Decimal("5")
NEAR = timedelta(hours=1)


def worth_a_trade(delta_kw: Decimal, interval: Interval, now: datetime) -> bool:
    """Whether a difference between target and contracted import is big enough to trade."""
    near = interval.start - now <= NEAR
    return abs(delta_kw) >= (MIN_TRADE_KW if near else MIN_TRADE_FAR_KW)


class OutsideContracts:
    """The building's positions with one outside counterparty, and the transactions kept
    for settlement until :meth:`forget_before`."""

    def __init__(self, party: str, counterparty: str) -> None:
        self.party = party
        self.counterparty = counterparty
        self.book = PositionBook()
        self.transactions = TransactionLog()

    def is_contract(self, transaction: Transaction) -> bool:
        """True for a transaction between the building and this counterparty."""
        return {transaction.party, transaction.counterparty} == {self.party, self.counterparty}

    def book_contract(self, transaction: Transaction) -> None:
        self.book.add(transaction)
        self.transactions.add(transaction)

    def restore_contracts(self, transactions: Iterable[Transaction]) -> None:
        """Book this counterparty's transactions read back from the ledger after a restart."""
        for transaction in transactions:
            if self.is_contract(transaction):
                self.book_contract(transaction)

    def contracted_import_kw(self, interval: Interval) -> Decimal:
        return -self.book.position(self.party, interval)

    def meter_tariff(self, interval: Interval) -> MeterTariff | None:
        """How the counterparty bills its meter, if it does (a utility's tariff); None:
        deviations settle at its real-time price."""
        return None

    def transactions_covering(self, interval: Interval) -> list[Transaction]:
        return self.transactions.covering(interval)

    def forget_before(self, instant: datetime) -> int:
        """Drop contracted transactions whose interval ended by ``instant`` (settled long
        ago; positions keep their sums). Without it the list grew by every contract for as
        long as the gateway ran, and every settlement scanned all of it."""
        return self.transactions.forget_before(instant)
