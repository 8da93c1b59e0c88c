"""Read-side queries over a ledger connection (used by the writer and by the CLI).

Positions are built from the transaction facts with :class:`market.temix.PositionBook`,
so the ledger and the market agree on TeMIX semantics (nested intervals, sign).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from gateway.ledger.entries import (
    GENESIS_HASH,
    Entry,
    EntryKind,
    from_epoch_us,
    transaction_from_facts,
    utc_text,
)
from market.temix import Interval, PositionBook, local_day

ENTRY_COLUMNS = "seq, time, kind, party, payload, facts, prev_hash, hash, signature"


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def party_keys(conn: sqlite3.Connection) -> dict[str, str]:
    """Recorded public keys (hex) by party."""
    return dict(conn.execute("SELECT party, public_key FROM ledger_party_keys").fetchall())


def entry_from_row(row: tuple[Any, ...]) -> Entry:
    seq, time, kind, party, payload, facts, prev_hash, digest, signature = row
    return Entry(
        seq=seq,
        time=datetime.fromisoformat(time),
        kind=kind,
        party=party,
        payload=json.loads(payload),
        facts=None if facts is None else json.loads(facts),
        prev_hash=prev_hash,
        hash=digest,
        signature=signature,
    )


def events(
    conn: sqlite3.Connection,
    start: datetime | None,
    end: datetime | None,
    kinds: Iterable[EntryKind] | None = None,
) -> Iterator[Entry]:
    """Entries with ``start <= time < end`` (either bound may be open), oldest first."""
    for row in raw_events(conn, start, end, kinds):
        yield entry_from_row(row)


def raw_events(
    conn: sqlite3.Connection,
    start: datetime | None,
    end: datetime | None,
    kinds: Iterable[EntryKind] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Rows as stored (payload and facts as canonical JSON text), in time order."""
    where, params = _time_filter(start, end)
    if kinds is not None:
        wanted = [str(kind) for kind in kinds]
        where.append(f"kind IN ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    sql = f"SELECT {ENTRY_COLUMNS} FROM ledger_entries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    yield from conn.execute(sql + " ORDER BY time, seq", params)


def _time_filter(start: datetime | None, end: datetime | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if start is not None:
        where.append("time >= ?")
        params.append(utc_text(start))
    if end is not None:
        where.append("time < ?")
        params.append(utc_text(end))
    return where, params


def positions(
    conn: sqlite3.Connection,
    party: str,
    day: date,
    *,
    zone: tzinfo | str = "UTC",
    step: timedelta | None = None,
) -> list[tuple[Interval, Decimal]]:
    """Net position of ``party`` (kW, + = net seller) for each ``step`` of the local day.

    ``step`` defaults to the shortest interval the party traded that day (5 minutes when
    it traded nothing), so every traded interval shows at its own granularity.
    """
    bounding = local_day(day, zone)
    start_us = bounding.start_us
    end_us = start_us + bounding.duration_us
    rows = conn.execute(
        "SELECT facts FROM ledger_entries WHERE subject_party = ? AND kind = 'transaction' "
        "AND start_us < ? AND end_us > ? "
        "UNION ALL "
        "SELECT facts FROM ledger_entries WHERE subject_counterparty = ? "
        "AND kind = 'transaction' AND start_us < ? AND end_us > ?",
        (party, end_us, start_us, party, end_us, start_us),
    ).fetchall()
    book = PositionBook(transaction_from_facts(json.loads(row[0])) for row in rows)
    if step is None:
        shortest = min((json.loads(row[0])["durationUs"] for row in rows), default=None)
        step = timedelta(minutes=5) if shortest is None else timedelta(microseconds=shortest)
        if bounding.duration % step:
            step = timedelta(minutes=5)
    return book.positions(party, bounding, step)


@dataclass(frozen=True, slots=True)
class SettlementLine:
    seq: int
    interval: Interval
    amount: Decimal
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SettlementStatement:
    """What ``party`` is paid (+) or pays (−) for the intervals starting on ``day``."""

    party: str
    day: date
    lines: tuple[SettlementLine, ...]
    total: Decimal


def settlement_statement(
    conn: sqlite3.Connection, party: str, day: date, *, zone: tzinfo | str = "UTC"
) -> SettlementStatement:
    bounding = local_day(day, zone)
    start_us = bounding.start_us
    rows = conn.execute(
        "SELECT seq, start_us, end_us, facts, payload FROM ledger_entries "
        "WHERE subject_party = ? AND kind = 'settlement' AND start_us >= ? AND start_us < ? "
        "ORDER BY start_us, seq",
        (party, start_us, start_us + bounding.duration_us),
    ).fetchall()
    lines = tuple(
        SettlementLine(
            seq=seq,
            interval=Interval(from_epoch_us(begin), timedelta(microseconds=end - begin)),
            amount=Decimal(json.loads(facts)["amount"]),
            payload=json.loads(payload),
        )
        for seq, begin, end, facts, payload in rows
    )
    return SettlementStatement(party, day, lines, sum((line.amount for line in lines), Decimal(0)))
