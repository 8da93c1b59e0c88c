"""CTS 1.0 JSON codec: TeMIX objects to and from Energy Interoperation CTS payloads.

``encode(payload) -> dict`` and ``decode(dict) -> payload`` for the frozen payload
dataclasses below; ``decode(encode(p)) == p`` for every valid payload. No I/O here: the
caller does ``json.dumps``/``json.loads``.

Wire conventions:

- Every payload carries ``"payloadType"`` (e.g. ``"EiCreateTender"``) so ``decode`` knows
  what it holds. Field names follow CTS 1.0 / eml-cts (``partyId``, ``counterPartyId``,
  ``requestId``, ``marketId``, ``tenderId``, ``inResponseTo``, ...).
- Prices and quantities are JSON integers with a scale: ``value = int × 10^(−scale)``;
  ``{"price": 80, "priceScale": 3}`` is 0.080. One ``priceScale``/``quantityScale`` per
  tender (the finest needed by any of its intervals); an interval tender keeps its
  Decimals' exponents, so even ``Decimal("0.080")`` vs ``Decimal("0.08")`` survive. Scales
  are limited to ±64 and integers to 40 digits.
- Times are ISO 8601 with an explicit offset (``2026-06-01T12:00:00+00:00``); a time
  without a zone is rejected. Durations are ISO 8601 (``PT5M``, ``PT1H``, ``P1D``).
- Unknown keys are rejected, so a misspelt field is an error, not a silent default.
- A tender object also carries ``partyId`` (its originator) and, when directed,
  ``counterPartyId``; an optional ``product`` object carries power/transport/option
  details (extensions to CTS, which only has ``resourceDesignator``).
- ``encode_market_context``/``decode_market_context`` carry a :class:`MarketContext`
  (``marketId, currency, powerUnit, energyUnit, intervalDurations, resourceDesignator,
  timeZone``) for ``GET marketContext``.
- A transaction carries the accepted tender: ``{"transactionId", "partyId",
  "counterPartyId", "executedAt"?, "tender": {...interval tender at the accepted rate}}``.

Errors: a payload that cannot be decoded raises :class:`CtsDecodeError` naming the field
path (``tender.tenderDetail.interval.duration``) and the problem; one that cannot be
encoded raises :class:`CtsEncodeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TypedDict, TypeVar

from market.context import MarketContext
from market.errors import TemixError
from market.interval import Interval, format_duration, parse_duration
from market.model import (
    Delivery,
    Quote,
    StreamInterval,
    StreamTender,
    Tender,
    Transaction,
)
from market.positions import PositionBook
from market.products import OptionKind, OptionProduct, PowerProduct, Product, TransportProduct
from market.sides import Side

__all__ = [
    "PAYLOAD_TYPES",
    "PAYLOAD_TYPE_KEY",
    "CancelTender",
    "CanceledTender",
    "CreateDelivery",
    "CreateQuote",
    "CreateTender",
    "CreateTransaction",
    "CreatedDelivery",
    "CreatedQuote",
    "CreatedTender",
    "CreatedTransaction",
    "CtsDecodeError",
    "CtsEncodeError",
    "DistributeTender",
    "Payload",
    "ReplyPosition",
    "RequestPosition",
    "Response",
    "decode",
    "decode_interval",
    "decode_market_context",
    "decode_tender",
    "decode_transaction",
    "encode",
    "encode_interval",
    "encode_market_context",
    "encode_tender",
    "encode_transaction",
    "reply_position",
]

PAYLOAD_TYPE_KEY = "payloadType"
MAX_SCALE = 64
MAX_DIGITS = 40

Json = dict[str, object]


class CtsDecodeError(ValueError):
    """A CTS payload that is not valid: ``path`` names the field, ``problem`` says why."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'payload'}: {problem}")
        self.path = path
        self.problem = problem


class CtsEncodeError(ValueError):
    """An object that cannot be expressed as a CTS payload."""


# --- payloads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    """EI response status: ``responseCode`` (HTTP-like, 200 = OK) and a description."""

    code: int = 200
    description: str = "OK"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTender:
    """EiCreateTender: ``party_id`` offers ``tender`` (interval or stream) in ``market_id``."""

    party_id: str
    counterparty_id: str
    request_id: str
    market_id: str
    tender: Tender | StreamTender


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedTender:
    """EiCreatedTender: the tender was (or, by ``response``, was not) accepted into the book."""

    party_id: str
    counterparty_id: str
    tender_id: str
    in_response_to: str
    response: Response = field(default_factory=Response)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTender:
    """EiCancelTender: withdraw a standing tender."""

    party_id: str
    counterparty_id: str
    request_id: str
    market_id: str
    tender_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CanceledTender:
    """EiCanceledTender: answer to :class:`CancelTender`."""

    party_id: str
    counterparty_id: str
    tender_id: str
    in_response_to: str
    response: Response = field(default_factory=Response)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTransaction:
    """EiCreateTransaction: ``transaction`` carries the accepted tender."""

    party_id: str
    counterparty_id: str
    request_id: str
    market_id: str
    transaction: Transaction


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedTransaction:
    """EiCreatedTransaction: answer to :class:`CreateTransaction`."""

    party_id: str
    counterparty_id: str
    transaction_id: str
    in_response_to: str
    response: Response = field(default_factory=Response)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPosition:
    """EiRequestPosition: net positions of ``position_party`` over ``bounding_interval``.

    ``interval_duration`` (optional) asks for one position per sub-interval of that length.
    """

    party_id: str
    request_id: str
    market_id: str
    position_party: str
    bounding_interval: Interval
    interval_duration: timedelta | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyPosition:
    """EiReplyPosition: one net position (kW, positive = net seller) per interval."""

    party_id: str
    in_response_to: str
    market_id: str
    position_party: str
    bounding_interval: Interval
    positions: tuple[tuple[Interval, Decimal], ...]
    response: Response = field(default_factory=Response)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateQuote:
    """EiCreateQuote: a non-actionable indication of interest (priced: a quote)."""

    party_id: str
    counterparty_id: str
    request_id: str
    market_id: str
    quote: Quote


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedQuote:
    """EiCreatedQuote: answer to :class:`CreateQuote`."""

    party_id: str
    counterparty_id: str
    quote_id: str
    in_response_to: str
    response: Response = field(default_factory=Response)


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributeTender:
    """EiDistributeTender: send ``tenders`` to every party of ``target_group``."""

    party_id: str
    request_id: str
    market_id: str
    target_group: tuple[str, ...]
    tenders: tuple[Tender | StreamTender, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateDelivery:
    """EiCreateDelivery: report metered energy for an interval."""

    party_id: str
    counterparty_id: str
    request_id: str
    market_id: str
    delivery: Delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedDelivery:
    """EiCreatedDelivery: answer to :class:`CreateDelivery`."""

    party_id: str
    counterparty_id: str
    delivery_id: str
    in_response_to: str
    response: Response = field(default_factory=Response)


Payload = (
    CreateTender
    | CreatedTender
    | CancelTender
    | CanceledTender
    | CreateTransaction
    | CreatedTransaction
    | RequestPosition
    | ReplyPosition
    | CreateQuote
    | CreatedQuote
    | DistributeTender
    | CreateDelivery
    | CreatedDelivery
)


def reply_position(book: PositionBook, request: RequestPosition, *, party_id: str) -> ReplyPosition:
    """Answer ``request`` from ``book``: one position per ``interval_duration`` step (or one
    for the whole bounding interval when the request names no step)."""
    step = request.interval_duration or request.bounding_interval.duration
    return ReplyPosition(
        party_id=party_id,
        in_response_to=request.request_id,
        market_id=request.market_id,
        position_party=request.position_party,
        bounding_interval=request.bounding_interval,
        positions=tuple(book.positions(request.position_party, request.bounding_interval, step)),
    )


# --- numbers and times --------------------------------------------------------------------


def _scale_of(value: Decimal, what: str = "number") -> int:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        raise CtsEncodeError(f"{what} is not finite: {value}")
    return -exponent


def _scaled_int(value: Decimal, scale: int, what: str) -> int:
    if abs(scale) > MAX_SCALE:
        raise CtsEncodeError(f"{what} {value} needs scale {scale}, beyond ±{MAX_SCALE}")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent + scale == 0 and len(digits) <= MAX_DIGITS:  # its own scale: the digits
        number = int("".join(map(str, digits)))
        return -number if sign else number
    number = int(Decimal((sign, digits, exponent + scale)))
    if len(str(abs(number))) > MAX_DIGITS:
        raise CtsEncodeError(f"{what} {value} has more than {MAX_DIGITS} digits")
    return number


def _common_scale(values: list[Decimal]) -> int:
    return max(_scale_of(value) for value in values)


def _unscale(number: int, scale: int) -> Decimal:
    sign, digits, _ = Decimal(number).as_tuple()
    return Decimal((sign, digits, -scale))


def _time(value: datetime) -> str:
    return value.isoformat()


def encode_interval(interval: Interval) -> Json:
    """``{"dtStart": ISO time with offset, "duration": ISO duration}``."""
    start = interval.start
    texts = _interval_texts(start, start.utcoffset(), interval.duration)
    return {"dtStart": texts[0], "duration": texts[1]}


@lru_cache(maxsize=4096)
def _interval_texts(
    start: datetime, offset: timedelta | None, duration: timedelta
) -> tuple[str, str]:
    """A round encodes the same few dozen intervals for thousands of tenders. The offset
    is part of the key: equal instants in other zones are equal datetimes, but their
    text differs."""
    return _time(start), format_duration(duration)


# --- reading ------------------------------------------------------------------------------

_T = TypeVar("_T")


class _Reader:
    """Typed access to one JSON object, every error naming the field path."""

    def __init__(self, data: object, path: str, allowed: frozenset[str] | None = None) -> None:
        if not isinstance(data, Mapping):
            raise CtsDecodeError(path, f"expected a JSON object, got {_kind(data)}")
        self.data: Mapping[str, object] = data
        self.path = path
        if allowed is not None:
            unknown = sorted(set(data) - allowed)
            if unknown:
                raise CtsDecodeError(self.at(unknown[0]), "unknown field")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> object:
        if key not in self.data or self.data[key] is None:
            raise CtsDecodeError(self.at(key), "missing required field")
        return self.data[key]

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value:
            raise CtsDecodeError(self.at(key), f"expected a non-empty string, got {_kind(value)}")
        return value

    def opt_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise CtsDecodeError(self.at(key), f"expected true or false, got {_kind(value)}")
        return value

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise CtsDecodeError(self.at(key), f"expected an integer, got {_kind(value)}")
        if len(str(abs(value))) > MAX_DIGITS:
            raise CtsDecodeError(self.at(key), f"integer has more than {MAX_DIGITS} digits")
        return value

    def scale(self, key: str) -> int:
        value = self.integer(key)
        if abs(value) > MAX_SCALE:
            raise CtsDecodeError(self.at(key), f"scale {value} is beyond ±{MAX_SCALE}")
        return value

    def scaled(self, key: str, scale: int) -> Decimal:
        return _unscale(self.integer(key), scale)

    def time(self, key: str) -> datetime:
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise CtsDecodeError(self.at(key), f"{value!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise CtsDecodeError(
                self.at(key), f"{value!r} has no UTC offset; a time without a zone is not UTC"
            )
        return parsed

    def opt_time(self, key: str) -> datetime | None:
        return self.time(key) if self.has(key) else None

    def duration(self, key: str) -> timedelta:
        value = self.text(key)
        try:
            return parse_duration(value)
        except TemixError as err:
            raise CtsDecodeError(self.at(key), str(err)) from None

    def obj(self, key: str, allowed: frozenset[str] | None = None) -> _Reader:
        return _Reader(self.raw(key), self.at(key), allowed)

    def items(self, key: str) -> list[tuple[str, object]]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise CtsDecodeError(self.at(key), f"expected a JSON array, got {_kind(value)}")
        return [(f"{self.at(key)}[{index}]", item) for index, item in enumerate(value)]

    def interval(self, key: str) -> Interval:
        reader = self.obj(key, _INTERVAL_KEYS)
        return _build(reader.path, Interval, reader.time("dtStart"), reader.duration("duration"))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _build(path: str, factory: Callable[..., _T], *args: object, **kwargs: object) -> _T:
    """Construct a model object, turning its validation error into a decode error."""
    try:
        return factory(*args, **kwargs)
    except TemixError as err:
        raise CtsDecodeError(path, str(err)) from None


def decode_interval(data: object, path: str = "interval") -> Interval:
    """Read ``{"dtStart", "duration"}``."""
    reader = _Reader(data, path, _INTERVAL_KEYS)
    return _build(path, Interval, reader.time("dtStart"), reader.duration("duration"))


_INTERVAL_KEYS = frozenset({"dtStart", "duration"})


# --- products -----------------------------------------------------------------------------


def _encode_product(product: Product) -> Json:
    if isinstance(product, PowerProduct):
        return {"type": "power", "node": product.node}
    if isinstance(product, TransportProduct):
        return {
            "type": "transport",
            "injectionNode": product.injection_node,
            "takeoutNode": product.takeout_node,
        }
    data: Json = {
        "type": "option",
        "optionType": product.kind.value,
        "underlying": _encode_product(product.underlying),
        "strikePrice": _scaled_int(product.strike_price, _scale_of(product.strike_price), "strike"),
        "strikePriceScale": _scale_of(product.strike_price),
        "premium": _scaled_int(product.premium, _scale_of(product.premium), "premium"),
        "premiumScale": _scale_of(product.premium),
        "exerciseLeadTime": _encode_lead_time(product.exercise_lead_time),
        "granularity": format_duration(product.granularity),
    }
    if product.exercise_window is not None:
        data["exerciseWindow"] = encode_interval(product.exercise_window)
    return data


def _encode_lead_time(lead: timedelta) -> str:
    return format_duration(lead) if lead else "PT0S"


_PRODUCT_KEYS = {
    "power": frozenset({"type", "node"}),
    "transport": frozenset({"type", "injectionNode", "takeoutNode"}),
    "option": frozenset(
        {
            "type",
            "optionType",
            "underlying",
            "strikePrice",
            "strikePriceScale",
            "premium",
            "premiumScale",
            "exerciseLeadTime",
            "granularity",
            "exerciseWindow",
        }
    ),
}


def _decode_product(data: object, path: str, nested: bool = False) -> Product:
    kind = _Reader(data, path).text("type")
    allowed = {"power", "transport"} if nested else set(_PRODUCT_KEYS)
    if kind not in allowed:
        raise CtsDecodeError(f"{path}.type", f"expected one of {sorted(allowed)}, got {kind!r}")
    reader = _Reader(data, path, _PRODUCT_KEYS[kind])
    if kind == "power":
        return _build(path, PowerProduct, reader.text("node"))
    if kind == "transport":
        return _build(
            path, TransportProduct, reader.text("injectionNode"), reader.text("takeoutNode")
        )
    option_type = reader.text("optionType")
    if option_type not in OptionKind.__members__:
        raise CtsDecodeError(reader.at("optionType"), f"expected CALL or PUT, got {option_type!r}")
    underlying = _decode_product(reader.raw("underlying"), reader.at("underlying"), nested=True)
    assert isinstance(underlying, PowerProduct | TransportProduct)
    lead_text = reader.text("exerciseLeadTime")
    lead = timedelta(0) if lead_text == "PT0S" else reader.duration("exerciseLeadTime")
    window = reader.interval("exerciseWindow") if reader.has("exerciseWindow") else None
    return _build(
        path,
        OptionProduct,
        kind=OptionKind(option_type),
        underlying=underlying,
        strike_price=reader.scaled("strikePrice", reader.scale("strikePriceScale")),
        premium=reader.scaled("premium", reader.scale("premiumScale")),
        exercise_lead_time=lead,
        granularity=reader.duration("granularity"),
        exercise_window=window,
    )


# --- tenders and transactions -------------------------------------------------------------

_TENDER_KEYS = frozenset(
    {
        "tenderId",
        "partyId",
        "counterPartyId",
        "side",
        "expirationTime",
        "marketId",
        "resourceDesignator",
        "allOrNone",
        "priceScale",
        "quantityScale",
        "tenderDetail",
        "product",
    }
)
_INTERVAL_DETAIL_KEYS = frozenset({"type", "interval", "price", "quantity"})
_STREAM_DETAIL_KEYS = frozenset(
    {"type", "streamStart", "streamIntervalDuration", "streamIntervals"}
)
_STREAM_INTERVAL_KEYS = frozenset({"streamUid", "price", "quantity"})


def _tender_head(
    tender_id: str,
    party: str,
    counterparty: str | None,
    side: Side,
    expires: datetime | None,
    market_id: str,
    resource: str,
    all_or_none: bool,
) -> Json:
    data: Json = {"tenderId": tender_id, "partyId": party}
    if counterparty is not None:
        data["counterPartyId"] = counterparty
    data["side"] = side.value
    if expires is not None:
        data["expirationTime"] = _time(expires)
    data.update({"marketId": market_id, "resourceDesignator": resource, "allOrNone": all_or_none})
    return data


def encode_tender(tender: Tender | StreamTender) -> Json:
    """The CTS tender object of an interval or stream tender."""
    data = _tender_head(
        tender.tender_id,
        tender.party,
        tender.counterparty,
        tender.side,
        tender.expires,
        tender.market_id,
        tender.resource,
        tender.all_or_none,
    )
    if isinstance(tender, Tender):
        price_scale, quantity_scale = _scale_of(tender.price), _scale_of(tender.quantity)
        detail: Json = {
            "type": "interval",
            "interval": encode_interval(tender.interval),
            "price": _scaled_int(tender.price, price_scale, "price"),
            "quantity": _scaled_int(tender.quantity, quantity_scale, "quantity"),
        }
        if tender.product is not None:
            data["product"] = _encode_product(tender.product)
    else:
        price_scale = _common_scale([item.price for item in tender.intervals])
        quantity_scale = _common_scale([item.quantity for item in tender.intervals])
        detail = {
            "type": "stream",
            "streamStart": _time(tender.stream_start),
            "streamIntervalDuration": format_duration(tender.interval_duration),
            "streamIntervals": [
                {
                    "streamUid": item.uid,
                    "price": _scaled_int(item.price, price_scale, "price"),
                    "quantity": _scaled_int(item.quantity, quantity_scale, "quantity"),
                }
                for item in tender.intervals
            ],
        }
    data.update(
        {"priceScale": price_scale, "quantityScale": quantity_scale, "tenderDetail": detail}
    )
    return data


def decode_tender(data: object, path: str = "tender") -> Tender | StreamTender:
    """Read a CTS tender object (interval or stream detail)."""
    reader = _Reader(data, path, _TENDER_KEYS)
    side = _side(reader)
    price_scale, quantity_scale = reader.scale("priceScale"), reader.scale("quantityScale")
    common: dict[str, object] = {
        "tender_id": reader.text("tenderId"),
        "party": reader.text("partyId"),
        "side": side,
        "expires": reader.opt_time("expirationTime"),
        "all_or_none": reader.flag("allOrNone"),
        "market_id": _market_id(reader),
        "counterparty": reader.opt_text("counterPartyId"),
        "resource": reader.text("resourceDesignator"),
    }
    detail_type = _detail_type(reader)
    if detail_type == "interval":
        detail = reader.obj("tenderDetail", _INTERVAL_DETAIL_KEYS)
        product = (
            _decode_product(reader.raw("product"), reader.at("product"))
            if reader.has("product")
            else None
        )
        return _build(
            path,
            Tender,
            interval=detail.interval("interval"),
            price=detail.scaled("price", price_scale),
            quantity=detail.scaled("quantity", quantity_scale),
            product=product,
            **common,
        )
    if reader.has("product"):
        raise CtsDecodeError(reader.at("product"), "a stream tender carries no product")
    detail = reader.obj("tenderDetail", _STREAM_DETAIL_KEYS)
    intervals = []
    for item_path, item in detail.items("streamIntervals"):
        entry = _Reader(item, item_path, _STREAM_INTERVAL_KEYS)
        intervals.append(
            _build(
                item_path,
                StreamInterval,
                entry.integer("streamUid"),
                entry.scaled("price", price_scale),
                entry.scaled("quantity", quantity_scale),
            )
        )
    return _build(
        path,
        StreamTender,
        stream_start=detail.time("streamStart"),
        interval_duration=detail.duration("streamIntervalDuration"),
        intervals=tuple(intervals),
        **common,
    )


def _side(reader: _Reader) -> Side:
    side = reader.text("side")
    if side not in Side.__members__:
        raise CtsDecodeError(reader.at("side"), f"expected BUY or SELL, got {side!r}")
    return Side(side)


def _market_id(reader: _Reader) -> str:
    value = reader.raw("marketId")
    if not isinstance(value, str):
        raise CtsDecodeError(reader.at("marketId"), f"expected a string, got {_kind(value)}")
    return value


def _detail_type(reader: _Reader) -> str:
    kind = reader.obj("tenderDetail").text("type")
    if kind not in ("interval", "stream"):
        raise CtsDecodeError(
            reader.at("tenderDetail.type"), f"expected 'interval' or 'stream', got {kind!r}"
        )
    return kind


_TRANSACTION_KEYS = frozenset(
    {"transactionId", "partyId", "counterPartyId", "executedAt", "tender"}
)


def encode_transaction(transaction: Transaction) -> Json:
    """The CTS transaction object: ids, parties, and the accepted tender at the accepted rate."""
    tender = _tender_head(
        transaction.tender_id,
        transaction.party,
        None,
        transaction.side,
        None,
        transaction.market_id,
        transaction.resource,
        False,
    )
    price_scale, quantity_scale = _scale_of(transaction.price), _scale_of(transaction.quantity)
    tender.update(
        {
            "priceScale": price_scale,
            "quantityScale": quantity_scale,
            "tenderDetail": {
                "type": "interval",
                "interval": encode_interval(transaction.interval),
                "price": _scaled_int(transaction.price, price_scale, "price"),
                "quantity": _scaled_int(transaction.quantity, quantity_scale, "quantity"),
            },
        }
    )
    if transaction.product is not None:
        tender["product"] = _encode_product(transaction.product)
    data: Json = {
        "transactionId": transaction.transaction_id,
        "partyId": transaction.party,
        "counterPartyId": transaction.counterparty,
    }
    if transaction.executed_at is not None:
        data["executedAt"] = _time(transaction.executed_at)
    data["tender"] = tender
    return data


def decode_transaction(data: object, path: str = "transaction") -> Transaction:
    """Read a CTS transaction object; its tender must be an interval tender."""
    reader = _Reader(data, path, _TRANSACTION_KEYS)
    tender = decode_tender(reader.raw("tender"), reader.at("tender"))
    if not isinstance(tender, Tender):
        raise CtsDecodeError(reader.at("tender.tenderDetail.type"), "a transaction is one interval")
    party = reader.text("partyId")
    if party != tender.party:
        raise CtsDecodeError(
            reader.at("tender.partyId"),
            f"the accepted tender's party {tender.party!r} is not the transaction's {party!r}",
        )
    return _build(
        path,
        Transaction,
        transaction_id=reader.text("transactionId"),
        tender_id=tender.tender_id,
        party=party,
        counterparty=reader.text("counterPartyId"),
        side=tender.side,
        interval=tender.interval,
        price=tender.price,
        quantity=tender.quantity,
        market_id=tender.market_id,
        executed_at=reader.opt_time("executedAt"),
        resource=tender.resource,
        product=tender.product,
    )


# --- quotes and deliveries ----------------------------------------------------------------

_QUOTE_KEYS = frozenset(
    {
        "quoteId",
        "partyId",
        "counterPartyId",
        "side",
        "expirationTime",
        "marketId",
        "resourceDesignator",
        "priceScale",
        "quantityScale",
        "quoteDetail",
        "product",
    }
)
_QUOTE_DETAIL_KEYS = frozenset({"type", "interval", "price", "quantity"})


def _encode_quote(quote: Quote) -> Json:
    data: Json = {"quoteId": quote.quote_id, "partyId": quote.party}
    if quote.counterparty is not None:
        data["counterPartyId"] = quote.counterparty
    data["side"] = quote.side.value
    if quote.expires is not None:
        data["expirationTime"] = _time(quote.expires)
    quantity_scale = _scale_of(quote.quantity)
    detail: Json = {"type": "interval", "interval": encode_interval(quote.interval)}
    data.update({"marketId": quote.market_id, "resourceDesignator": quote.resource})
    if quote.price is not None:
        price_scale = _scale_of(quote.price)
        data["priceScale"] = price_scale
        detail["price"] = _scaled_int(quote.price, price_scale, "price")
    data["quantityScale"] = quantity_scale
    detail["quantity"] = _scaled_int(quote.quantity, quantity_scale, "quantity")
    data["quoteDetail"] = detail
    if quote.product is not None:
        data["product"] = _encode_product(quote.product)
    return data


def _decode_quote(data: object, path: str) -> Quote:
    reader = _Reader(data, path, _QUOTE_KEYS)
    detail = reader.obj("quoteDetail", _QUOTE_DETAIL_KEYS)
    if detail.text("type") != "interval":
        raise CtsDecodeError(detail.at("type"), "expected 'interval'")
    price = None
    if detail.has("price"):
        price = detail.scaled("price", reader.scale("priceScale"))
    elif reader.has("priceScale"):
        raise CtsDecodeError(reader.at("priceScale"), "given without quoteDetail.price")
    product = (
        _decode_product(reader.raw("product"), reader.at("product"))
        if reader.has("product")
        else None
    )
    return _build(
        path,
        Quote,
        quote_id=reader.text("quoteId"),
        party=reader.text("partyId"),
        side=_side(reader),
        interval=detail.interval("interval"),
        quantity=detail.scaled("quantity", reader.scale("quantityScale")),
        price=price,
        expires=reader.opt_time("expirationTime"),
        market_id=_market_id(reader),
        counterparty=reader.opt_text("counterPartyId"),
        resource=reader.text("resourceDesignator"),
        product=product,
    )


_DELIVERY_KEYS = frozenset(
    {"deliveryId", "partyId", "marketId", "interval", "energy", "energyScale", "meteredAt"}
)


def _encode_delivery(delivery: Delivery) -> Json:
    scale = _scale_of(delivery.energy_kwh)
    data: Json = {
        "deliveryId": delivery.delivery_id,
        "partyId": delivery.party,
        "marketId": delivery.market_id,
        "interval": encode_interval(delivery.interval),
        "energy": _scaled_int(delivery.energy_kwh, scale, "energy"),
        "energyScale": scale,
    }
    if delivery.metered_at is not None:
        data["meteredAt"] = _time(delivery.metered_at)
    return data


def _decode_delivery(data: object, path: str) -> Delivery:
    reader = _Reader(data, path, _DELIVERY_KEYS)
    return _build(
        path,
        Delivery,
        delivery_id=reader.text("deliveryId"),
        party=reader.text("partyId"),
        interval=reader.interval("interval"),
        energy_kwh=reader.scaled("energy", reader.scale("energyScale")),
        market_id=_market_id(reader),
        metered_at=reader.opt_time("meteredAt"),
    )


# --- market context -----------------------------------------------------------------------

_CONTEXT_KEYS = frozenset(
    {
        "marketId",
        "currency",
        "powerUnit",
        "energyUnit",
        "intervalDurations",
        "resourceDesignator",
        "timeZone",
    }
)


def encode_market_context(context: MarketContext) -> Json:
    """The market context object (answer of ``GET marketContext``)."""
    return {
        "marketId": context.market_id,
        "currency": context.currency,
        "powerUnit": context.power_unit,
        "energyUnit": context.energy_unit,
        "intervalDurations": [format_duration(d) for d in context.interval_durations],
        "resourceDesignator": context.resource,
        "timeZone": context.zone,
    }


def decode_market_context(data: object, path: str = "marketContext") -> MarketContext:
    """Read a market context object."""
    reader = _Reader(data, path, _CONTEXT_KEYS)
    durations = []
    for item_path, item in reader.items("intervalDurations"):
        if not isinstance(item, str):
            raise CtsDecodeError(item_path, f"expected an ISO 8601 duration, got {_kind(item)}")
        try:
            durations.append(parse_duration(item))
        except TemixError as err:
            raise CtsDecodeError(item_path, str(err)) from None
    return _build(
        path,
        MarketContext,
        market_id=reader.text("marketId"),
        currency=reader.text("currency"),
        power_unit=reader.text("powerUnit"),
        energy_unit=reader.text("energyUnit"),
        interval_durations=tuple(durations),
        resource=reader.text("resourceDesignator"),
        zone=reader.text("timeZone"),
    )


# --- payload tables -----------------------------------------------------------------------


def _encode_response(response: Response) -> Json:
    return {"responseCode": response.code, "responseDescription": response.description}


def _decode_response(reader: _Reader) -> Response:
    data = reader.obj("response", frozenset({"responseCode", "responseDescription"}))
    description = data.raw("responseDescription")
    if not isinstance(description, str):
        raise CtsDecodeError(data.at("responseDescription"), "expected a string")
    return Response(data.integer("responseCode"), description)


def _encode_positions(positions: tuple[tuple[Interval, Decimal], ...]) -> list[Json]:
    return [
        {
            "interval": encode_interval(interval),
            "quantity": _scaled_int(quantity, _scale_of(quantity, "position"), "position"),
            "quantityScale": _scale_of(quantity),
        }
        for interval, quantity in positions
    ]


def _decode_positions(reader: _Reader) -> tuple[tuple[Interval, Decimal], ...]:
    positions = []
    for item_path, item in reader.items("positions"):
        entry = _Reader(item, item_path, frozenset({"interval", "quantity", "quantityScale"}))
        positions.append(
            (entry.interval("interval"), entry.scaled("quantity", entry.scale("quantityScale")))
        )
    return tuple(positions)


def _head(payload: Payload) -> Json:
    return {PAYLOAD_TYPE_KEY: _NAMES[type(payload)], "partyId": payload.party_id}


def encode(payload: Payload) -> Json:
    """The JSON-ready dict of a CTS payload (``json.dumps`` it as it is)."""
    if type(payload) not in _NAMES:
        raise CtsEncodeError(f"not a CTS payload: {type(payload).__name__}")
    _check_ids(payload)
    data = _head(payload)
    try:
        data.update(_encode_body(payload))
    except TemixError as err:
        raise CtsEncodeError(str(err)) from err
    return data


def _check_ids(payload: Payload) -> None:
    """Reject empty identifiers up front: ``decode`` would refuse them on the other side."""
    for item in fields(payload):
        value = getattr(payload, item.name)
        values = value if isinstance(value, tuple) else (value,)
        if item.name != "market_id" and any(v == "" for v in values if isinstance(v, str)):
            raise CtsEncodeError(f"{type(payload).__name__}.{item.name} must not be empty")


def decode(payload: Mapping[str, object]) -> Payload:
    """Read a CTS payload dict (from ``json.loads``), dispatching on ``payloadType``."""
    reader = _Reader(payload, "")
    name = reader.text(PAYLOAD_TYPE_KEY)
    if name not in _DECODERS:
        raise CtsDecodeError(PAYLOAD_TYPE_KEY, f"unknown payload type {name!r}")
    keys, decoder = _DECODERS[name]
    return decoder(_Reader(payload, "", keys | {PAYLOAD_TYPE_KEY, "partyId"}))


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


_Decoder = Callable[[_Reader], Payload]


Request = CreateTender | CancelTender | CreateTransaction | CreateQuote | CreateDelivery
Answer = CreatedTender | CanceledTender | CreatedTransaction | CreatedQuote | CreatedDelivery


def _enc_request(p: Request, key: str, value: object) -> Json:
    return {
        "counterPartyId": p.counterparty_id,
        "requestId": p.request_id,
        "marketId": p.market_id,
        key: value,
    }


def _enc_answer(p: Answer, id_key: str, id_value: str) -> Json:
    return {
        "counterPartyId": p.counterparty_id,
        id_key: id_value,
        "inResponseTo": p.in_response_to,
        "response": _encode_response(p.response),
    }


class _RequestHead(TypedDict):
    party_id: str
    counterparty_id: str
    request_id: str
    market_id: str


def _request_head(r: _Reader) -> _RequestHead:
    """The fields every request payload starts with."""
    return _RequestHead(
        party_id=r.text("partyId"),
        counterparty_id=r.text("counterPartyId"),
        request_id=r.text("requestId"),
        market_id=_market_id(r),
    )


def _answer(make: Callable[..., Answer], id_key: str, id_field: str) -> _Decoder:
    """Decoder of an answer payload whose own id is ``id_key`` (field ``id_field``)."""

    def decode_answer(r: _Reader) -> Payload:
        party_id, counterparty_id = r.text("partyId"), r.text("counterPartyId")
        return make(
            party_id=party_id,
            counterparty_id=counterparty_id,
            **{id_field: r.text(id_key)},
            in_response_to=r.text("inResponseTo"),
            response=_decode_response(r),
        )

    return decode_answer


_ANSWER_KEYS = _keys("counterPartyId", "inResponseTo", "response")


def _enc_request_position(p: RequestPosition) -> Json:
    data: Json = {
        "requestId": p.request_id,
        "marketId": p.market_id,
        "positionParty": p.position_party,
        "boundingInterval": encode_interval(p.bounding_interval),
    }
    if p.interval_duration is not None:
        data["intervalDuration"] = format_duration(p.interval_duration)
    return data


def _dec_request_position(r: _Reader) -> RequestPosition:
    return RequestPosition(
        party_id=r.text("partyId"),
        request_id=r.text("requestId"),
        market_id=_market_id(r),
        position_party=r.text("positionParty"),
        bounding_interval=r.interval("boundingInterval"),
        interval_duration=r.duration("intervalDuration") if r.has("intervalDuration") else None,
    )


def _enc_reply_position(p: ReplyPosition) -> Json:
    return {
        "inResponseTo": p.in_response_to,
        "marketId": p.market_id,
        "positionParty": p.position_party,
        "boundingInterval": encode_interval(p.bounding_interval),
        "positions": _encode_positions(p.positions),
        "response": _encode_response(p.response),
    }


def _dec_reply_position(r: _Reader) -> ReplyPosition:
    return ReplyPosition(
        party_id=r.text("partyId"),
        in_response_to=r.text("inResponseTo"),
        market_id=_market_id(r),
        position_party=r.text("positionParty"),
        bounding_interval=r.interval("boundingInterval"),
        positions=_decode_positions(r),
        response=_decode_response(r),
    )


def _enc_distribute_tender(p: DistributeTender) -> Json:
    return {
        "requestId": p.request_id,
        "marketId": p.market_id,
        "targetGroup": list(p.target_group),
        "tenders": [encode_tender(tender) for tender in p.tenders],
    }


def _dec_distribute_tender(r: _Reader) -> DistributeTender:
    group = []
    for item_path, item in r.items("targetGroup"):
        if not isinstance(item, str) or not item:
            raise CtsDecodeError(item_path, f"expected a party id string, got {_kind(item)}")
        group.append(item)
    return DistributeTender(
        party_id=r.text("partyId"),
        request_id=r.text("requestId"),
        market_id=_market_id(r),
        target_group=tuple(group),
        tenders=tuple(decode_tender(item, item_path) for item_path, item in r.items("tenders")),
    )


_NAMES: dict[type, str] = {
    CreateTender: "EiCreateTender",
    CreatedTender: "EiCreatedTender",
    CancelTender: "EiCancelTender",
    CanceledTender: "EiCanceledTender",
    CreateTransaction: "EiCreateTransaction",
    CreatedTransaction: "EiCreatedTransaction",
    RequestPosition: "EiRequestPosition",
    ReplyPosition: "EiReplyPosition",
    CreateQuote: "EiCreateQuote",
    CreatedQuote: "EiCreatedQuote",
    DistributeTender: "EiDistributeTender",
    CreateDelivery: "EiCreateDelivery",
    CreatedDelivery: "EiCreatedDelivery",
}
"""Payload class → ``payloadType`` on the wire."""

PAYLOAD_TYPES: frozenset[str] = frozenset(_NAMES.values())
"""Every ``payloadType`` this codec reads and writes."""


def _encode_body(payload: Payload) -> Json:
    match payload:
        case CreateTender():
            return _enc_request(payload, "tender", encode_tender(payload.tender))
        case CreatedTender() | CanceledTender():
            return _enc_answer(payload, "tenderId", payload.tender_id)
        case CancelTender():
            return _enc_request(payload, "tenderId", payload.tender_id)
        case CreateTransaction():
            return _enc_request(payload, "transaction", encode_transaction(payload.transaction))
        case CreatedTransaction():
            return _enc_answer(payload, "transactionId", payload.transaction_id)
        case RequestPosition():
            return _enc_request_position(payload)
        case ReplyPosition():
            return _enc_reply_position(payload)
        case CreateQuote():
            return _enc_request(payload, "quote", _encode_quote(payload.quote))
        case CreatedQuote():
            return _enc_answer(payload, "quoteId", payload.quote_id)
        case DistributeTender():
            return _enc_distribute_tender(payload)
        case CreateDelivery():
            return _enc_request(payload, "delivery", _encode_delivery(payload.delivery))
        case CreatedDelivery():
            return _enc_answer(payload, "deliveryId", payload.delivery_id)


_REQUEST_KEYS = _keys("counterPartyId", "requestId", "marketId")

_DECODERS: dict[str, tuple[frozenset[str], _Decoder]] = {
    "EiCreateTender": (
        _REQUEST_KEYS | {"tender"},
        lambda r: CreateTender(**_request_head(r), tender=decode_tender(r.raw("tender"), "tender")),
    ),
    "EiCreatedTender": (
        _ANSWER_KEYS | {"tenderId"},
        _answer(CreatedTender, "tenderId", "tender_id"),
    ),
    "EiCancelTender": (
        _REQUEST_KEYS | {"tenderId"},
        lambda r: CancelTender(**_request_head(r), tender_id=r.text("tenderId")),
    ),
    "EiCanceledTender": (
        _ANSWER_KEYS | {"tenderId"},
        _answer(CanceledTender, "tenderId", "tender_id"),
    ),
    "EiCreateTransaction": (
        _REQUEST_KEYS | {"transaction"},
        lambda r: CreateTransaction(
            **_request_head(r),
            transaction=decode_transaction(r.raw("transaction"), "transaction"),
        ),
    ),
    "EiCreatedTransaction": (
        _ANSWER_KEYS | {"transactionId"},
        _answer(CreatedTransaction, "transactionId", "transaction_id"),
    ),
    "EiRequestPosition": (
        _keys("requestId", "marketId", "positionParty", "boundingInterval", "intervalDuration"),
        _dec_request_position,
    ),
    "EiReplyPosition": (
        _keys(
            "inResponseTo",
            "marketId",
            "positionParty",
            "boundingInterval",
            "positions",
            "response",
        ),
        _dec_reply_position,
    ),
    "EiCreateQuote": (
        _REQUEST_KEYS | {"quote"},
        lambda r: CreateQuote(**_request_head(r), quote=_decode_quote(r.raw("quote"), "quote")),
    ),
    "EiCreatedQuote": (_ANSWER_KEYS | {"quoteId"}, _answer(CreatedQuote, "quoteId", "quote_id")),
    "EiDistributeTender": (
        _keys("requestId", "marketId", "targetGroup", "tenders"),
        _dec_distribute_tender,
    ),
    "EiCreateDelivery": (
        _REQUEST_KEYS | {"delivery"},
        lambda r: CreateDelivery(
            **_request_head(r), delivery=_decode_delivery(r.raw("delivery"), "delivery")
        ),
    ),
    "EiCreatedDelivery": (
        _ANSWER_KEYS | {"deliveryId"},
        _answer(CreatedDelivery, "deliveryId", "delivery_id"),
    ),
}
