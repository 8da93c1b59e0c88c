"""Opening the ledger's SQLite file: WAL, synchronous=FULL, errors translated.

The writer's connection is made with ``check_same_thread=False`` because the async runtime
calls the ledger from worker threads (``asyncio.to_thread``); :class:`~gateway.ledger.
store.Ledger` serialises every use of it with one lock. Readers (the CLI) open the file
read-only and never take the writer lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.ledger.errors import (
    LedgerAccessError,
    LedgerBusyError,
    LedgerFullError,
    LedgerVersionError,
    LedgerWriteError,
)

if TYPE_CHECKING:
    import sqlite_utils


def open_writer(
    path: Path, *, busy_timeout_s: float, max_page_count: int | None
) -> sqlite3.Connection:
    """A read-write connection in WAL mode with ``synchronous=FULL``."""
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous=FULL")
        if max_page_count is not None:
            conn.execute(f"PRAGMA max_page_count={int(max_page_count)}")
    except sqlite3.DatabaseError as err:
        raise translate_open_error(err, path) from err
    if str(mode).lower() != "wal":
        conn.close()
        raise LedgerAccessError(f"ledger {path} cannot use WAL journaling (got {mode!r})")
    return conn


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (the file must exist)."""
    if not path.is_file():
        raise LedgerAccessError(f"no ledger database at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as err:
        raise translate_open_error(err, path) from err
    return conn


def wrap(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """The sqlite-utils view of a connection (used for schema work, not the hot path).

    Imported here, not at module level: sqlite-utils brings click, dateutil, pluggy and
    more (~13 MB resident), which a gateway opening a ledger already at the current schema
    never needs.
    """
    import sqlite_utils

    return sqlite_utils.Database(conn, execute_plugins=False)


def translate_open_error(err: sqlite3.DatabaseError, path: Path) -> Exception:
    text = str(err)
    if "not a database" in text or "malformed" in text:
        return LedgerVersionError(f"{path} is not a ledger database ({text})")
    if "readonly" in text or "unable to open" in text:
        return LedgerAccessError(
            f"cannot open ledger {path} for writing ({text}); the file and its directory "
            f"{path.parent} must be writable by the gateway user"
        )
    if "locked" in text or "busy" in text:
        return LedgerBusyError(f"ledger {path} is locked by another connection ({text})")
    return LedgerAccessError(f"cannot open ledger {path}: {text}")


def translate_write_error(err: sqlite3.Error, path: Path, what: str) -> LedgerWriteError:
    """A write failure as an error naming the file, the cause and what to do."""
    text = str(err)
    code = getattr(err, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "full" in text:
        return LedgerFullError(
            f"{what} was not written: ledger {path} is full ({text}); free disk space on "
            f"the volume of {path.parent} or raise the ledger size limit"
        )
    if code == sqlite3.SQLITE_BUSY or "locked" in text:
        return LedgerBusyError(
            f"{what} was not written: ledger {path} stayed locked by another connection "
            f"({text}); find the process holding it (fuser {path})"
        )
    if code == sqlite3.SQLITE_READONLY or "readonly" in text:
        return LedgerWriteError(
            f"{what} was not written: ledger {path} is read-only ({text}); make it and "
            f"{path.parent} writable by the gateway user"
        )
    return LedgerWriteError(f"{what} was not written to ledger {path}: {text}")
