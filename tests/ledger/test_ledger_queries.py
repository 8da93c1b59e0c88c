"""Positions, settlement statements and time-range queries answer from the ledger alone."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from ledger_kit import FIVE_MIN, PARTIES, T0, open_ledger, transaction

from gateway.ledger import EntryKind, LedgerReader, NewEntry, Settlement
from market.temix import Interval, PositionBook, Side

DAY = T0.date()
MIDNIGHT = T0.replace(hour=0)


def _random_transactions(rng: random.Random, count: int) -> list:  # type: ignore[type-arg]
    durations = [FIVE_MIN, timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)]
    result = []
    for number in range(count):
        duration = rng.choice(durations)
        slots = int(timedelta(days=1) / duration)
        start = (
            MIDNIGHT + duration * rng.randrange(slots) + timedelta(days=rng.choice([-1, 0, 0, 1]))
        )
        party, counterparty = rng.sample(PARTIES, 2)
        result.append(
            transaction(
                number,
                party=party,
                counterparty=counterparty,
                side=rng.choice([Side.BUY, Side.SELL]),
                start=start,
                duration=duration,
                quantity=str(Decimal(rng.randrange(1, 500)) / 10),
            )
        )
    return result


def test_positions_agree_with_position_book(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    transactions = _random_transactions(rng, 300)
    book = PositionBook(transactions)
    with open_ledger(tmp_path) as ledger:
        for start in range(0, len(transactions), 50):
            chunk = transactions[start : start + 50]
            ledger.append_round(
                [NewEntry.for_transaction(t, party="operator") for t in chunk], at=T0
            )
        for party in PARTIES:
            from_ledger = ledger.positions(party, DAY, step=FIVE_MIN)
            assert len(from_ledger) == 288
            expected = book.positions(party, Interval(MIDNIGHT, timedelta(days=1)), FIVE_MIN)
            assert from_ledger == expected
    assert any(kw for _, kw in expected)


def test_position_nests_hour_and_five_minute_trades(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.append_round(
            [
                NewEntry.for_transaction(
                    transaction(1, duration=timedelta(hours=1), quantity="10"), party="operator"
                ),
                NewEntry.for_transaction(
                    transaction(2, side=Side.BUY, quantity="3"), party="operator"
                ),
                NewEntry.for_transaction(
                    transaction(
                        3,
                        party="operator",
                        counterparty="battery",
                        side=Side.SELL,
                        start=T0 + FIVE_MIN,
                        quantity="4",
                    ),
                    party="operator",
                ),
            ],
            at=T0,
        )
    with LedgerReader(tmp_path / "ledger.db") as reader:
        rows = dict(reader.positions("battery", DAY))
        operator = dict(reader.positions("operator", DAY))
    slot = Interval(T0, FIVE_MIN)
    next_slot = Interval(T0 + FIVE_MIN, FIVE_MIN)
    assert rows[slot] == Decimal("7")
    assert rows[next_slot] == Decimal("6")
    assert rows[Interval(T0 + 2 * FIVE_MIN, FIVE_MIN)] == Decimal("10")
    assert rows[Interval(T0 - FIVE_MIN, FIVE_MIN)] == 0
    assert operator[slot] == Decimal("-7")


def test_positions_of_a_local_day(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.append(
            NewEntry.for_transaction(
                transaction(1, start=MIDNIGHT + timedelta(hours=30), duration=timedelta(hours=1)),
                party="operator",
            ),
            at=T0,
        )
        rows = ledger.positions("battery", DAY, zone="America/Los_Angeles")
    assert len(rows) == 24
    traded = [(interval.start.hour, kw) for interval, kw in rows if kw]
    assert traded == [(22, Decimal("10"))]


def test_settlement_statement_to_the_cent(tmp_path: Path) -> None:
    lines = [
        ("battery", T0, "1.20"),
        ("battery", T0 + FIVE_MIN, "-0.35"),
        ("battery", T0 + timedelta(days=1), "9.99"),
        ("hvac-1", T0, "-2.00"),
        ("battery", MIDNIGHT, "0.01"),
    ]
    with open_ledger(tmp_path) as ledger:
        ledger.append_round(
            [
                NewEntry.for_settlement(
                    Settlement(party, Interval(start, FIVE_MIN), Decimal(amount)),
                    {"settled": party, "amount": amount},
                    party="operator",
                )
                for party, start, amount in lines
            ],
            at=T0,
        )
        statement = ledger.settlement_statement("battery", DAY)
    assert statement.total == Decimal("0.86")
    assert [line.amount for line in statement.lines] == [
        Decimal("0.01"),
        Decimal("1.20"),
        Decimal("-0.35"),
    ]
    assert statement.lines[1].payload == {"settled": "battery", "amount": "1.20"}
    with LedgerReader(tmp_path / "ledger.db") as reader:
        assert reader.settlement_statement("hvac-1", DAY).total == Decimal("-2.00")
        assert reader.settlement_statement("hvac-1", date(2026, 11, 24)).lines == ()


def test_events_in_a_time_range(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        for minute in range(10):
            ledger.append_round(
                [
                    NewEntry(EntryKind.ISLANDING_EVENT, "operator", {"state": f"s{minute}"}),
                    NewEntry(EntryKind.ALARM, "battery", {"alarm": minute}),
                ],
                at=T0 + timedelta(minutes=minute),
            )
        ledger.append(
            NewEntry(EntryKind.DELIVERY, "battery", {"kwh": "1"}, at=T0 + timedelta(seconds=90)),
            at=T0 + timedelta(minutes=20),
        )
        window = ledger.events(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
        alarms = ledger.events(T0, T0 + timedelta(hours=1), [EntryKind.ALARM])
    assert [(e.kind, e.payload) for e in window] == [
        ("islanding_event", {"state": "s1"}),
        ("alarm", {"alarm": 1}),
        ("delivery", {"kwh": "1"}),
        ("islanding_event", {"state": "s2"}),
        ("alarm", {"alarm": 2}),
    ]
    assert [e.payload["alarm"] for e in alarms] == list(range(10))


def test_reader_sees_committed_rounds_while_the_writer_runs(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.append(NewEntry.for_transaction(transaction(1), party="operator"), at=T0)
        with LedgerReader(tmp_path / "ledger.db") as reader:
            assert dict(reader.positions("battery", DAY))[Interval(T0, FIVE_MIN)] == 10
