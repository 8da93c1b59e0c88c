"""Tenders, acceptance, the tender book, options, quotes, deliveries — and every error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from market.temix import (
    AllOrNoneError,
    CounterpartyError,
    Delivery,
    Interval,
    IntervalError,
    MarketContext,
    OptionExercise,
    OptionExerciseError,
    OptionKind,
    OptionProduct,
    Party,
    PowerProduct,
    PriceError,
    Publication,
    QuantityError,
    Quote,
    Side,
    StreamInterval,
    StreamTender,
    TemixError,
    Tender,
    TenderBook,
    TenderExpiredError,
    Transaction,
    TransactiveState,
    TransportProduct,
    UnknownTenderError,
    accept,
    exercise,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FIVE = timedelta(minutes=5)
QUARTER = timedelta(minutes=15)
SLOT = Interval(T0, HOUR)


def make_tender(**changes: object) -> Tender:
    fields: dict[str, object] = {
        "tender_id": "t1",
        "party": "pv",
        "side": Side.SELL,
        "interval": SLOT,
        "price": Decimal("0.080"),
        "quantity": Decimal(10),
        "expires": T0 - FIVE,
        "market_id": "urn:temix:demo",
    }
    fields.update(changes)
    return Tender(**fields)  # type: ignore[arg-type]


# --- tenders --------------------------------------------------------------------------------


def test_tender_carries_state_energy_and_money() -> None:
    tender = make_tender()
    assert tender.state is TransactiveState.TENDER
    assert tender.energy_kwh == 10
    assert tender.extended_price == Decimal("0.8")


def test_side_given_as_text_becomes_side() -> None:
    assert make_tender(side="BUY").side is Side.BUY
    assert Side.BUY.opposite is Side.SELL and Side.SELL.opposite is Side.BUY


@pytest.mark.parametrize("quantity", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_tender_quantity_must_be_positive_and_finite(quantity: Decimal) -> None:
    with pytest.raises(QuantityError, match="greater than zero"):
        make_tender(quantity=quantity)


def test_tender_quantity_must_not_be_a_float() -> None:
    with pytest.raises(QuantityError, match="Decimal"):
        make_tender(quantity=1.5)


@pytest.mark.parametrize("price", [Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN")])
def test_tender_price_must_be_finite(price: Decimal) -> None:
    with pytest.raises(PriceError, match="finite"):
        make_tender(price=price)


def test_tender_price_must_not_be_a_float() -> None:
    with pytest.raises(PriceError, match="Decimal"):
        make_tender(price=0.08)


def test_negative_prices_and_integer_inputs_are_fine() -> None:
    tender = make_tender(price=-1, quantity=3)
    assert tender.price == Decimal(-1) and isinstance(tender.quantity, Decimal)


def test_tender_rejects_bad_side_ids_expiry_interval_and_self_address() -> None:
    with pytest.raises(TemixError, match="BUY or SELL"):
        make_tender(side="HOLD")
    with pytest.raises(TemixError, match="tender_id"):
        make_tender(tender_id="")
    with pytest.raises(IntervalError, match="timezone-aware"):
        make_tender(expires=datetime(2026, 6, 1, 11, 0))
    with pytest.raises(IntervalError, match="must be an Interval"):
        make_tender(interval=(T0, HOUR))
    with pytest.raises(CounterpartyError, match="its own party"):
        make_tender(counterparty="pv")
    with pytest.raises(TemixError, match="all_or_none of tender t1 must be True or False"):
        make_tender(all_or_none="false")


def test_product_sets_the_resource_designator() -> None:
    assert make_tender(product=PowerProduct("bus-1")).resource == "POWER"
    assert make_tender(product=TransportProduct("a", "b")).resource == "TRANSPORT"
    with pytest.raises(TemixError, match="product must be"):
        make_tender(product="power")
    with pytest.raises(TemixError, match="to itself"):
        TransportProduct("a", "a")
    with pytest.raises(TemixError, match="node"):
        PowerProduct("")


# --- acceptance -----------------------------------------------------------------------------


def test_accept_makes_a_transaction_naming_both_parties() -> None:
    tx = accept(
        make_tender(), quantity=Decimal(4), counterparty="market", transaction_id="x1", at=T0 - HOUR
    )
    assert (tx.party, tx.counterparty, tx.side) == ("pv", "market", Side.SELL)
    assert (tx.tender_id, tx.quantity, tx.price, tx.interval) == ("t1", 4, Decimal("0.080"), SLOT)
    assert tx.executed_at == T0 - HOUR and tx.market_id == "urn:temix:demo"
    assert tx.state is TransactiveState.TRANSACTION
    assert tx.side_of("market") is Side.BUY and tx.side_of("pv") is Side.SELL
    assert tx.extended_price == Decimal("0.32")
    with pytest.raises(CounterpartyError, match="not a party"):
        tx.side_of("someone")


def test_accept_at_the_expiry_instant_is_allowed_after_it_is_not() -> None:
    tender = make_tender()
    accept(tender, quantity=Decimal(1), counterparty="m", transaction_id="x", at=T0 - FIVE)
    with pytest.raises(TenderExpiredError, match="too late"):
        accept(
            tender,
            quantity=Decimal(1),
            counterparty="m",
            transaction_id="x",
            at=T0 - FIVE + timedelta(microseconds=1),
        )


def test_accept_beyond_remaining_quantity_is_rejected() -> None:
    with pytest.raises(QuantityError, match="has 3 kW left"):
        accept(
            make_tender(),
            quantity=Decimal(4),
            counterparty="m",
            transaction_id="x",
            at=T0 - HOUR,
            already_accepted=Decimal(7),
        )


def test_accept_rejects_non_positive_quantity() -> None:
    with pytest.raises(QuantityError, match="greater than zero"):
        accept(
            make_tender(), quantity=Decimal(0), counterparty="m", transaction_id="x", at=T0 - HOUR
        )


def test_all_or_none_accepts_only_the_whole_once() -> None:
    tender = make_tender(all_or_none=True)
    whole = accept(tender, quantity=Decimal(10), counterparty="m", transaction_id="x", at=T0 - HOUR)
    assert whole.quantity == 10
    with pytest.raises(AllOrNoneError, match="all-or-none"):
        accept(tender, quantity=Decimal(5), counterparty="m", transaction_id="x", at=T0 - HOUR)
    with pytest.raises(AllOrNoneError):
        accept(
            tender,
            quantity=Decimal(10),
            counterparty="m",
            transaction_id="x",
            at=T0 - HOUR,
            already_accepted=Decimal(10),
        )


def test_own_and_misdirected_acceptance_is_rejected() -> None:
    with pytest.raises(CounterpartyError, match="its own tender"):
        accept(
            make_tender(), quantity=Decimal(1), counterparty="pv", transaction_id="x", at=T0 - HOUR
        )
    directed = make_tender(counterparty="market")
    with pytest.raises(CounterpartyError, match="addressed to 'market'"):
        accept(
            directed, quantity=Decimal(1), counterparty="battery", transaction_id="x", at=T0 - HOUR
        )


def test_accept_requires_an_aware_time() -> None:
    with pytest.raises(IntervalError, match="timezone-aware"):
        accept(
            make_tender(),
            quantity=Decimal(1),
            counterparty="m",
            transaction_id="x",
            at=datetime(2026, 6, 1),
        )


def test_transaction_rejects_self_dealing_and_bad_values() -> None:
    base = {
        "transaction_id": "x",
        "tender_id": "t",
        "party": "a",
        "counterparty": "b",
        "side": Side.BUY,
        "interval": SLOT,
        "price": Decimal(1),
        "quantity": Decimal(1),
    }
    with pytest.raises(CounterpartyError, match="both 'a'"):
        Transaction(**{**base, "counterparty": "a"})  # type: ignore[arg-type]
    with pytest.raises(QuantityError):
        Transaction(**{**base, "quantity": Decimal(-1)})  # type: ignore[arg-type]
    with pytest.raises(PriceError):
        Transaction(**{**base, "price": Decimal("NaN")})  # type: ignore[arg-type]
    with pytest.raises(IntervalError):
        Transaction(**{**base, "executed_at": datetime(2026, 1, 1)})  # type: ignore[arg-type]


# --- tender book ----------------------------------------------------------------------------


def test_expiry_compares_instants_in_the_repeated_autumn_hour() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from market.temix import local_day

    hours = local_day(date(2026, 11, 1), ZoneInfo("America/New_York")).split(HOUR)
    first_one_thirty = hours[1].split(timedelta(minutes=30))[1].start  # 01:30 EDT
    second_one_ten = hours[2].split(timedelta(minutes=10))[1].start  # 01:10 EST, later
    tender = make_tender(interval=Interval(T0.replace(month=12), HOUR), expires=first_one_thirty)
    assert tender.is_expired(second_one_ten)
    with pytest.raises(TenderExpiredError):
        accept(tender, quantity=Decimal(1), counterparty="m", transaction_id="x", at=second_one_ten)


def test_tender_book_tracks_partial_acceptance() -> None:
    book = TenderBook()
    book.add(make_tender())
    assert "t1" in book and len(book) == 1
    book.accept("t1", quantity=Decimal(6), counterparty="a", transaction_id="x1", at=T0 - HOUR)
    assert book.remaining("t1") == 4 and book.accepted("t1") == 6
    with pytest.raises(QuantityError, match="has 4 kW left"):
        book.accept("t1", quantity=Decimal(5), counterparty="b", transaction_id="x2", at=T0 - HOUR)
    book.accept("t1", quantity=Decimal(4), counterparty="b", transaction_id="x2", at=T0 - HOUR)
    assert book.remaining("t1") == 0
    assert book.standing(T0 - HOUR) == []


def test_tender_book_standing_filters_expiry_and_interval() -> None:
    book = TenderBook()
    book.add(make_tender())
    book.add(make_tender(tender_id="t2", interval=Interval(T0 + HOUR, HOUR), expires=None))
    assert [t.tender_id for t in book.standing(T0 - HOUR)] == ["t1", "t2"]
    assert [t.tender_id for t in book.standing(T0)] == ["t2"]
    assert [t.tender_id for t in book.standing(T0 - HOUR, SLOT)] == ["t1"]


def test_tender_book_rejects_duplicates_and_unknown_or_cancelled_ids() -> None:
    book = TenderBook()
    book.add(make_tender())
    with pytest.raises(TemixError, match="already in the book"):
        book.add(make_tender())
    assert book.cancel("t1").tender_id == "t1"
    with pytest.raises(UnknownTenderError, match="no standing tender 't1'"):
        book.accept("t1", quantity=Decimal(1), counterparty="a", transaction_id="x", at=T0 - HOUR)
    with pytest.raises(UnknownTenderError):
        book.remaining("nope")


# --- stream tenders, quotes, deliveries, publications, context -----------------------------


def test_stream_tender_splits_into_interval_tenders() -> None:
    stream = StreamTender(
        tender_id="s1",
        party="battery",
        side=Side.BUY,
        stream_start=T0,
        interval_duration=QUARTER,
        intervals=(
            StreamInterval(0, Decimal("0.05"), Decimal(20)),
            StreamInterval(1, Decimal("0.06"), Decimal(10)),
        ),
    )
    assert stream.bounding == Interval(T0, 2 * QUARTER)
    tenders = stream.tenders()
    assert [t.tender_id for t in tenders] == ["s1/0", "s1/1"]
    assert tenders[1].interval == Interval(T0 + QUARTER, QUARTER)
    assert tenders[1].price == Decimal("0.06")


def test_stream_tender_rejects_empty_repeated_and_bad_entries() -> None:
    common = {
        "tender_id": "s",
        "party": "p",
        "side": Side.BUY,
        "stream_start": T0,
        "interval_duration": FIVE,
    }
    with pytest.raises(TemixError, match="no intervals"):
        StreamTender(**common, intervals=())  # type: ignore[arg-type]
    entry = StreamInterval(1, Decimal(1), Decimal(1))
    with pytest.raises(TemixError, match="repeats a stream uid"):
        StreamTender(**common, intervals=(entry, entry))  # type: ignore[arg-type]
    with pytest.raises(TemixError, match="uid"):
        StreamInterval(-1, Decimal(1), Decimal(1))
    with pytest.raises(TemixError, match="must be StreamInterval"):
        StreamTender(**common, intervals=((0, Decimal(1), Decimal(1)),))  # type: ignore[arg-type]
    with pytest.raises(TemixError, match="all_or_none"):
        StreamTender(**common, intervals=(entry,), all_or_none=1)  # type: ignore[arg-type]
    with pytest.raises(IntervalError):
        naive = {**common, "stream_start": datetime(2026, 1, 1)}
        StreamTender(**naive, intervals=(entry,))  # type: ignore[arg-type]


def test_quote_is_an_indication_of_interest() -> None:
    quote = Quote("q1", "hvac", Side.BUY, SLOT, Decimal(5), price=Decimal("0.1"))
    assert quote.state is TransactiveState.INDICATION_OF_INTEREST and quote.is_priced
    assert not Quote("q2", "hvac", Side.BUY, SLOT, Decimal(5)).is_priced
    with pytest.raises(QuantityError):
        Quote("q3", "hvac", Side.BUY, SLOT, Decimal(0))


def test_delivery_average_rate_and_sign() -> None:
    delivery = Delivery("d1", "pv", Interval(T0, FIVE), Decimal("0.5"))
    assert delivery.average_kw == 6 and delivery.state is TransactiveState.DELIVERY
    assert Delivery("d2", "load", SLOT, Decimal(-3)).average_kw == -3
    with pytest.raises(QuantityError, match="finite"):
        Delivery("d3", "pv", SLOT, Decimal("NaN"))
    with pytest.raises(QuantityError, match="must be a Decimal"):
        Delivery("d4", "pv", SLOT, 0.5)  # type: ignore[arg-type]


def test_publication_validates_price_and_volume() -> None:
    publication = Publication("p1", "urn:m", SLOT, Decimal("0.07"), Decimal(0))
    assert publication.state is TransactiveState.PUBLICATION
    with pytest.raises(QuantityError, match="zero or more"):
        Publication("p2", "urn:m", SLOT, Decimal("0.07"), Decimal(-1))


def test_party_and_market_context_validation() -> None:
    assert Party("pv", "Rooftop PV").party_id == "pv"
    with pytest.raises(TemixError, match="party_id"):
        Party("")
    with pytest.raises(TemixError, match="unknown time zone"):
        MarketContext("urn:m", zone="Mars/Olympus")
    with pytest.raises(IntervalError, match="no interval durations"):
        MarketContext("urn:m", interval_durations=())
    with pytest.raises(IntervalError, match="positive"):
        MarketContext("urn:m", interval_durations=(timedelta(0),))
    with pytest.raises(TemixError, match="currency"):
        MarketContext("urn:m", currency="")


def test_market_context_checks_tender_market_and_alignment() -> None:
    context = MarketContext("urn:temix:demo")
    context.check(make_tender())
    with pytest.raises(TemixError, match="belongs to market 'urn:other'"):
        context.check(make_tender(market_id="urn:other"))
    with pytest.raises(IntervalError, match="not aligned"):
        context.check(make_tender(interval=Interval(T0 + FIVE, HOUR)))


# --- options --------------------------------------------------------------------------------

CALL = OptionProduct(
    kind=OptionKind.CALL,
    underlying=PowerProduct("pcc"),
    strike_price=Decimal("0.20"),
    premium=Decimal("0.01"),
    exercise_lead_time=QUARTER,
    granularity=QUARTER,
    exercise_window=Interval(T0 - 2 * HOUR, 2 * HOUR),
)


def option_transaction(product: OptionProduct = CALL, side: Side = Side.SELL) -> Transaction:
    """The battery wrote (sold) an option for 10 kW over the hour to the building."""
    return Transaction(
        transaction_id="opt1",
        tender_id="ot1",
        party="battery",
        counterparty="building",
        side=side,
        interval=SLOT,
        price=Decimal("0.01"),
        quantity=Decimal(10),
        product=product,
    )


def test_call_exercise_creates_a_buy_for_the_holder_at_the_strike() -> None:
    tx = exercise(
        option_transaction(),
        interval=Interval(T0 + QUARTER, QUARTER),
        quantity=Decimal(6),
        transaction_id="e1",
        at=T0 - HOUR,
    )
    assert (tx.party, tx.counterparty, tx.side, tx.price) == (
        "building",
        "battery",
        Side.BUY,
        Decimal("0.20"),
    )
    assert tx.product == PowerProduct("pcc") and tx.tender_id == "opt1"
    assert tx.interval == Interval(T0 + QUARTER, QUARTER)


def test_put_exercise_sells_and_holder_follows_the_option_side() -> None:
    put = OptionProduct(
        OptionKind.PUT, PowerProduct("pcc"), Decimal("0.02"), Decimal(0), timedelta(0), FIVE
    )
    record = OptionExercise(
        "e1", option_transaction(put, Side.BUY), Interval(T0, FIVE), Decimal(1), T0
    )
    assert record.state is TransactiveState.EXERCISE
    assert (record.holder, record.writer) == ("battery", "building")
    tx = record.transaction()
    assert (tx.party, tx.side) == ("battery", Side.SELL)


def test_exercise_without_lead_time_is_rejected() -> None:
    with pytest.raises(OptionExerciseError, match="too late"):
        exercise(
            option_transaction(),
            interval=Interval(T0, QUARTER),
            quantity=Decimal(1),
            transaction_id="e",
            at=T0 - FIVE,
        )


def test_exercise_outside_the_window_is_rejected() -> None:
    with pytest.raises(OptionExerciseError, match="outside the exercise window"):
        exercise(
            option_transaction(),
            interval=Interval(T0 + HOUR - QUARTER, QUARTER),
            quantity=Decimal(1),
            transaction_id="e",
            at=T0 - 3 * HOUR,
        )


def test_exercise_shorter_than_granularity_is_rejected() -> None:
    with pytest.raises(OptionExerciseError, match="shorter than the option's granularity PT15M"):
        exercise(
            option_transaction(),
            interval=Interval(T0, FIVE),
            quantity=Decimal(1),
            transaction_id="e",
            at=T0 - HOUR,
        )


def test_exercise_outside_the_option_interval_is_rejected() -> None:
    with pytest.raises(OptionExerciseError, match="lies outside option opt1"):
        exercise(
            option_transaction(),
            interval=Interval(T0 + HOUR, QUARTER),
            quantity=Decimal(1),
            transaction_id="e",
            at=T0 - HOUR,
        )


def test_exercise_beyond_the_option_quantity_is_rejected() -> None:
    with pytest.raises(OptionExerciseError, match="exceeds the option's 10 kW"):
        exercise(
            option_transaction(),
            interval=Interval(T0, QUARTER),
            quantity=Decimal(4),
            transaction_id="e",
            at=T0 - HOUR,
            already_exercised=Decimal(7),
        )


def test_exercise_of_a_non_option_is_rejected() -> None:
    plain = Transaction("x", "t", "a", "b", Side.BUY, SLOT, Decimal(1), Decimal(1))
    with pytest.raises(OptionExerciseError, match="is not an option"):
        exercise(
            plain,
            interval=Interval(T0, QUARTER),
            quantity=Decimal(1),
            transaction_id="e",
            at=T0 - HOUR,
        )


def test_lead_time_counts_elapsed_time_across_fall_back() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from market.temix import local_day

    hours = local_day(date(2026, 11, 1), ZoneInfo("America/New_York")).split(HOUR)
    product = OptionProduct(
        OptionKind.CALL, PowerProduct("pcc"), Decimal(1), Decimal(0), HOUR, QUARTER
    )
    option = Transaction(
        "o",
        "t",
        "w",
        "h",
        Side.SELL,
        Interval(hours[0].start, 4 * HOUR),
        Decimal(0),
        Decimal(1),
        product=product,
    )
    target = hours[2].split(QUARTER)[0]  # 01:00 EST; an hour before is 01:00 EDT
    exercise(option, interval=target, quantity=Decimal(1), transaction_id="e", at=hours[1].start)
    with pytest.raises(OptionExerciseError, match="too late"):
        exercise(
            option,
            interval=target,
            quantity=Decimal(1),
            transaction_id="e",
            at=hours[1].split(FIVE)[1].start,
        )


def test_option_product_validation() -> None:
    with pytest.raises(IntervalError, match="exercise window"):
        OptionProduct(
            OptionKind.CALL,
            PowerProduct("n"),
            Decimal(1),
            Decimal(0),
            FIVE,
            FIVE,
            exercise_window=(T0, HOUR),  # type: ignore[arg-type]
        )
    with pytest.raises(TemixError, match="CALL or PUT"):
        OptionProduct(
            "SWAP",
            PowerProduct("n"),
            Decimal(1),
            Decimal(0),
            FIVE,
            FIVE,  # type: ignore[arg-type]
        )
    with pytest.raises(IntervalError, match="lead time"):
        OptionProduct(OptionKind.CALL, PowerProduct("n"), Decimal(1), Decimal(0), -FIVE, FIVE)
    with pytest.raises(IntervalError, match="granularity"):
        OptionProduct(
            OptionKind.CALL, PowerProduct("n"), Decimal(1), Decimal(0), FIVE, timedelta(0)
        )
    with pytest.raises(PriceError, match="strike"):
        OptionProduct(OptionKind.CALL, PowerProduct("n"), Decimal("NaN"), Decimal(0), FIVE, FIVE)
    with pytest.raises(TemixError, match="underlying"):
        OptionProduct(
            OptionKind.CALL,
            "n",
            Decimal(1),
            Decimal(0),
            FIVE,
            FIVE,  # type: ignore[arg-type]
        )
    assert CALL.resource == "POWER" and CALL.holder_side is Side.BUY
