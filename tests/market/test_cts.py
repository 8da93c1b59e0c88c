"""CTS 1.0 codec: every payload round-trips through JSON text, matches its schema, and
every malformed field is named in the decode error."""

from __future__ import annotations

import copy
import functools
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.cts import (
    PAYLOAD_TYPES,
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
    CtsEncodeError,
    DistributeTender,
    Payload,
    ReplyPosition,
    RequestPosition,
    Response,
    decode,
    decode_market_context,
    encode,
    encode_interval,
    encode_market_context,
    reply_position,
)
from market.temix import (
    DEFAULT_INTERVAL_DURATIONS,
    Delivery,
    Interval,
    MarketContext,
    OptionKind,
    OptionProduct,
    PositionBook,
    PowerProduct,
    Quote,
    Side,
    StreamInterval,
    StreamTender,
    Tender,
    Transaction,
    TransportProduct,
    accept,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "market" / "schemas"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)
MARKET = "urn:temix:demo-building"

TENDER = Tender(
    tender_id="t1",
    party="pv",
    side=Side.SELL,
    interval=Interval(T0, HOUR),
    price=Decimal("0.080"),
    quantity=Decimal("12.5"),
    expires=T0 - QUARTER,
    market_id=MARKET,
)
STREAM = StreamTender(
    tender_id="s1",
    party="battery",
    side=Side.BUY,
    stream_start=datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo("America/New_York")),
    interval_duration=QUARTER,
    intervals=(
        StreamInterval(0, Decimal("0.05"), Decimal(20)),
        StreamInterval(1, Decimal("0.061"), Decimal("7.25")),
    ),
    all_or_none=True,
    market_id=MARKET,
    counterparty="market",
)
OPTION = OptionProduct(
    OptionKind.PUT,
    TransportProduct("bus-a", "bus-b"),
    strike_price=Decimal("0.12"),
    premium=Decimal("0.004"),
    exercise_lead_time=timedelta(0),
    granularity=QUARTER,
    exercise_window=Interval(T0 - 2 * HOUR, HOUR),
)
TRANSACTION = accept(
    TENDER, quantity=Decimal("2.5"), counterparty="market", transaction_id="x1", at=T0 - HOUR
)

EXAMPLES: list[Payload] = [
    CreateTender(
        party_id="pv", counterparty_id="market", request_id="r1", market_id=MARKET, tender=TENDER
    ),
    CreateTender(
        party_id="battery",
        counterparty_id="market",
        request_id="r2",
        market_id=MARKET,
        tender=STREAM,
    ),
    CreateTender(
        party_id="pv",
        counterparty_id="market",
        request_id="r3",
        market_id=MARKET,
        tender=Tender(
            "t2", "pv", Side.BUY, Interval(T0, HOUR), Decimal("0.01"), Decimal(1), product=OPTION
        ),
    ),
    CreatedTender(party_id="market", counterparty_id="pv", tender_id="t1", in_response_to="r1"),
    CancelTender(
        party_id="pv", counterparty_id="market", request_id="r4", market_id=MARKET, tender_id="t1"
    ),
    CanceledTender(
        party_id="market",
        counterparty_id="pv",
        tender_id="t1",
        in_response_to="r4",
        response=Response(404, "no standing tender 't1'"),
    ),
    CreateTransaction(
        party_id="market",
        counterparty_id="pv",
        request_id="r5",
        market_id=MARKET,
        transaction=TRANSACTION,
    ),
    CreateTransaction(
        party_id="market",
        counterparty_id="pv",
        request_id="r5b",
        market_id=MARKET,
        transaction=Transaction(
            "x2",
            "t9",
            "a",
            "b",
            Side.BUY,
            Interval(T0, HOUR),
            Decimal(-1),
            Decimal("1E+3"),
            product=PowerProduct("pcc"),
        ),
    ),
    CreatedTransaction(
        party_id="pv", counterparty_id="market", transaction_id="x1", in_response_to="r5"
    ),
    RequestPosition(
        party_id="trader",
        request_id="r6",
        market_id=MARKET,
        position_party="pv",
        bounding_interval=Interval(T0, 2 * HOUR),
        interval_duration=QUARTER,
    ),
    RequestPosition(
        party_id="trader",
        request_id="r6b",
        market_id=MARKET,
        position_party="pv",
        bounding_interval=Interval(T0, HOUR),
    ),
    ReplyPosition(
        party_id="market",
        in_response_to="r6",
        market_id=MARKET,
        position_party="pv",
        bounding_interval=Interval(T0, 2 * HOUR),
        positions=((Interval(T0, HOUR), Decimal("2.5")), (Interval(T0 + HOUR, HOUR), Decimal(-3))),
    ),
    CreateQuote(
        party_id="hvac",
        counterparty_id="market",
        request_id="r7",
        market_id=MARKET,
        quote=Quote(
            "q1",
            "hvac",
            Side.BUY,
            Interval(T0, QUARTER),
            Decimal(15),
            price=Decimal("0.2"),
            expires=T0,
            counterparty="market",
        ),
    ),
    CreateQuote(
        party_id="hvac",
        counterparty_id="market",
        request_id="r8",
        market_id=MARKET,
        quote=Quote("q2", "hvac", Side.SELL, Interval(T0, QUARTER), Decimal(3)),
    ),
    CreatedQuote(party_id="market", counterparty_id="hvac", quote_id="q1", in_response_to="r7"),
    DistributeTender(
        party_id="market",
        request_id="r9",
        market_id=MARKET,
        target_group=("hvac-1", "hvac-2"),
        tenders=(TENDER, STREAM),
    ),
    CreateDelivery(
        party_id="pv",
        counterparty_id="market",
        request_id="r10",
        market_id=MARKET,
        delivery=Delivery(
            "d1", "pv", Interval(T0, QUARTER), Decimal("-3.125"), MARKET, metered_at=T0 + QUARTER
        ),
    ),
    CreatedDelivery(
        party_id="market", counterparty_id="pv", delivery_id="d1", in_response_to="r10"
    ),
]


def through_json(payload: Payload) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(encode(payload)))
    return data


@functools.cache
def schema_for(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_every_payload_round_trips_through_json_text(payload: Payload) -> None:
    assert decode(through_json(payload)) == payload


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_every_encoded_payload_matches_its_schema(payload: Payload) -> None:
    data = through_json(payload)
    schema_for(data["payloadType"]).validate(data)


def test_every_payload_type_has_an_example_and_a_schema() -> None:
    assert {through_json(p)["payloadType"] for p in EXAMPLES} == PAYLOAD_TYPES
    assert {path.stem for path in SCHEMAS.glob("*.json")} == PAYLOAD_TYPES | {"MarketContext"}


def test_schemas_reject_what_decode_rejects() -> None:
    data = through_json(EXAMPLES[0])
    data["tender"]["tenderDetail"]["interval"]["dtStart"] = "2026-06-01T12:00:00"
    with pytest.raises(jsonschema.ValidationError):
        schema_for("EiCreateTender").validate(data)


def test_wire_shape_of_an_interval_tender() -> None:
    data = through_json(EXAMPLES[0])
    assert data["payloadType"] == "EiCreateTender"
    assert (data["partyId"], data["counterPartyId"], data["requestId"]) == ("pv", "market", "r1")
    tender = data["tender"]
    assert tender["priceScale"] == 3 and tender["quantityScale"] == 1
    assert tender["tenderDetail"] == {
        "type": "interval",
        "interval": {"dtStart": "2026-06-01T12:00:00+00:00", "duration": "PT1H"},
        "price": 80,
        "quantity": 125,
    }
    assert tender["expirationTime"] == "2026-06-01T11:45:00+00:00"
    assert tender["allOrNone"] is False and tender["resourceDesignator"] == "POWER"


def test_stream_uses_one_scale_for_all_intervals_and_local_offsets() -> None:
    tender = through_json(EXAMPLES[1])["tender"]
    detail = tender["tenderDetail"]
    assert detail["streamStart"] == "2026-06-01T08:00:00-04:00"
    assert detail["streamIntervalDuration"] == "PT15M"
    assert (tender["priceScale"], tender["quantityScale"]) == (3, 2)
    assert detail["streamIntervals"] == [
        {"streamUid": 0, "price": 50, "quantity": 2000},
        {"streamUid": 1, "price": 61, "quantity": 725},
    ]


def test_exact_decimal_representation_survives() -> None:
    decoded = decode(through_json(EXAMPLES[0]))
    assert isinstance(decoded, CreateTender) and isinstance(decoded.tender, Tender)
    assert str(decoded.tender.price) == "0.080"
    large = decode(through_json(EXAMPLES[7]))
    assert isinstance(large, CreateTransaction)
    assert str(large.transaction.quantity) == "1E+3"


def test_a_transaction_carries_its_accepted_tender() -> None:
    data = through_json(EXAMPLES[6])["transaction"]
    assert data["transactionId"] == "x1" and data["counterPartyId"] == "market"
    assert data["tender"]["tenderId"] == "t1" and data["tender"]["partyId"] == "pv"
    assert data["tender"]["tenderDetail"]["quantity"] == 25


# --- decode errors name the field ----------------------------------------------------------


def broken(index: int, path: list[str | int], value: object) -> dict[str, Any]:
    data = through_json(EXAMPLES[index])
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


DETAIL = ["tender", "tenderDetail"]
CASES = [
    (0, [*DETAIL, "interval", "duration"], "5 minutes", "tender.tenderDetail.interval.duration"),
    (0, [*DETAIL, "interval", "duration"], "P1M", "tender.tenderDetail.interval.duration"),
    (0, [*DETAIL, "interval", "dtStart"], "2026-06-01T12:00:00", "no UTC offset"),
    (0, [*DETAIL, "interval", "dtStart"], "noon", "not an ISO 8601 time"),
    (0, [*DETAIL, "price"], 0.08, "tender.tenderDetail.price: expected an integer"),
    (0, [*DETAIL, "price"], True, "tender.tenderDetail.price: expected an integer"),
    (0, [*DETAIL, "quantity"], 0, "tender: quantity of tender t1 must be a rate greater than zero"),
    (0, [*DETAIL, "quantity"], -5, "greater than zero"),
    (0, [*DETAIL, "quantity"], 10**41, "more than 40 digits"),
    (0, [*DETAIL, "type"], "block", "tender.tenderDetail.type: expected 'interval' or 'stream'"),
    (0, [*DETAIL, "extra"], 1, "tender.tenderDetail.extra: unknown field"),
    (0, ["tender", "priceScale"], 65, "tender.priceScale: scale 65 is beyond"),
    (0, ["tender", "side"], "HOLD", "tender.side: expected BUY or SELL"),
    (0, ["tender", "allOrNone"], "no", "tender.allOrNone: expected true or false"),
    (
        0,
        ["tender", "expirationTime"],
        "2026-06-01",
        "tender.expirationTime: '2026-06-01' has no UTC",
    ),
    (0, ["tender", "tenderId"], KeyError, "tender.tenderId: missing required field"),
    (0, ["tender", "tenderId"], "", "tender.tenderId: expected a non-empty string"),
    (0, ["tender", "marketId"], 7, "tender.marketId: expected a string"),
    (0, ["tender"], [], "tender: expected a JSON object, got a list"),
    (0, ["requestId"], KeyError, "requestId: missing required field"),
    (0, ["surprise"], 1, "surprise: unknown field"),
    (0, ["payloadType"], "EiCreateTenderX", "payloadType: unknown payload type"),
    (0, ["payloadType"], KeyError, "payloadType: missing required field"),
    (1, [*DETAIL, "streamIntervals", 1, "streamUid"], 0, "tender: stream tender s1 repeats"),
    (
        1,
        [*DETAIL, "streamIntervals", 0, "price"],
        "5",
        "streamIntervals[0].price: expected an integer",
    ),
    (
        1,
        [*DETAIL, "streamIntervals"],
        {},
        "tender.tenderDetail.streamIntervals: expected a JSON array",
    ),
    (
        1,
        [*DETAIL, "streamIntervals", 0, "streamUid"],
        -1,
        "streamIntervals[0]: stream interval uid",
    ),
    (1, [*DETAIL, "streamStart"], "2026-06-01T08:00", "tender.tenderDetail.streamStart: "),
    (
        2,
        ["tender", "product", "optionType"],
        "SWAP",
        "tender.product.optionType: expected CALL or PUT",
    ),
    (2, ["tender", "product", "underlying", "type"], "option", "tender.product.underlying.type"),
    (2, ["tender", "product", "granularity"], "PT0S", "tender.product.granularity"),
    (
        2,
        ["tender", "product", "underlying", "takeoutNode"],
        "bus-a",
        "tender.product.underlying: transport from",
    ),
    (6, ["transaction", "tender", "partyId"], "other", "transaction.tender.partyId"),
    (6, ["transaction", "counterPartyId"], "pv", "transaction: transaction x1: party and"),
    (6, ["transaction", "executedAt"], "yesterday", "transaction.executedAt"),
    (5, ["response", "responseCode"], "404", "response.responseCode: expected an integer"),
    (5, ["response", "responseDescription"], None, "response.responseDescription"),
    (9, ["boundingInterval", "duration"], "PT0M", "boundingInterval.duration"),
    (9, ["intervalDuration"], "soon", "intervalDuration"),
    (11, ["positions", 1, "quantityScale"], "x", "positions[1].quantityScale: expected an integer"),
    (12, ["quote", "quoteDetail", "quantity"], 0, "quote: quantity of quote q1"),
    (12, ["quote", "quoteDetail", "type"], "stream", "quote.quoteDetail.type: expected 'interval'"),
    (5, ["response", "responseDescription"], 7, "response.responseDescription: expected a string"),
    (1, ["tender", "product"], {"type": "power", "node": "n"}, "tender.product: a stream tender"),
    (13, ["quote", "priceScale"], 2, "quote.priceScale: given without quoteDetail.price"),
    (15, ["targetGroup", 0], "", "targetGroup[0]: expected a party id string"),
    (16, ["delivery", "energyScale"], KeyError, "delivery.energyScale: missing required field"),
]


@pytest.mark.parametrize(("index", "path", "value", "message"), CASES)
def test_decode_errors_name_the_field_and_the_problem(
    index: int, path: list[str | int], value: object, message: str
) -> None:
    with pytest.raises(CtsDecodeError) as caught:
        decode(broken(index, path, value))
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_stream_cannot_be_a_transaction() -> None:
    data = through_json(EXAMPLES[6])
    data["transaction"]["tender"] = copy.deepcopy(through_json(EXAMPLES[1])["tender"])
    data["transaction"]["tender"]["partyId"] = "pv"
    with pytest.raises(CtsDecodeError, match=r"transaction\.tender\.tenderDetail\.type"):
        decode(data)


def test_decode_rejects_a_non_object_and_encode_a_non_payload() -> None:
    with pytest.raises(CtsDecodeError, match="expected a JSON object"):
        decode([])  # type: ignore[arg-type]
    with pytest.raises(CtsEncodeError, match="not a CTS payload"):
        encode(TENDER)  # type: ignore[arg-type]


def test_decode_accepts_z_and_other_offsets_as_the_same_instant() -> None:
    data = through_json(EXAMPLES[0])
    data["tender"]["tenderDetail"]["interval"]["dtStart"] = "2026-06-01T14:00:00+02:00"
    data["tender"]["expirationTime"] = "2026-06-01T11:45:00Z"
    assert decode(data) == EXAMPLES[0]


def test_encode_rejects_non_finite_positions_bad_steps_and_empty_ids() -> None:
    reply = EXAMPLES[11]
    assert isinstance(reply, ReplyPosition)
    nan = ReplyPosition(
        party_id="m",
        in_response_to="r",
        market_id="",
        position_party="p",
        bounding_interval=Interval(T0, HOUR),
        positions=((Interval(T0, HOUR), Decimal("NaN")),),
    )
    with pytest.raises(CtsEncodeError, match="position is not finite"):
        encode(nan)
    step = RequestPosition(
        party_id="t",
        request_id="r",
        market_id="",
        position_party="p",
        bounding_interval=Interval(T0, HOUR),
        interval_duration=timedelta(0),
    )
    with pytest.raises(CtsEncodeError, match="duration must be positive"):
        encode(step)
    with pytest.raises(CtsEncodeError, match=r"CreatedTender\.in_response_to must not be empty"):
        encode(CreatedTender(party_id="m", counterparty_id="p", tender_id="t", in_response_to=""))
    group = DistributeTender(
        party_id="m", request_id="r", market_id="", target_group=("",), tenders=()
    )
    with pytest.raises(CtsEncodeError, match="target_group must not be empty"):
        encode(group)


def test_encode_rejects_numbers_beyond_the_wire_limits() -> None:
    huge = Tender("t", "p", Side.BUY, Interval(T0, HOUR), Decimal(10**45), Decimal(1))
    with pytest.raises(CtsEncodeError, match="more than 40 digits"):
        encode(
            CreateTender(
                party_id="p", counterparty_id="m", request_id="r", market_id=MARKET, tender=huge
            )
        )
    tender = Tender("t", "p", Side.BUY, Interval(T0, HOUR), Decimal("1E-70"), Decimal(1))
    payload = CreateTender(
        party_id="p", counterparty_id="m", request_id="r", market_id=MARKET, tender=tender
    )
    with pytest.raises(CtsEncodeError, match="beyond"):
        encode(payload)


# --- properties -----------------------------------------------------------------------------

decimals = st.builds(  # any exponent the wire carries, e.g. 0.080, 1E+3, -12.5
    lambda digits, scale: Decimal(digits).scaleb(-scale),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=-5, max_value=30),
)
stream_prices = st.decimals(min_value=-(10**6), max_value=10**6, places=6)
positive = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-:", min_size=1, max_size=12)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=-5)), ZoneInfo("Europe/Berlin")])
starts = st.builds(
    lambda minutes, tz: (T0 + timedelta(minutes=5 * minutes)).astimezone(tz),
    st.integers(min_value=-100_000, max_value=100_000),
    offsets,
)
durations = st.sampled_from([timedelta(minutes=5), QUARTER, HOUR, timedelta(days=1, hours=1)])
intervals = st.builds(Interval, starts, durations)


@st.composite
def tenders(draw: st.DrawFn) -> Tender:
    party = draw(ids)
    return Tender(
        tender_id=draw(ids),
        party=party,
        side=draw(st.sampled_from(Side)),
        interval=draw(intervals),
        price=draw(decimals),
        quantity=draw(positive),
        expires=draw(st.none() | starts),
        all_or_none=draw(st.booleans()),
        market_id=draw(st.just("") | ids),
        counterparty=draw(st.none() | ids.filter(lambda c: c != party)),
    )


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    party = draw(ids)
    return Transaction(
        transaction_id=draw(ids),
        tender_id=draw(ids),
        party=party,
        counterparty=draw(ids.filter(lambda c: c != party)),
        side=draw(st.sampled_from(Side)),
        interval=draw(intervals),
        price=draw(decimals),
        quantity=draw(positive),
        market_id=draw(ids),
        executed_at=draw(st.none() | starts),
    )


@settings(max_examples=150, deadline=None)
@given(tenders(), ids, ids)
def test_tenders_round_trip_exactly(tender: Tender, counterparty: str, request: str) -> None:
    payload = CreateTender(
        party_id=tender.party,
        counterparty_id=counterparty,
        request_id=request,
        market_id=tender.market_id,
        tender=tender,
    )
    decoded = decode(through_json(payload))
    assert decoded == payload
    assert isinstance(decoded, CreateTender) and isinstance(decoded.tender, Tender)
    assert decoded.tender.price.as_tuple() == tender.price.as_tuple()


@settings(max_examples=150, deadline=None)
@given(transactions())
def test_transactions_round_trip_exactly(transaction: Transaction) -> None:
    payload = CreateTransaction(
        party_id=transaction.counterparty,
        counterparty_id=transaction.party,
        request_id="r",
        market_id=transaction.market_id,
        transaction=transaction,
    )
    assert decode(through_json(payload)) == payload
    schema_for("EiCreateTransaction").validate(through_json(payload))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(stream_prices, positive), min_size=1, max_size=6), starts)
def test_streams_round_trip_exactly(
    entries: list[tuple[Decimal, Decimal]], start: datetime
) -> None:
    stream = StreamTender(
        tender_id="s",
        party="p",
        side=Side.SELL,
        stream_start=start,
        interval_duration=QUARTER,
        intervals=tuple(StreamInterval(i, p, q) for i, (p, q) in enumerate(entries)),
    )
    payload = DistributeTender(
        party_id="m", request_id="r", market_id="", target_group=("a",), tenders=(stream,)
    )
    assert decode(through_json(payload)) == payload
    schema_for("EiDistributeTender").validate(through_json(payload))


def test_reply_position_answers_from_a_position_book() -> None:
    request = EXAMPLES[9]
    assert isinstance(request, RequestPosition)
    reply = reply_position(PositionBook([TRANSACTION]), request, party_id="market")
    assert reply.in_response_to == "r6" and reply.position_party == "pv"
    assert [q for _, q in reply.positions] == [Decimal("2.5")] * 4 + [Decimal(0)] * 4
    whole = reply_position(PositionBook([TRANSACTION]), EXAMPLES[10], party_id="market")  # type: ignore[arg-type]
    assert whole.positions == ((Interval(T0, HOUR), Decimal("2.5")),)
    assert decode(through_json(reply)) == reply


def test_market_context_round_trips_and_matches_its_schema() -> None:
    context = MarketContext(
        MARKET,
        currency="EUR",
        interval_durations=(*DEFAULT_INTERVAL_DURATIONS, timedelta(days=1)),
        zone="Europe/Berlin",
    )
    data = json.loads(json.dumps(encode_market_context(context)))
    assert data["intervalDurations"] == ["PT5M", "PT15M", "PT1H", "P1D"]
    schema_for("MarketContext").validate(data)
    assert decode_market_context(data) == context


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("intervalDurations", ["PT5M", 5], "marketContext.intervalDurations[1]: expected an ISO"),
        ("intervalDurations", ["5 min"], "marketContext.intervalDurations[0]: duration '5 min'"),
        ("intervalDurations", [], "marketContext: market urn:temix:demo-building lists no"),
        ("timeZone", "Mars/Olympus", "marketContext: market urn:temix:demo-building: unknown"),
        ("currency", "", "marketContext.currency: expected a non-empty string"),
    ],
)
def test_market_context_decode_errors(key: str, value: object, message: str) -> None:
    data = encode_market_context(MarketContext(MARKET))
    data[key] = value
    with pytest.raises(CtsDecodeError) as caught:
        decode_market_context(data)
    assert message in str(caught.value)


def test_an_interval_is_written_with_its_own_offset_whatever_was_written_before() -> None:
    utc = Interval(datetime(2026, 6, 1, 12, tzinfo=UTC), timedelta(minutes=5))
    local = Interval(utc.start.astimezone(ZoneInfo("America/Los_Angeles")), utc.duration)
    assert utc == local
    assert encode_interval(utc)["dtStart"] == "2026-06-01T12:00:00+00:00"
    assert encode_interval(local)["dtStart"] == "2026-06-01T05:00:00-07:00"
