"""Export ledger entries as CSV or JSON, streaming (the file may hold millions of entries).

Both formats carry every field the hash and signature cover. CSV keeps payload and facts
as the exact canonical JSON text that was hashed, so an exported row can be re-hashed;
JSON nests them as objects.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime
from typing import TextIO

from gateway.ledger.queries import raw_events

FIELDS = ("seq", "time", "kind", "party", "payload", "facts", "prev_hash", "hash", "signature")


def export_csv(
    conn: sqlite3.Connection, out: TextIO, start: datetime | None, end: datetime | None
) -> int:
    """Write a header and one row per entry (time order); returns the entries written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    count = 0
    for row in raw_events(conn, start, end):
        writer.writerow("" if value is None else value for value in row)
        count += 1
    return count


def export_json(
    conn: sqlite3.Connection, out: TextIO, start: datetime | None, end: datetime | None
) -> int:
    """Write ``{"entries": [...]}``, one entry per line (time order); returns the count."""
    out.write('{"entries": [')
    count = 0
    for row in raw_events(conn, start, end):
        record = dict(zip(FIELDS, row, strict=True))
        record["payload"] = json.loads(record["payload"])
        if record["facts"] is not None:
            record["facts"] = json.loads(record["facts"])
        out.write(",\n" if count else "\n")
        out.write(json.dumps(record, ensure_ascii=False))
        count += 1
    out.write("\n]}\n")
    return count
