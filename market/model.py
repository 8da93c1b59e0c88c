"""TeMIX objects: sides, states, tenders and transactions, and accepting a tender.

All objects are frozen dataclasses validated on construction; prices are Decimal per
energy unit of the market context (e.g. per kWh), quantities are Decimal rates (kW)
held constant over the interval. Sides are always from the originating party's view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields, make_dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from market.errors import (
    AllOrNoneError,
    CounterpartyError,
    IntervalError,
    QuantityError,
    TemixError,
    TenderExpiredError,
    UnknownTenderError,
)
from market.interval import Interval, instant_us
from market.products import OptionProduct, PowerProduct, Product, TransportProduct
from market.quantities import (
    check_amount,
    check_price,
    check_quantity,
    energy_kwh,
    extended_price,
    to_decimal,
)
from market.sides import Side, TransactiveState

__all__ = [
    "Delivery",
    "Publication",
    "Quote",
    "Side",
    "StreamInterval",
    "StreamTender",
    "Tender",
    "TenderBook",
    "Transaction",
    "TransactiveState",
    "accept",
]


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def check_id(value: str, what: str) -> None:
    """Reject an empty or non-text identifier."""
    if not isinstance(value, str) or not value:
        raise TemixError(f"{what} must be a non-empty string, got {value!r}")


def check_aware(value: datetime | None, what: str) -> None:
    """Reject a naive datetime (a time without a zone is not UTC)."""
    if value is None or (type(value) is datetime and type(value.tzinfo) is timezone):
        return  # a fixed-offset zone always has an offset
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise IntervalError(f"{what} must be a timezone-aware datetime, got {value!r}")


def check_flag(value: bool, what: str) -> None:
    """Reject anything but True or False (a string "false" would read as true)."""
    if not isinstance(value, bool):
        raise TemixError(f"{what} must be True or False, got {value!r}")


def check_side(obj: object, value: Side | str) -> None:
    """Coerce a side given as text to :class:`Side`, rejecting anything else."""
    if type(value) is Side:
        return
    try:
        side = Side(value)
    except ValueError as err:
        raise TemixError(f"side must be BUY or SELL, got {value!r}") from err
    _set(obj, "side", side)


def check_product(obj: Tender | Transaction | Quote) -> None:
    """Check the product and take the resource designator from it when one is given."""
    product = obj.product
    if product is None:
        check_id(obj.resource, "resource designator")
        return
    if not isinstance(product, PowerProduct | TransportProduct | OptionProduct):
        raise TemixError(f"product must be a power, transport or option product, got {product!r}")
    _set(obj, "resource", product.resource)


def check_interval(value: Interval) -> None:
    """Reject anything that is not an :class:`Interval`."""
    if not isinstance(value, Interval):
        raise IntervalError(f"interval must be an Interval, got {value!r}")


def check_head(obj: Tender | Quote, kind: str, ident: str) -> None:
    """Product, id and party of a tender or quote (error texts name ``kind``)."""
    check_product(obj)
    if type(ident) is not str or not ident:
        check_id(ident, f"{kind}_id")
    if type(obj.party) is not str or not obj.party:
        check_id(obj.party, f"{kind} party")


def check_terms(
    obj: Tender | Transaction | Quote, kind: str, ident: str, *, price_optional: bool = False
) -> None:
    """Side, interval, price and rate of a tender, transaction or quote.

    Error texts name ``kind`` and ``ident`` ("price of tender t1") and are built only when
    a check fails: these objects are made by the hundred thousand in a market round.
    """
    if type(obj.side) is not Side:
        check_side(obj, obj.side)
    if type(obj.interval) is not Interval:
        check_interval(obj.interval)
    price = obj.price
    if not (type(price) is Decimal and price.is_finite()) and (
        price is not None or not price_optional
    ):
        _set(obj, "price", check_price(price, f"price of {kind} {ident}"))  # type: ignore[arg-type]
    quantity = obj.quantity
    if not (type(quantity) is Decimal and quantity.is_finite() and quantity > 0):
        _set(obj, "quantity", check_quantity(quantity, f"quantity of {kind} {ident}"))


class _Priced:
    """Energy and money of a tender or transaction: ``quantity`` kW over ``interval``."""

    __slots__ = ()
    interval: Interval
    price: Decimal
    quantity: Decimal

    @property
    def energy_kwh(self) -> Decimal:
        """Energy of the whole tender, or bought or sold in a transaction (rate × hours)."""
        return energy_kwh(self.quantity, self.interval)

    @property
    def extended_price(self) -> Decimal:
        """Money of the whole tender, or that changes hands (price × rate × hours)."""
        return extended_price(self.price, self.quantity, self.interval)


@dataclass(frozen=True, slots=True)
class Tender(_Priced):
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
    product: Product | None = None

    def __post_init__(self) -> None:
        check_head(self, "tender", self.tender_id)
        check_terms(self, "tender", self.tender_id)
        if self.expires is not None:
            check_aware(self.expires, f"expiry of tender {self.tender_id}")
        if type(self.all_or_none) is not bool:
            check_flag(self.all_or_none, f"all_or_none of tender {self.tender_id}")
        if self.counterparty is not None:
            check_id(self.counterparty, "tender counterparty")
            if self.counterparty == self.party:
                raise CounterpartyError(f"tender {self.tender_id} is addressed to its own party")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.TENDER

    def is_expired(self, at: datetime) -> bool:
        """True when ``at`` is after the expiration time (acceptance at it is still valid)."""
        return self.expires is not None and instant_us(at) > instant_us(self.expires)


@dataclass(frozen=True, slots=True)
class Transaction(_Priced):
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
    product: Product | None = None

    def __post_init__(self) -> None:
        check_product(self)
        check_id(self.transaction_id, "transaction_id")
        check_id(self.tender_id, "transaction tender_id")
        check_id(self.party, "transaction party")
        check_id(self.counterparty, "transaction counterparty")
        if self.party == self.counterparty:
            raise CounterpartyError(
                f"transaction {self.transaction_id}: party and counterparty are both {self.party!r}"
            )
        check_terms(self, "transaction", self.transaction_id)
        if self.executed_at is not None:
            check_aware(self.executed_at, f"execution time of transaction {self.transaction_id}")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.TRANSACTION

    def side_of(self, party: str) -> Side:
        """The side ``party`` holds in this transaction."""
        if party == self.party:
            return self.side
        if party == self.counterparty:
            return self.side.opposite
        raise CounterpartyError(f"{party!r} is not a party to transaction {self.transaction_id}")


def _unchecked_twin(cls: type) -> Any:
    """A mutable dataclass with exactly the slots of frozen ``cls`` and no checks.

    Why: a market round makes hundreds of thousands of tenders and transactions out of
    parts that are already valid (a checked curve, a checked tender, a clearing price). A
    frozen dataclass spends ~2.5 µs on each through ``object.__setattr__`` and
    ``__post_init__``; the twin stores its slots directly, then the object is given its
    real class — allowed because the two layouts are identical.
    """
    spec = [
        (f.name, f.type) if f.default is MISSING else (f.name, f.type, f.default)
        for f in fields(cls)
    ]
    return make_dataclass(
        f"_Unchecked{cls.__name__}",
        spec,
        bases=cls.__bases__,
        slots=True,
        eq=False,
        repr=False,
        match_args=False,
    )


_TENDER_TWIN = _unchecked_twin(Tender)
_TRANSACTION_TWIN = _unchecked_twin(Transaction)


def trusted_tender(
    tender_id: str,
    party: str,
    side: Side,
    interval: Interval,
    price: Decimal,
    quantity: Decimal,
    all_or_none: bool = False,
) -> Tender:
    """A :class:`Tender` built without checks, for callers that guarantee every rule:
    non-empty ids, a :class:`Side`, an :class:`Interval`, a finite price, a positive
    finite quantity and a bool flag (the agents' curves, which are checked once)."""
    tender = _TENDER_TWIN(tender_id, party, side, interval, price, quantity)
    if all_or_none:
        tender.all_or_none = True
    tender.__class__ = Tender
    return tender  # type: ignore[no-any-return]


def trusted_transactions(
    tenders: Sequence[Tender],
    quantities: Sequence[Decimal],
    counterparty: str,
    price: Decimal,
    executed_at: datetime | None,
) -> list[Transaction]:
    """The :class:`Transaction` accepting each ``quantities[k]`` of valid ``tenders[k]`` at
    ``price`` (ids ``"<tender_id>:tx"``), built without checks: the caller guarantees a
    counterparty other than every tender's party, a finite price, 0 < quantity ≤ the
    tender's and an aware time."""
    twin, cls = _TRANSACTION_TWIN, Transaction
    out = []
    for tender, quantity in zip(tenders, quantities, strict=True):
        transaction = twin(
            f"{tender.tender_id}:tx",
            tender.tender_id,
            tender.party,
            counterparty,
            tender.side,
            tender.interval,
            price,
            quantity,
            tender.market_id,
            executed_at,
            tender.resource,
            tender.product,
        )
        transaction.__class__ = cls
        out.append(transaction)
    return out


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
        product=tender.product,
    )


@dataclass(frozen=True, slots=True)
class Quote:
    """An indication of interest: non-actionable, nobody can accept it.

    With a price it is a *quote*; without one, a bare indication of interest.
    """

    quote_id: str
    party: str
    side: Side
    interval: Interval
    quantity: Decimal
    price: Decimal | None = None
    expires: datetime | None = None
    market_id: str = ""
    counterparty: str | None = None
    resource: str = "POWER"
    product: Product | None = None

    def __post_init__(self) -> None:
        check_head(self, "quote", self.quote_id)
        check_terms(self, "quote", self.quote_id, price_optional=True)
        check_aware(self.expires, f"expiry of quote {self.quote_id}")
        if self.counterparty is not None:
            check_id(self.counterparty, "quote counterparty")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.INDICATION_OF_INTEREST

    @property
    def is_priced(self) -> bool:
        """True for a quote (priced indication of interest)."""
        return self.price is not None


@dataclass(frozen=True, slots=True)
class StreamInterval:
    """One interval of a stream tender: its uid, price and rate (kW)."""

    uid: int
    price: Decimal
    quantity: Decimal

    def __post_init__(self) -> None:
        if isinstance(self.uid, bool) or not isinstance(self.uid, int) or self.uid < 0:
            raise TemixError(f"stream interval uid must be a whole number >= 0, got {self.uid!r}")
        _set(self, "price", check_price(self.price, f"price of stream interval {self.uid}"))
        _set(
            self,
            "quantity",
            check_quantity(self.quantity, f"quantity of stream interval {self.uid}"),
        )


@dataclass(frozen=True, slots=True)
class StreamTender:
    """A tender over consecutive equal intervals, each with its own price and rate.

    The n-th entry of ``intervals`` covers ``stream_start + n × interval_duration``.
    :meth:`tenders` splits it into one :class:`Tender` per interval (ids
    ``"<tender_id>/<uid>"``); all-or-none then applies to each interval.
    """

    tender_id: str
    party: str
    side: Side
    stream_start: datetime
    interval_duration: timedelta
    intervals: tuple[StreamInterval, ...]
    expires: datetime | None = None
    all_or_none: bool = False
    market_id: str = ""
    counterparty: str | None = None
    resource: str = "POWER"

    def __post_init__(self) -> None:
        check_id(self.tender_id, "tender_id")
        check_id(self.party, "tender party")
        check_id(self.resource, "resource designator")
        check_side(self, self.side)
        Interval(self.stream_start, self.interval_duration)
        _set(self, "intervals", tuple(self.intervals))
        check_flag(self.all_or_none, f"all_or_none of tender {self.tender_id}")
        if not all(isinstance(item, StreamInterval) for item in self.intervals):
            raise TemixError(f"stream tender {self.tender_id}: intervals must be StreamInterval")
        if not self.intervals:
            raise TemixError(f"stream tender {self.tender_id} has no intervals")
        uids = [item.uid for item in self.intervals]
        if len(set(uids)) != len(uids):
            raise TemixError(f"stream tender {self.tender_id} repeats a stream uid: {uids}")
        check_aware(self.expires, f"expiry of tender {self.tender_id}")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.TENDER

    @property
    def bounding(self) -> Interval:
        """The interval covered by the whole stream."""
        return Interval(self.stream_start, self.interval_duration * len(self.intervals))

    def tenders(self) -> tuple[Tender, ...]:
        """One interval tender per stream interval."""
        pieces = self.bounding.split(self.interval_duration)
        return tuple(
            Tender(
                tender_id=f"{self.tender_id}/{item.uid}",
                party=self.party,
                side=self.side,
                interval=piece,
                price=item.price,
                quantity=item.quantity,
                expires=self.expires,
                all_or_none=self.all_or_none,
                market_id=self.market_id,
                counterparty=self.counterparty,
                resource=self.resource,
            )
            for item, piece in zip(self.intervals, pieces, strict=True)
        )


class TenderBook:
    """Standing tenders and how much of each is already accepted.

    Use it where acceptances arrive one by one: it supplies ``already_accepted`` to
    :func:`accept` so partial acceptances never exceed a tender's quantity.
    """

    def __init__(self) -> None:
        self._tenders: dict[str, Tender] = {}
        self._accepted: dict[str, Decimal] = {}

    def __len__(self) -> int:
        return len(self._tenders)

    def __contains__(self, tender_id: object) -> bool:
        return tender_id in self._tenders

    def add(self, tender: Tender) -> None:
        """Stand ``tender`` in the book; its id must be new."""
        if tender.tender_id in self._tenders:
            raise TemixError(f"tender id {tender.tender_id!r} is already in the book")
        self._tenders[tender.tender_id] = tender
        self._accepted[tender.tender_id] = Decimal(0)

    def get(self, tender_id: str) -> Tender:
        """The standing tender with this id."""
        try:
            return self._tenders[tender_id]
        except KeyError:
            raise UnknownTenderError(f"no standing tender {tender_id!r} in the book") from None

    def cancel(self, tender_id: str) -> Tender:
        """Withdraw a tender; what was already accepted stays transacted."""
        tender = self.get(tender_id)
        del self._tenders[tender_id]
        del self._accepted[tender_id]
        return tender

    def accepted(self, tender_id: str) -> Decimal:
        """Rate (kW) already accepted of this tender."""
        self.get(tender_id)
        return self._accepted[tender_id]

    def remaining(self, tender_id: str) -> Decimal:
        """Rate (kW) still available to accept."""
        return self.get(tender_id).quantity - self.accepted(tender_id)

    def accept(
        self,
        tender_id: str,
        *,
        quantity: Decimal,
        counterparty: str,
        transaction_id: str,
        at: datetime,
    ) -> Transaction:
        """Accept part or all of a standing tender (rules of :func:`accept`)."""
        tender = self.get(tender_id)
        transaction = accept(
            tender,
            quantity=quantity,
            counterparty=counterparty,
            transaction_id=transaction_id,
            at=at,
            already_accepted=self._accepted[tender_id],
        )
        self._accepted[tender_id] += transaction.quantity
        return transaction

    def standing(self, at: datetime, interval: Interval | None = None) -> list[Tender]:
        """Unexpired tenders with quantity left, optionally only those overlapping ``interval``."""
        check_aware(at, "query time")
        return [
            tender
            for tender_id, tender in self._tenders.items()
            if not tender.is_expired(at)
            and self._accepted[tender_id] < tender.quantity
            and (interval is None or tender.interval.overlaps(interval))
        ]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Metered energy of a party over an interval.

    Sign as positions: positive energy was delivered (injected, sold side), negative was
    taken (consumed, bought side), so delivery and position compare directly.
    """

    delivery_id: str
    party: str
    interval: Interval
    energy_kwh: Decimal
    market_id: str = ""
    metered_at: datetime | None = None

    def __post_init__(self) -> None:
        check_id(self.delivery_id, "delivery_id")
        check_id(self.party, "delivery party")
        check_interval(self.interval)
        _set(
            self,
            "energy_kwh",
            check_amount(self.energy_kwh, f"energy of delivery {self.delivery_id}"),
        )
        check_aware(self.metered_at, f"metering time of delivery {self.delivery_id}")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.DELIVERY

    @property
    def average_kw(self) -> Decimal:
        """The constant rate that would deliver the same energy over the interval."""
        return to_decimal(Fraction(self.energy_kwh) / self.interval.hours)


@dataclass(frozen=True, slots=True)
class Publication:
    """A published market outcome: price and traded rate for an interval (no parties)."""

    publication_id: str
    market_id: str
    interval: Interval
    price: Decimal
    quantity: Decimal
    published_at: datetime | None = None

    def __post_init__(self) -> None:
        check_id(self.publication_id, "publication_id")
        check_interval(self.interval)
        what = f"publication {self.publication_id}"
        _set(self, "price", check_price(self.price, f"price of {what}"))
        quantity = check_amount(self.quantity, f"quantity of {what}")
        if quantity < 0:
            raise QuantityError(f"quantity of {what} must be zero or more kW, got {quantity}")
        _set(self, "quantity", quantity)
        check_aware(self.published_at, f"publication time of {what}")

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.PUBLICATION
