"""Verify a ledger from the database file alone: chain, hashes, signatures, indexes.

Checks, in sequence order, stopping at the first bad entry:

1. sequence numbers run 1, 2, 3, … without gaps (a deleted row shows as a gap);
2. each entry's ``prev_hash`` is the previous entry's hash (reordered rows break this);
3. each entry's hash matches its content (a changed byte breaks this);
4. every signature verifies with the key the party recorded in its ``party_key`` entry
   (a replaced signature, or one made with another key, fails here);
5. every entry is covered by a signature of its own party at or after it;
6. the indexed subject columns of each entry and the party-key lookup table match what
   the chain hashed.

Truncation of the newest entries cannot be seen from the file alone; compare the head
(sequence and hash) that ``verify`` prints with one noted earlier.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.ledger.connection import open_reader
from gateway.ledger.entries import (
    GENESIS_HASH,
    NO_SUBJECT,
    EntryKind,
    entry_hash,
    signed_message,
    subject_columns_from_facts,
)
from gateway.ledger.keys import fingerprint, load_public_key, signature_valid
from gateway.ledger.queries import ENTRY_COLUMNS
from gateway.ledger.schema import require_ledger

_KINDS = frozenset(str(kind) for kind in EntryKind)
_SUBJECT_KINDS = frozenset({str(EntryKind.TRANSACTION), str(EntryKind.SETTLEMENT)})


@dataclass(frozen=True, slots=True)
class VerifyFailure:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


@dataclass(slots=True)
class VerifyReport:
    """Outcome of :func:`verify_ledger`; ``failure`` is None when everything checks out."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    parties: dict[str, str] = field(default_factory=dict)
    failure: VerifyFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class _Failed(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.failure = VerifyFailure(seq, reason)


def verify_ledger(path: Path | str) -> VerifyReport:
    """Check the whole ledger at ``path`` (read-only; safe while the gateway runs)."""
    db_path = Path(path)
    conn = open_reader(db_path)
    try:
        require_ledger(conn, db_path)
        conn.execute("BEGIN")
        return verify_connection(conn)
    finally:
        conn.close()


def verify_connection(conn: sqlite3.Connection) -> VerifyReport:
    report = VerifyReport()
    try:
        keys = _check_chain(conn, report)
        _check_party_keys(conn, keys)
    except _Failed as failed:
        report.failure = failed.failure
    return report


def _check_chain(conn: sqlite3.Connection, report: VerifyReport) -> dict[str, tuple[str, int]]:
    keys: dict[str, tuple[str, int]] = {}
    loaded: dict[str, Ed25519PublicKey] = {}
    unsigned: dict[str, int] = {}
    expected_seq, prev = 1, GENESIS_HASH
    cursor = conn.execute(
        f"SELECT {ENTRY_COLUMNS}, subject_party, subject_counterparty, start_us, end_us "
        "FROM ledger_entries ORDER BY seq"
    )
    for seq, time, kind, party, payload, facts, prev_hash, digest, signature, *subject in cursor:
        if seq != expected_seq:
            raise _Failed(
                expected_seq,
                f"missing: the sequence jumps from {expected_seq - 1} to {seq} (a row was deleted)",
            )
        if prev_hash != prev:
            raise _Failed(
                seq,
                "previous-hash link is broken (an entry was removed, reordered or rewritten "
                "before it)",
            )
        if kind not in _KINDS:
            raise _Failed(seq, f"unknown kind {kind!r}")
        recomputed = entry_hash(seq, time, kind, party, prev_hash, facts or "", payload)
        if recomputed != digest:
            raise _Failed(
                seq,
                "content does not match its hash (time, kind, party, facts or payload was changed)",
            )
        _check_subject(seq, kind, facts, tuple(subject))
        if kind == EntryKind.PARTY_KEY:
            _record_key(seq, party, payload, keys, loaded)
        if signature is None:
            unsigned.setdefault(party, seq)
        else:
            key = loaded.get(party)
            if key is None:
                raise _Failed(seq, f"signed by party {party!r}, which has no recorded key")
            if not signature_valid(key, signature, signed_message(digest)):
                raise _Failed(
                    seq,
                    f"signature is not valid for party {party!r}'s recorded key "
                    f"{fingerprint(keys[party][0])}",
                )
            unsigned.pop(party, None)
        prev = digest
        expected_seq += 1
        report.entries += 1
    if unsigned:
        party, seq = min(unsigned.items(), key=lambda item: item[1])
        raise _Failed(
            seq,
            f"not covered by any signature of its party {party!r} (entries were appended "
            "after its last signature, or a signature was removed)",
        )
    report.head_seq, report.head_hash = expected_seq - 1, prev
    report.parties = {party: fingerprint(public) for party, (public, _) in keys.items()}
    return keys


def _record_key(
    seq: int,
    party: str,
    payload: str,
    keys: dict[str, tuple[str, int]],
    loaded: dict[str, Ed25519PublicKey],
) -> None:
    try:
        record = json.loads(payload)
        public_hex = record["publicKey"]
        loaded_key = load_public_key(public_hex)
    except (ValueError, KeyError, TypeError) as err:
        raise _Failed(seq, f"party_key entry is malformed ({err})") from err
    if record.get("party") != party:
        raise _Failed(seq, f"party_key entry of {party!r} names party {record.get('party')!r}")
    if party in keys:
        raise _Failed(seq, f"party {party!r} already recorded its key at entry {keys[party][1]}")
    keys[party] = (public_hex, seq)
    loaded[party] = loaded_key


def _check_party_keys(conn: sqlite3.Connection, keys: dict[str, tuple[str, int]]) -> None:
    """The ledger_party_keys lookup table must hold exactly the keys the chain records."""
    table = {
        party: (public_hex, seq)
        for party, public_hex, seq in conn.execute(
            "SELECT party, public_key, seq FROM ledger_party_keys"
        )
    }
    for party, (public_hex, seq) in table.items():
        if keys.get(party) != (public_hex, seq):
            raise _Failed(seq, f"ledger_party_keys row of {party!r} does not match the chain")
    for party, (_, seq) in keys.items():
        if party not in table:
            raise _Failed(seq, f"ledger_party_keys has no row for party {party!r}")


def _check_subject(seq: int, kind: str, facts: str | None, columns: tuple[object, ...]) -> None:
    """The indexed subject columns must be what the hashed facts say."""
    if kind in _SUBJECT_KINDS and facts is None:
        raise _Failed(seq, f"{kind} entry has no facts")
    try:
        expected = NO_SUBJECT if facts is None else subject_columns_from_facts(json.loads(facts))
    except (ValueError, KeyError, TypeError) as err:
        raise _Failed(seq, f"facts are malformed ({err})") from err
    if expected != columns:
        raise _Failed(
            seq, "subject columns (party, counterparty, interval) do not match the hashed facts"
        )
