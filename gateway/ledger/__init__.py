"""The gateway's durable, tamper-evident ledger (SQLite, WAL, hash chain, Ed25519).

Public API::

    from gateway.ledger import Ledger, NewEntry, EntryKind, verify_ledger

    with Ledger.open(db_path, state_dir, parties=["operator", "trader"], at=clock.now()) as ledger:
        seqs = ledger.append_round([NewEntry.for_transaction(txn, payload, party="operator")],
                                   at=clock.now())

See docs/ledger.md for the format, the signing design and the CLI.
"""

from __future__ import annotations

from gateway.ledger.entries import (
    Entry,
    EntryKind,
    NewEntry,
    Settlement,
    SigningMode,
    canonical_json,
)
from gateway.ledger.errors import (
    LedgerAccessError,
    LedgerBusyError,
    LedgerEntryError,
    LedgerError,
    LedgerFullError,
    LedgerKeyError,
    LedgerLockedError,
    LedgerVersionError,
    LedgerWriteError,
)
from gateway.ledger.queries import SettlementLine, SettlementStatement
from gateway.ledger.reader import LedgerReader
from gateway.ledger.schema import SCHEMA_VERSION
from gateway.ledger.store import Ledger
from gateway.ledger.telemetry import TelemetryMinute, TelemetryRetention, TelemetrySample
from gateway.ledger.verify import VerifyFailure, VerifyReport, verify_ledger

__all__ = [
    "SCHEMA_VERSION",
    "Entry",
    "EntryKind",
    "Ledger",
    "LedgerAccessError",
    "LedgerBusyError",
    "LedgerEntryError",
    "LedgerError",
    "LedgerFullError",
    "LedgerKeyError",
    "LedgerLockedError",
    "LedgerReader",
    "LedgerVersionError",
    "LedgerWriteError",
    "NewEntry",
    "Settlement",
    "SettlementLine",
    "SettlementStatement",
    "SigningMode",
    "TelemetryMinute",
    "TelemetryRetention",
    "TelemetrySample",
    "VerifyFailure",
    "VerifyReport",
    "canonical_json",
    "verify_ledger",
]
