"""Read-only access to a ledger file (CLI, audits): no writer lock, no migrations.

Safe while the gateway is writing: WAL readers see the last committed round.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TextIO

from gateway.ledger import export, queries
from gateway.ledger.connection import open_reader
from gateway.ledger.entries import Entry, EntryKind
from gateway.ledger.schema import require_ledger
from market.temix import Interval


class LedgerReader:
    """Queries and exports over a ledger opened read-only."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn = open_reader(self.path)
        try:
            require_ledger(self._conn, self.path)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LedgerReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def positions(
        self, party: str, day: date, *, zone: tzinfo | str = "UTC", step: timedelta | None = None
    ) -> list[tuple[Interval, Decimal]]:
        return queries.positions(self._conn, party, day, zone=zone, step=step)

    def settlement_statement(
        self, party: str, day: date, *, zone: tzinfo | str = "UTC"
    ) -> queries.SettlementStatement:
        return queries.settlement_statement(self._conn, party, day, zone=zone)

    def events(
        self, start: datetime | None, end: datetime | None, kinds: Iterable[EntryKind] | None = None
    ) -> list[Entry]:
        return list(queries.events(self._conn, start, end, kinds))

    def export(
        self, out: TextIO, fmt: str, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """Write entries in ``fmt`` ("csv" or "json") to ``out``; returns the count."""
        writer = export.export_csv if fmt == "csv" else export.export_json
        self._conn.execute("BEGIN")
        try:
            return writer(self._conn, out, start, end)
        finally:
            self._conn.execute("COMMIT")
