"""Tampering with a copy of the database is caught, naming the first bad entry and why."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_kit import T0, market_round, open_ledger, raw_connection

from gateway.ledger import SigningMode, verify_ledger
from gateway.ledger.entries import entry_hash, signed_message
from gateway.ledger.keys import public_key_hex


@pytest.fixture
def db(tmp_path: Path) -> Path:
    with open_ledger(tmp_path) as ledger:
        for number in range(3):
            ledger.append_round(market_round(number), at=T0)
    assert verify_ledger(tmp_path / "ledger.db").ok
    return tmp_path / "ledger.db"


@pytest.fixture
def raw(db: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the ledger with the append-only triggers dropped (the attacker's)."""
    with closing(raw_connection(db)) as conn:
        yield conn


def _failure(db: Path) -> tuple[int, str]:
    report = verify_ledger(db)
    assert report.failure is not None, "tampering went unnoticed"
    return report.failure.seq, report.failure.reason


def _change_one_byte(payload: str) -> str:
    """A transaction payload with one digit of its quantity changed."""
    changed = payload.replace('"quantity":10,', '"quantity":90,', 1)
    assert changed != payload
    return changed


def _row(conn: sqlite3.Connection, seq: int) -> tuple:  # type: ignore[type-arg]
    return conn.execute(
        "SELECT time, kind, party, payload, facts, prev_hash, hash, signature "
        "FROM ledger_entries WHERE seq = ?",
        (seq,),
    ).fetchone()


def test_the_database_refuses_updates_and_deletes(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE ledger_entries SET payload = '{}' WHERE seq = 5")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM ledger_entries WHERE seq = 5")


def test_changed_payload_byte(db: Path, raw: sqlite3.Connection) -> None:
    conn = raw
    payload = _row(conn, 10)[3]
    conn.execute(
        "UPDATE ledger_entries SET payload = ? WHERE seq = 10", (_change_one_byte(payload),)
    )
    seq, reason = _failure(db)
    assert seq == 10 and "does not match its hash" in reason


def test_deleted_row(db: Path, raw: sqlite3.Connection) -> None:
    raw.execute("DELETE FROM ledger_entries WHERE seq = 12")
    seq, reason = _failure(db)
    assert seq == 12 and "missing" in reason and "from 11 to 13" in reason


def test_swapped_rows(db: Path, raw: sqlite3.Connection) -> None:
    conn = raw
    a, b = _row(conn, 20), _row(conn, 21)
    update = (
        "UPDATE ledger_entries SET time=?, kind=?, party=?, payload=?, facts=?, prev_hash=?, "
        "hash=?, signature=? WHERE seq = ?"
    )
    conn.execute(update, (*b, 20))
    conn.execute(update, (*a, 21))
    seq, reason = _failure(db)
    assert seq == 20 and "previous-hash link is broken" in reason


def test_replaced_signature(db: Path, raw: sqlite3.Connection) -> None:
    conn = raw
    signed = conn.execute(
        "SELECT seq, signature FROM ledger_entries WHERE signature IS NOT NULL AND seq > 4 "
        "ORDER BY seq LIMIT 2"
    ).fetchall()
    (first, _), (_, other_signature) = signed
    conn.execute("UPDATE ledger_entries SET signature = ? WHERE seq = ?", (other_signature, first))
    seq, reason = _failure(db)
    assert seq == first and "signature is not valid" in reason


def test_signed_with_an_unknown_key(db: Path, raw: sqlite3.Connection) -> None:
    conn = raw
    seq, digest = conn.execute(
        "SELECT seq, hash FROM ledger_entries WHERE signature IS NOT NULL AND seq > 4 LIMIT 1"
    ).fetchone()
    forged = Ed25519PrivateKey.generate().sign(signed_message(digest)).hex()
    conn.execute("UPDATE ledger_entries SET signature = ? WHERE seq = ?", (forged, seq))
    found, reason = _failure(db)
    assert found == seq and "not valid for party" in reason


def _append_forged(conn: sqlite3.Connection, party: str, signer: Ed25519PrivateKey | None) -> int:
    seq, prev = conn.execute("SELECT seq, hash FROM ledger_entries ORDER BY seq DESC").fetchone()
    seq += 1
    time, payload = T0.isoformat(timespec="microseconds"), '{"alarm":"forged"}'
    digest = entry_hash(seq, time, "alarm", party, prev, "", payload)
    signature = None if signer is None else signer.sign(signed_message(digest)).hex()
    conn.execute(
        "INSERT INTO ledger_entries(seq, time, kind, party, payload, prev_hash, hash, signature) "
        "VALUES (?, ?, 'alarm', ?, ?, ?, ?, ?)",
        (seq, time, party, payload, prev, digest, signature),
    )
    return seq


def test_entry_by_a_party_without_recorded_key(db: Path, raw: sqlite3.Connection) -> None:
    seq = _append_forged(raw, "mallory", Ed25519PrivateKey.generate())
    found, reason = _failure(db)
    assert found == seq and "'mallory', which has no recorded key" in reason


def test_appended_entry_without_signature(db: Path, raw: sqlite3.Connection) -> None:
    seq = _append_forged(raw, "battery", None)
    found, reason = _failure(db)
    assert found == seq and "not covered by any signature" in reason


def test_rewritten_chain_is_caught_at_the_first_signature_after_the_change(
    db: Path, raw: sqlite3.Connection
) -> None:
    """An attacker without keys rewrites entry 6 and re-links everything after it."""
    conn = raw
    rows = conn.execute(
        "SELECT seq, time, kind, party, payload, facts, prev_hash, signature "
        "FROM ledger_entries WHERE seq >= 6 ORDER BY seq"
    ).fetchall()
    prev = conn.execute("SELECT hash FROM ledger_entries WHERE seq = 5").fetchone()[0]
    first_signed = None
    for seq, time, kind, party, payload, facts, _, signature in rows:
        if seq == 6:
            payload = _change_one_byte(payload)
        digest = entry_hash(seq, time, kind, party, prev, facts or "", payload)
        conn.execute(
            "UPDATE ledger_entries SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (payload, prev, digest, seq),
        )
        if signature and first_signed is None:
            first_signed = seq
        prev = digest
    found, reason = _failure(db)
    assert found == first_signed and "signature is not valid" in reason


def test_per_entry_signing_names_the_changed_entry_itself(tmp_path: Path) -> None:
    with open_ledger(tmp_path, signing=SigningMode.ENTRY) as ledger:
        ledger.append_round(market_round(1), at=T0)
    db = tmp_path / "ledger.db"
    with closing(raw_connection(db)) as conn:
        time, kind, party, payload, facts, prev, *_ = _row(conn, 6)
        payload = _change_one_byte(payload)
        digest = entry_hash(6, time, kind, party, prev, facts or "", payload)
        conn.execute(
            "UPDATE ledger_entries SET payload = ?, hash = ? WHERE seq = 6", (payload, digest)
        )
    found, reason = _failure(db)
    assert found == 6 and "signature is not valid" in reason


def test_second_key_for_a_party(db: Path, raw: sqlite3.Connection) -> None:
    conn = raw
    seq, prev = conn.execute("SELECT seq, hash FROM ledger_entries ORDER BY seq DESC").fetchone()
    key = Ed25519PrivateKey.generate()
    public = public_key_hex(key.public_key())
    payload = f'{{"algorithm":"Ed25519","party":"battery","publicKey":"{public}"}}'
    time = T0.isoformat(timespec="microseconds")
    digest = entry_hash(seq + 1, time, "party_key", "battery", prev, "", payload)
    conn.execute(
        "INSERT INTO ledger_entries(seq, time, kind, party, payload, prev_hash, hash, signature) "
        "VALUES (?, ?, 'party_key', 'battery', ?, ?, ?, ?)",
        (seq + 1, time, payload, prev, digest, key.sign(signed_message(digest)).hex()),
    )
    found, reason = _failure(db)
    assert found == seq + 1 and "already recorded its key" in reason


def test_changed_position_index_column(db: Path, raw: sqlite3.Connection) -> None:
    conn = raw
    seq = conn.execute("SELECT min(seq) FROM ledger_entries WHERE kind = 'transaction'").fetchone()[
        0
    ]
    conn.execute("UPDATE ledger_entries SET subject_party = 'hvac-1' WHERE seq = ?", (seq,))
    found, reason = _failure(db)
    assert found == seq and "subject columns" in reason


def test_deleted_party_key_lookup_row(db: Path, raw: sqlite3.Connection) -> None:
    raw.execute("DELETE FROM ledger_party_keys WHERE party = 'trader'")
    found, reason = _failure(db)
    assert found == 2 and "no row for party 'trader'" in reason
