"""Shared builders for the ledger tests: a fixed start time, parties, transactions, rounds."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from gateway.ledger import EntryKind, Ledger, NewEntry
from market.temix import Interval, Side, Transaction

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PARTIES = ("operator", "trader", "battery", "hvac-1")
FIVE_MIN = timedelta(minutes=5)


def open_ledger(tmp_path: Path, **options: object) -> Ledger:
    return Ledger.open(tmp_path / "ledger.db", tmp_path / "state", PARTIES, at=T0, **options)  # type: ignore[arg-type]


def transaction(
    number: int,
    *,
    party: str = "battery",
    counterparty: str = "operator",
    side: Side = Side.SELL,
    start: datetime = T0,
    duration: timedelta = FIVE_MIN,
    price: str = "0.12",
    quantity: str = "10",
) -> Transaction:
    return Transaction(
        transaction_id=f"tx-{number}",
        tender_id=f"td-{number}",
        party=party,
        counterparty=counterparty,
        side=side,
        interval=Interval(start, duration),
        price=Decimal(price),
        quantity=Decimal(quantity),
    )


def market_round(number: int, size: int = 10) -> list[NewEntry]:
    """A round of transactions plus an alarm and an operator command."""
    entries = [
        NewEntry.for_transaction(
            transaction(number * 1000 + i, start=T0 + FIVE_MIN * (i % 12)), party="operator"
        )
        for i in range(size)
    ]
    entries.append(NewEntry(EntryKind.ALARM, "battery", {"alarm": "soc_low", "round": number}))
    entries.append(NewEntry(EntryKind.OPERATOR_COMMAND, "trader", {"command": "hold"}))
    return entries


def raw_connection(db: Path) -> sqlite3.Connection:
    """A plain connection for tampering, with the append-only triggers removed."""
    conn = sqlite3.connect(db, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn
