"""Ledger throughput: signed, hash-chained, durable entries per second, rounds of 1,000.

Prints, for the same machine in the same run:

- the ledger's ``append_round`` with one signature per party per round (the default),
- the ledger with one signature per entry (``SigningMode.ENTRY``),
- raw ``sqlite3.executemany`` of the same rows into a plain table (WAL,
  synchronous=FULL, one commit per 1,000 rows) — the ceiling for SQLite itself,

and the ledger/raw ratio. Run: ``python bench/ledger.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# Run as a script, this folder is first on sys.path, where bench/market.py would shadow the
# market package: look the packages up from the project instead.
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).parent]

from gateway.ledger import Ledger, NewEntry, SigningMode  # noqa: E402
from market.temix import Interval, Side, Transaction  # noqa: E402

ROUND_SIZE = 1000
AGENTS = [f"agent-{n}" for n in range(8)]
START = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _round(number: int) -> list[NewEntry]:
    """A market round: transactions between agents and the operator, CTS payloads."""
    entries = []
    interval = Interval(START + timedelta(minutes=5 * (number % 24)), timedelta(minutes=5))
    for i in range(ROUND_SIZE):
        agent = AGENTS[i % len(AGENTS)]
        transaction = Transaction(
            transaction_id=f"tx-{number}-{i}",
            tender_id=f"td-{number}-{i}",
            party=agent,
            counterparty="operator",
            side=Side.BUY if i % 2 else Side.SELL,
            interval=interval,
            price=Decimal("0.1234"),
            quantity=Decimal("12.5"),
        )
        entries.append(NewEntry.for_transaction(transaction, party="operator"))
    return entries


def bench_ledger(directory: Path, rounds: list[list[NewEntry]], signing: SigningMode) -> float:
    db = directory / f"ledger-{signing.value}.db"
    for stale in directory.glob(f"ledger-{signing.value}.db*"):
        stale.unlink()
    with Ledger.open(
        db, directory / "state", ["operator", *AGENTS], at=START, signing=signing
    ) as ledger:
        began = time.perf_counter()
        for number, entries in enumerate(rounds):
            ledger.append_round(entries, at=START + timedelta(seconds=number))
        elapsed = time.perf_counter() - began
    return len(rounds) * ROUND_SIZE / elapsed


def bench_raw(directory: Path, source: Path, count: int) -> float:
    """executemany of the very rows the ledger wrote, into a plain table, same durability."""
    with sqlite3.connect(source) as src:
        rows = src.execute(
            "SELECT * FROM ledger_entries WHERE kind = 'transaction' ORDER BY seq LIMIT ?",
            (count,),
        ).fetchall()
    src.close()
    for stale in directory.glob("raw.db*"):
        stale.unlink()
    conn = sqlite3.connect(directory / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    columns = ", ".join(f"c{n}" for n in range(1, len(rows[0])))
    conn.execute(f"CREATE TABLE entries (seq INTEGER PRIMARY KEY, {columns})")
    insert = f"INSERT INTO entries VALUES ({', '.join('?' * len(rows[0]))})"
    began = time.perf_counter()
    for offset in range(0, len(rows), ROUND_SIZE):
        conn.execute("BEGIN")
        conn.executemany(insert, rows[offset : offset + ROUND_SIZE])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    conn.close()
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds of 1,000 entries")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; best is shown")
    args = parser.parse_args()
    rounds = [_round(number) for number in range(args.rounds)]
    per_round = per_entry = raw = 0.0
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        directory = Path(tmp)
        for _ in range(args.repeat):
            per_round = max(per_round, bench_ledger(directory, rounds, SigningMode.ROUND))
            per_entry = max(per_entry, bench_ledger(directory, rounds, SigningMode.ENTRY))
            source = directory / "ledger-round.db"
            raw = max(raw, bench_raw(directory, source, len(rounds) * ROUND_SIZE))
    print(
        f"rounds of {ROUND_SIZE:,} entries, {args.rounds} rounds, WAL + synchronous=FULL, "
        f"best of {args.repeat}"
    )
    print(
        f"  ledger, signature per party per round : {per_round:>10,.0f} entries/s "
        f"({per_round / raw:.2f} x raw)"
    )
    print(
        f"  ledger, signature per entry           : {per_entry:>10,.0f} entries/s "
        f"({per_entry / raw:.2f} x raw)"
    )
    print(f"  raw sqlite3.executemany, same rows    : {raw:>10,.0f} entries/s")
    print(
        f"targets (default signing): >= 5,000 entries/s {_verdict(per_round >= 5000)}, "
        f">= 0.3 x raw {_verdict(per_round >= 0.3 * raw)}"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    main()
