"""TeMIX objects: sides, states, tenders and transactions, and accepting a tender.

All objects are frozen dataclasses validated on construction; prices are Decimal per
energy unit of the market context (e.g. per kWh), quantities are Decimal rates (kW)
held constant over the interval. Sides are always from the originating party's view.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from market.errors import (
    AllOrNoneError,
    CounterpartyError,
    IntervalError,
    QuantityError,
    TemixError,
    TenderExpiredError,
)
from market.interval import Interval
from market.quantities import check_price, check_quantity, energy_kwh, extended_price

__all__ = [
    "Side",
    "Tender",
    "Transaction",
    "TransactiveState",
    "accept",
]


class Side(enum.StrEnum):
    """Buy or sell, from the originating party's view."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        """The counterparty's side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class TransactiveState(enum.StrEnum):
    """Lifecycle state of a TeMIX payload (kept internally; CTS 1.0 drops it from the wire)."""

    INDICATION_OF_INTEREST = "INDICATION_OF_INTEREST"
    TENDER = "TENDER"
    TRANSACTION = "TRANSACTION"
    EXERCISE = "EXERCISE"
    DELIVERY = "DELIVERY"
    PUBLICATION = "PUBLICATION"


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def check_id(value: str, what: str) -> None:
    """Reject an empty or non-text identifier."""
    if not isinstance(value, str) or not value:
        raise TemixError(f"{what} must be a non-empty string, got {value!r}")


def check_aware(value: datetime | None, what: str) -> None:
    """Reject a naive datetime (a time without a zone is not UTC)."""
    if value is None:
        return
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise IntervalError(f"{what} must be a timezone-aware datetime, got {value!r}")


def check_side(obj: object, value: Side | str) -> None:
    """Coerce a side given as text to :class:`Side`, rejecting anything else."""
    try:
        side = Side(value)
    except ValueError as err:
        raise TemixError(f"side must be BUY or SELL, got {value!r}") from err
    _set(obj, "side", side)


def check_interval(value: Interval) -> None:
    """Reject anything that is not an :class:`Interval`."""
    if not isinstance(value, Interval):
        raise IntervalError(f"interval must be an Interval, got {value!r}")


@dataclass(frozen=True, slots=True)
class Tender:
    """An actionable offer to buy or sell ``quantity`` kW over ``interval`` at ``price``."""

    tender_id: str
    party: str
    side: Side
    interval: Interval
    price: Decimal
    quantity: Decimal
    expires: datetime | None = None
    all_or_none: bool = False
    market_id: str = ""
    counterparty: str | None = None
    resource: str = "POWER"

    def __post_init__(self) -> None:
        check_id(self.tender_id, "tender_id")
        check_id(self.party, "tender party")
        check_side(self, self.side)
        check_interval(self.interval)
        _set(self, "price", check_price(self.price, f"price of tender {self.tender_id}"))
        what = f"tender {self.tender_id}"
        _set(self, "quantity", check_quantity(self.quantity, f"quantity of {what}"))
        check_aware(self.expires, f"expiry of tender {self.tender_id}")
        if self.counterparty is not None:
            check_id(self.counterparty, "tender counterparty")
            if self.counterparty == self.party:
                raise CounterpartyError(f"tender {self.tender_id} is addressed to its own party")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.TENDER

    @property
    def energy_kwh(self) -> Decimal:
        """Energy of the whole tender (rate × hours)."""
        return energy_kwh(self.quantity, self.interval)

    @property
    def extended_price(self) -> Decimal:
        """Money of the whole tender (price × rate × hours)."""
        return extended_price(self.price, self.quantity, self.interval)

    def is_expired(self, at: datetime) -> bool:
        """True when ``at`` is after the expiration time (acceptance at it is still valid)."""
        return self.expires is not None and at > self.expires


@dataclass(frozen=True, slots=True)
class Transaction:
    """An accepted tender (whole or in part): both parties are bound to deliver/pay."""

    transaction_id: str
    tender_id: str
    party: str
    counterparty: str
    side: Side
    interval: Interval
    price: Decimal
    quantity: Decimal
    market_id: str = ""
    executed_at: datetime | None = None
    resource: str = "POWER"

    def __post_init__(self) -> None:
        check_id(self.transaction_id, "transaction_id")
        check_id(self.tender_id, "transaction tender_id")
        check_id(self.party, "transaction party")
        check_id(self.counterparty, "transaction counterparty")
        if self.party == self.counterparty:
            raise CounterpartyError(
                f"transaction {self.transaction_id}: party and counterparty are both {self.party!r}"
            )
        check_side(self, self.side)
        check_interval(self.interval)
        what = f"transaction {self.transaction_id}"
        _set(self, "price", check_price(self.price, f"price of {what}"))
        _set(self, "quantity", check_quantity(self.quantity, f"quantity of {what}"))
        check_aware(self.executed_at, f"execution time of {what}")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.TRANSACTION

    @property
    def energy_kwh(self) -> Decimal:
        """Energy bought or sold (rate × hours)."""
        return energy_kwh(self.quantity, self.interval)

    @property
    def extended_price(self) -> Decimal:
        """Money that changes hands (price × rate × hours)."""
        return extended_price(self.price, self.quantity, self.interval)

    def side_of(self, party: str) -> Side:
        """The side ``party`` holds in this transaction."""
        if party == self.party:
            return self.side
        if party == self.counterparty:
            return self.side.opposite
        raise CounterpartyError(f"{party!r} is not a party to transaction {self.transaction_id}")


def accept(
    tender: Tender,
    *,
    quantity: Decimal,
    counterparty: str,
    transaction_id: str,
    at: datetime,
    already_accepted: Decimal = Decimal(0),
) -> Transaction:
    """Accept ``quantity`` kW of ``tender`` at time ``at``, making a :class:`Transaction`.

    ``already_accepted`` is the rate other acceptances took before this one (a
    :class:`TenderBook` tracks it for you). Rejects acceptance after expiry, beyond the
    remaining quantity, in part for an all-or-none tender, by the tender's own party, or by
    anyone but the named counterparty of a directed tender.
    """
    check_aware(at, "acceptance time")
    quantity = check_quantity(quantity, f"accepted quantity of tender {tender.tender_id}")
    if tender.is_expired(at):
        raise TenderExpiredError(
            f"tender {tender.tender_id} expired at {tender.expires}; "
            f"acceptance at {at.isoformat()} is too late"
        )
    if counterparty == tender.party:
        raise CounterpartyError(
            f"party {counterparty!r} cannot accept its own tender {tender.tender_id}"
        )
    if tender.counterparty is not None and counterparty != tender.counterparty:
        raise CounterpartyError(
            f"tender {tender.tender_id} is addressed to {tender.counterparty!r}, "
            f"not {counterparty!r}"
        )
    remaining = tender.quantity - already_accepted
    if tender.all_or_none and (already_accepted or quantity != tender.quantity):
        raise AllOrNoneError(
            f"tender {tender.tender_id} is all-or-none: accept exactly {tender.quantity} kW once, "
            f"not {quantity} kW"
        )
    if quantity > remaining:
        raise QuantityError(
            f"tender {tender.tender_id} has {remaining} kW left; cannot accept {quantity} kW"
        )
    return Transaction(
        transaction_id=transaction_id,
        tender_id=tender.tender_id,
        party=tender.party,
        counterparty=counterparty,
        side=tender.side,
        interval=tender.interval,
        price=tender.price,
        quantity=quantity,
        market_id=tender.market_id,
        executed_at=at,
        resource=tender.resource,
    )
