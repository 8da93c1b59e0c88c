"""The ledger writer: append-only, hash-chained, signed entries, committed a round at a time.

:meth:`Ledger.append_round` is the group commit: every entry of a market round is hashed
and chained in memory, the parties sign, then all rows go in with one ``executemany`` in
one transaction with ``synchronous=FULL``. When it returns, the round is durable
("acknowledged"); when it raises, nothing of the round is in the database and the chain
head is unchanged.

Threads: one :class:`Ledger` per process (the ``<db>.lock`` file enforces it). Its SQLite
connection is shared by threads under one lock, so the async runtime may call any method
through ``asyncio.to_thread``. Every call is short (one round, one telemetry batch, one
prune batch), so market writes never wait behind a long job.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.ledger import queries, telemetry
from gateway.ledger.connection import open_writer, translate_write_error
from gateway.ledger.entries import (
    NO_SUBJECT,
    Entry,
    EntryKind,
    NewEntry,
    Settlement,
    SigningMode,
    canonical_json,
    entry_hash,
    signed_message,
    subject_facts,
    utc_text,
)
from gateway.ledger.errors import LedgerAccessError, LedgerEntryError, LedgerKeyError
from gateway.ledger.keys import KeyRing, fingerprint
from gateway.ledger.lockfile import WriterLock
from gateway.ledger.schema import migrate
from gateway.ledger.telemetry import TelemetryRetention, TelemetrySample
from market.temix import Interval, Transaction

_INSERT_ENTRY = (
    "INSERT INTO ledger_entries(seq, time, kind, party, payload, facts, prev_hash, hash, "
    "signature, subject_party, subject_counterparty, start_us, end_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_PARTY_KEY = "INSERT INTO ledger_party_keys(party, public_key, seq) VALUES (?, ?, ?)"
_Row = tuple[Any, ...]


class Ledger:
    """The gateway's one writer of the ledger database; open with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        lock: WriterLock,
        keys: KeyRing,
        signing: SigningMode,
        retention: TelemetryRetention | None,
    ) -> None:
        self.path = path
        self._conn = conn
        self._writer_lock = lock
        self._keys = keys
        self._signing = signing
        self._retention = retention
        self._lock = threading.Lock()
        self._head_seq, self._head_hash = queries.head(conn)
        self._recorded_keys = queries.party_keys(conn)
        self._signers: set[str] = set()

    @classmethod
    def open(
        cls,
        path: Path | str,
        state_dir: Path | str,
        parties: Iterable[str] = (),
        *,
        at: datetime,
        signing: SigningMode = SigningMode.ROUND,
        retention: TelemetryRetention | None = None,
        busy_timeout_s: float = 5.0,
        max_page_count: int | None = None,
    ) -> Ledger:
        """Open (creating and migrating if needed) the ledger at ``path`` for writing.

        Takes the writer lock, loads or generates the key of every party in ``parties``
        under ``state_dir`` and records new public keys as ``party_key`` entries at ``at``.
        """
        db_path = Path(path)
        if not db_path.parent.is_dir():
            raise LedgerAccessError(
                f"ledger directory {db_path.parent} does not exist; create it or fix the "
                "ledger path"
            )
        lock = WriterLock(db_path)
        lock.acquire()
        conn: sqlite3.Connection | None = None
        try:
            conn = open_writer(
                db_path, busy_timeout_s=busy_timeout_s, max_page_count=max_page_count
            )
            try:
                migrate(conn, db_path)
            except sqlite3.Error as err:
                raise translate_write_error(err, db_path, "the ledger schema") from err
            ledger = cls(db_path, conn, lock, KeyRing(state_dir), signing, retention)
            ledger.register_parties(parties, at=at)
        except BaseException:
            if conn is not None:
                conn.close()
            lock.release()
            raise
        return ledger

    def close(self) -> None:
        """Close the database (checkpointing the WAL) and release the writer lock."""
        with self._lock:
            self._conn.close()
            self._writer_lock.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def head(self) -> tuple[int, str]:
        """(sequence number, hash) of the last committed entry; (0, zeros) when empty."""
        with self._lock:
            return self._head_seq, self._head_hash

    @property
    def parties(self) -> dict[str, str]:
        """Recorded parties and their public-key fingerprints."""
        with self._lock:
            return {party: fingerprint(key) for party, key in self._recorded_keys.items()}

    def register_parties(self, parties: Iterable[str], *, at: datetime) -> list[int]:
        """Make sure each party has a key and a ``party_key`` entry; returns new entries' seqs.

        Refuses a key file that differs from the key the ledger already recorded for that
        party: entries signed with it could never be verified.
        """
        new: list[NewEntry] = []
        with self._lock:
            wanted = {party: party not in self._recorded_keys for party in parties}
            for party, public_hex in self._keys.public_keys_hex(wanted).items():
                recorded = self._recorded_keys.get(party)
                if recorded is None:
                    payload = {"party": party, "publicKey": public_hex, "algorithm": "Ed25519"}
                    new.append(NewEntry(EntryKind.PARTY_KEY, party, payload))
                elif recorded == public_hex:
                    self._signers.add(party)
                else:
                    raise LedgerKeyError(
                        f"key file {self._keys.path_for(party)} of party {party!r} is not the "
                        f"key the ledger recorded ({fingerprint(recorded)}); restore the "
                        "original key file from backup"
                    )
            return self._append_locked(
                _encode(new, at, party_keys=True), "registering party keys"
            )

    def append(self, entry: NewEntry, *, at: datetime) -> int:
        """Append one entry (its own signed round); returns its sequence number."""
        return self.append_round([entry], at=at)[0]

    def append_round(self, entries: Iterable[NewEntry], *, at: datetime) -> list[int]:
        """Append a whole market round atomically and durably; returns the sequence numbers.

        Raises :class:`LedgerEntryError` before touching the database when an entry cannot
        be encoded or names a party this ledger does not sign for, and
        :class:`LedgerWriteError` (rolled back, nothing written) when SQLite refuses the
        round. JSON encoding happens before the lock is taken, so threads encoding rounds
        do not queue behind each other. ``entries`` may be a generator: each entry is
        encoded in turn and only its JSON text kept, so a large round's payload objects
        need not all be in memory at once.
        """
        encoded = _encode(entries, at, party_keys=False)
        with self._lock:
            return self._append_locked(encoded, f"round of {len(encoded)} entries")

    def _append_locked(self, encoded: list[_Encoded], what: str) -> list[int]:
        if not encoded:
            return []
        rows, new_keys = self._chain(encoded)
        self._sign(rows)
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT_ENTRY, rows)
            if new_keys:
                conn.executemany(_INSERT_PARTY_KEY, new_keys)
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise translate_write_error(err, self.path, what) from err
        first = self._head_seq + 1
        self._head_seq, self._head_hash = rows[-1][0], rows[-1][7]
        for party, public_hex, _seq in new_keys:
            self._recorded_keys[party] = public_hex
            self._signers.add(party)
        return list(range(first, self._head_seq + 1))

    def _chain(self, encoded: list[_Encoded]) -> tuple[list[list[Any]], list[_Row]]:
        """Entry rows and new party-key rows, chained from the current head (nothing written).

        Only registered parties pass (their ids were checked when their keys were made).
        """
        rows: list[list[Any]] = []
        new_keys: list[_Row] = []
        signers = self._signers
        seq, prev = self._head_seq, self._head_hash
        for position, (kind, party, time, facts, payload, subject, key) in enumerate(encoded):
            seq += 1
            if party not in signers and kind != EntryKind.PARTY_KEY:
                raise LedgerEntryError(
                    f"entry {position + 1} of the round ({kind}): party {party!r} is not one "
                    "this ledger signs for; pass it to Ledger.open(parties=...) or call "
                    f"register_parties (registered: {', '.join(sorted(signers)) or 'none'})"
                )
            try:
                digest = entry_hash(seq, time, kind, party, prev, facts, payload)
            except UnicodeEncodeError as err:
                raise _not_json(position, kind, party, err) from err
            rows.append(
                [seq, time, kind, party, payload, facts or None, prev, digest, None, *subject]
            )
            prev = digest
            if key is not None:
                new_keys.append((party, key, seq))
        return rows, new_keys

    def _sign(self, rows: list[list[Any]]) -> None:
        """Per-entry or per-round signatures (see :class:`SigningMode`)."""
        if self._signing is SigningMode.ENTRY:
            sealing = rows
        else:
            last_of_party = {row[3]: row for row in rows}
            sealing = list(last_of_party.values())
        for row in sealing:
            row[8] = self._keys.sign(row[3], signed_message(row[7]))

    def positions(
        self, party: str, day: date, *, zone: tzinfo | str = "UTC", step: timedelta | None = None
    ) -> list[tuple[Interval, Decimal]]:
        """Net position (kW, + = net seller) of ``party`` per ``step`` of a local day."""
        with self._lock:
            return queries.positions(self._conn, party, day, zone=zone, step=step)

    def settlement_statement(
        self, party: str, day: date, *, zone: tzinfo | str = "UTC"
    ) -> queries.SettlementStatement:
        """Settlement lines of ``party`` for intervals starting on ``day``, and their total."""
        with self._lock:
            return queries.settlement_statement(self._conn, party, day, zone=zone)

    def events(
        self, start: datetime, end: datetime, kinds: Iterable[EntryKind] | None = None
    ) -> list[Entry]:
        """Entries with ``start <= time < end``, oldest first."""
        with self._lock:
            return list(queries.events(self._conn, start, end, kinds))

    def record_telemetry(self, samples: Iterable[TelemetrySample]) -> int:
        """Fold raw samples into 1-minute aggregates; returns the number of samples folded."""
        batch = telemetry.aggregate(samples)
        if not batch:
            return 0
        with self._lock:
            try:
                return telemetry.store(self._conn, batch)
            except sqlite3.Error as err:
                raise translate_write_error(err, self.path, "telemetry batch") from err

    def prune_telemetry(self, now: datetime, *, max_batches: int = 100) -> int:
        """Delete telemetry beyond the retention, one small batch per lock hold.

        Market rounds from other threads get the lock between batches, so a large prune
        never holds up an append. Returns rows deleted (0 when there is no retention).
        """
        if self._retention is None:
            return 0
        deleted = 0
        for _ in range(max_batches):
            with self._lock:
                try:
                    count = telemetry.prune_batch(self._conn, self._retention, now)
                except sqlite3.Error as err:
                    raise translate_write_error(err, self.path, "telemetry pruning") from err
            deleted += count
            if count < self._retention.batch_rows:
                break
        return deleted

    def telemetry(
        self, device: str, point: str, start: datetime, end: datetime
    ) -> list[telemetry.TelemetryMinute]:
        with self._lock:
            return telemetry.history(self._conn, device, point, start, end)


_Encoded = tuple[str, str, str, str, str, _Row, str | None]


def _encode(entries: Iterable[NewEntry], at: datetime, *, party_keys: bool) -> list[_Encoded]:
    """(kind, party, time, facts, payload, subject columns, public key of a party_key entry)
    per entry, outside the lock; party_key entries only when ``party_keys``."""
    round_time = utc_text(at)
    encoded: list[_Encoded] = []
    for position, entry in enumerate(entries):
        kind, party, subject = entry.kind, entry.party, entry.subject
        if kind is EntryKind.PARTY_KEY and not party_keys:
            raise LedgerEntryError(
                f"entry {position + 1} of the round is a party_key entry; parties are "
                "added with register_parties, which generates and records their keys"
            )
        expected = _SUBJECT_TYPES.get(kind)
        if (subject is None) != (expected is None) or (
            expected is not None and not isinstance(subject, expected)
        ):
            raise LedgerEntryError(
                f"entry {position + 1} of the round ({kind}): build transaction entries with "
                "NewEntry.for_transaction and settlement entries with "
                "NewEntry.for_settlement; other kinds carry no subject"
            )
        try:
            payload = canonical_json(_as_dict(entry.payload))
            facts, columns = ("", NO_SUBJECT) if subject is None else subject_facts(subject)
        except (TypeError, ValueError) as err:
            raise _not_json(position, kind, party, err) from err
        time = round_time if entry.at is None else utc_text(entry.at)
        key = entry.payload["publicKey"] if kind is EntryKind.PARTY_KEY else None
        encoded.append((str(kind), party, time, facts, payload, columns, key))
    return encoded


def _not_json(position: int, kind: str, party: str, err: Exception) -> LedgerEntryError:
    return LedgerEntryError(
        f"entry {position + 1} of the round ({kind}, party {party!r}): payload is not "
        f"encodable as JSON ({err}); pass the CTS encoding (plain dict of "
        "str/int/bool/None/list/dict, Decimal as text)"
    )


_SUBJECT_TYPES: dict[EntryKind, type] = {
    EntryKind.TRANSACTION: Transaction,
    EntryKind.SETTLEMENT: Settlement,
}


def _as_dict(payload: object) -> object:
    if not isinstance(payload, dict):
        if hasattr(payload, "keys"):
            return dict(payload)  # type: ignore[call-overload]
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    return payload
