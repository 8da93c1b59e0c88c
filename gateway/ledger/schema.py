"""The ledger's SQLite schema, its version and the migrations between versions.

Transaction and settlement entries carry their subject (party, counterparty, interval in
µs) in columns of the entry row itself, indexed by partial indexes: one B-tree insert
less per entry than a separate index table, and measurably faster (docs/ledger.md).

The schema version lives in ``PRAGMA user_version``; ``ledger_meta`` records which
gateway release wrote it, so a database from a newer release is refused with the release
it needs. Each migration runs in its own transaction: a database is never left between
two versions. Tables are created with sqlite-utils.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.ledger.connection import wrap
from gateway.ledger.errors import LedgerVersionError

if TYPE_CHECKING:
    import sqlite_utils

SCHEMA_VERSION = 1

APPEND_ONLY_TABLES = ("ledger_entries", "ledger_party_keys")


def gateway_version() -> str:
    try:
        return version("temix-gateway")
    except PackageNotFoundError:
        return "unknown"


def _create_v1(db: sqlite_utils.Database) -> None:
    db.table("ledger_meta").create({"key": str, "value": str}, pk="key", not_null={"value"})
    db.table("ledger_entries").create(
        {
            "seq": int,
            "time": str,
            "kind": str,
            "party": str,
            "payload": str,
            "facts": str,
            "prev_hash": str,
            "hash": str,
            "signature": str,
            "subject_party": str,
            "subject_counterparty": str,
            "start_us": int,
            "end_us": int,
        },
        pk="seq",
        not_null={"time", "kind", "party", "payload", "prev_hash", "hash"},
    )
    db.table("ledger_entries").create_index(["time"], index_name="ledger_entries_by_time")
    for column in ("subject_party", "subject_counterparty"):
        db.execute(
            f"CREATE INDEX ledger_entries_by_{column} ON ledger_entries({column}, start_us) "
            f"WHERE {column} IS NOT NULL"
        )
    db.table("ledger_party_keys").create(
        {"party": str, "public_key": str, "seq": int}, pk="party", not_null={"public_key", "seq"}
    )
    db.table("telemetry_minutes").create(
        {
            "id": int,
            "device": str,
            "point": str,
            "minute_start": str,
            "samples": int,
            "value_sum": float,
            "value_min": float,
            "value_max": float,
        },
        pk="id",
        not_null={"device", "point", "minute_start", "samples", "value_sum"},
    )
    db.table("telemetry_minutes").create_index(
        ["device", "point", "minute_start"], index_name="telemetry_key", unique=True
    )
    db.table("telemetry_minutes").create_index(["minute_start"], index_name="telemetry_by_age")
    for table in APPEND_ONLY_TABLES:
        for action in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {1: _create_v1}


def read_version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of ``conn``'s database; refuses non-ledgers and newer schemas."""
    try:
        found: int = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise LedgerVersionError(f"{path} is not a ledger database ({err})") from err
    if found > SCHEMA_VERSION:
        written_by = _meta(conn, "written_by") or "a newer release"
        raise LedgerVersionError(
            f"ledger {path} has schema version {found} (written by temix-gateway "
            f"{written_by}); this temix-gateway {gateway_version()} reads schema versions up "
            f"to {SCHEMA_VERSION}: upgrade temix-gateway to {written_by} or later"
        )
    return found


def require_ledger(conn: sqlite3.Connection, path: Path) -> int:
    """:func:`read_version` for readers: a database without the ledger schema is refused."""
    found = read_version(conn, path)
    if found == 0:
        raise LedgerVersionError(f"{path} is not a ledger database (it has no ledger schema)")
    return found


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the database up to :data:`SCHEMA_VERSION`, one transaction per step (through
    sqlite-utils, loaded only when there is a step to run)."""
    current = read_version(conn, path)
    if current == SCHEMA_VERSION:
        return
    db = wrap(conn)
    for target in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[target](db)
            conn.execute(
                "INSERT OR REPLACE INTO ledger_meta(key, value) VALUES ('written_by', ?)",
                (gateway_version(),),
            )
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    try:
        row = conn.execute("SELECT value FROM ledger_meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else str(row[0])
