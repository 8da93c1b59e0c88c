"""The writer: group commit, chain continuity across restarts, keys, locking, versions, threads."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from ledger_kit import PARTIES, T0, market_round, open_ledger, transaction

from gateway.ledger import (
    SCHEMA_VERSION,
    EntryKind,
    Ledger,
    LedgerEntryError,
    LedgerKeyError,
    LedgerLockedError,
    LedgerReader,
    LedgerVersionError,
    NewEntry,
    Settlement,
    SigningMode,
    verify_ledger,
)
from gateway.ledger.entries import GENESIS_HASH, canonical_json, transaction_facts
from market.cts import encode_transaction
from market.temix import Interval


def test_first_start_records_a_key_per_party(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        assert ledger.head[0] == len(PARTIES)
        assert set(ledger.parties) == set(PARTIES)
    keys = tmp_path / "state" / "ledger-keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with LedgerReader(tmp_path / "ledger.db") as reader:
        recorded = reader.events(None, None, [EntryKind.PARTY_KEY])
    assert [entry.party for entry in recorded] == list(PARTIES)
    assert all(entry.signature for entry in recorded)


def test_a_round_is_committed_whole_and_chained(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        first = len(PARTIES) + 1
        seqs = ledger.append_round(market_round(1), at=T0)
        assert seqs == list(range(first, first + 12))
        assert ledger.head[0] == seqs[-1]
    report = verify_ledger(tmp_path / "ledger.db")
    assert report.ok and report.entries == seqs[-1]


def test_round_signing_signs_each_partys_last_entry(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        seqs = ledger.append_round(market_round(1), at=T0)
    with LedgerReader(tmp_path / "ledger.db") as reader:
        entries = [e for e in reader.events(None, None) if e.seq in seqs]
    signed = [(e.seq, e.party) for e in entries if e.signature]
    assert signed == [(seqs[9], "operator"), (seqs[10], "battery"), (seqs[11], "trader")]


def test_entry_signing_signs_every_entry(tmp_path: Path) -> None:
    with open_ledger(tmp_path, signing=SigningMode.ENTRY) as ledger:
        ledger.append_round(market_round(1), at=T0)
    with LedgerReader(tmp_path / "ledger.db") as reader:
        assert all(entry.signature for entry in reader.events(None, None))
    assert verify_ledger(tmp_path / "ledger.db").ok


def test_chain_continues_after_reopen(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.append_round(market_round(1), at=T0)
        head = ledger.head
    with open_ledger(tmp_path) as ledger:
        assert ledger.head == head
        seqs = ledger.append_round(market_round(2), at=T0)
        assert seqs[0] == head[0] + 1
    assert verify_ledger(tmp_path / "ledger.db").ok


def test_payload_stored_as_canonical_json_of_the_cts_encoding(tmp_path: Path) -> None:
    txn = transaction(1)
    with open_ledger(tmp_path) as ledger:
        [seq] = ledger.append_round([NewEntry.for_transaction(txn, party="operator")], at=T0)
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        payload, facts = conn.execute(
            "SELECT payload, facts FROM ledger_entries WHERE seq = ?", (seq,)
        ).fetchone()
    assert payload == canonical_json(encode_transaction(txn))
    assert json.loads(facts)["transactionId"] == "tx-1"


def test_hand_formatted_facts_equal_canonical_json() -> None:
    txn = transaction(7, party='bat"tery\u00e9', price="0.080", quantity="1.5")
    text, _ = transaction_facts(txn)
    assert text == canonical_json(json.loads(text))
    assert json.loads(text)["party"] == 'bat"tery\u00e9'
    assert json.loads(text)["price"] == "0.080"


def test_empty_ledger_head_is_genesis(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db", tmp_path / "state", (), at=T0) as ledger:
        assert ledger.head == (0, GENESIS_HASH)
    assert verify_ledger(tmp_path / "l.db").ok


def test_unregistered_party_is_refused_until_registered(tmp_path: Path) -> None:
    entry = NewEntry(EntryKind.ALARM, "ev-charger", {"alarm": "fault"})
    with open_ledger(tmp_path) as ledger:
        with pytest.raises(LedgerEntryError, match="'ev-charger' is not one this ledger signs"):
            ledger.append(entry, at=T0)
        ledger.register_parties(["ev-charger"], at=T0)
        assert ledger.append(entry, at=T0) == ledger.head[0]
    assert verify_ledger(tmp_path / "ledger.db").ok


def test_callers_cannot_append_party_key_entries(tmp_path: Path) -> None:
    forged = NewEntry(EntryKind.PARTY_KEY, "mallory", {"party": "mallory", "publicKey": "00"})
    with open_ledger(tmp_path) as ledger, pytest.raises(LedgerEntryError, match="party_key"):
        ledger.append(forged, at=T0)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    open_ledger(tmp_path).close()
    key = tmp_path / "state" / "ledger-keys" / "battery.pem"
    key.chmod(0o644)
    with pytest.raises(LedgerKeyError, match=r"battery.*readable by others.*chmod 600"):
        open_ledger(tmp_path)


def test_replaced_key_file_is_refused(tmp_path: Path) -> None:
    open_ledger(tmp_path).close()
    key = tmp_path / "state" / "ledger-keys" / "trader.pem"
    key.unlink()
    with pytest.raises(LedgerKeyError, match=r"trader.*missing.*restore"):
        open_ledger(tmp_path)
    assert not key.exists()
    other = tmp_path / "other"
    other.mkdir()
    Ledger.open(other / "l.db", other / "state", ["trader"], at=T0).close()
    (other / "state" / "ledger-keys" / "trader.pem").rename(key)
    with pytest.raises(LedgerKeyError, match="not the key the ledger recorded"):
        open_ledger(tmp_path)


def test_second_writer_is_refused_naming_the_lock_and_pid(tmp_path: Path) -> None:
    with open_ledger(tmp_path):
        with pytest.raises(LedgerLockedError) as caught:
            open_ledger(tmp_path)
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message
        assert "ledger.db.lock" in message
    open_ledger(tmp_path).close()


def test_second_writer_in_another_process_is_refused(tmp_path: Path, repo_root: Path) -> None:
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from ledger_kit import open_ledger; from gateway.ledger import LedgerLockedError\n"
        "try:\n    open_ledger(Path(sys.argv[2]))\n"
        "except LedgerLockedError as err:\n    print(err); sys.exit(3)\n"
    )
    with open_ledger(tmp_path):
        done = subprocess.run(
            [sys.executable, "-c", code, str(repo_root / "tests" / "ledger"), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 3, done.stderr
    assert f"pid {os.getpid()} holds the lock" in done.stdout


def test_newer_schema_is_refused_with_the_version_needed(tmp_path: Path) -> None:
    open_ledger(tmp_path).close()
    with closing(sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute("UPDATE ledger_meta SET value = '9.9.0' WHERE key = 'written_by'")
    with pytest.raises(LedgerVersionError) as caught:
        open_ledger(tmp_path)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(caught.value)
    assert "upgrade temix-gateway to 9.9.0" in str(caught.value)
    with pytest.raises(LedgerVersionError):
        LedgerReader(tmp_path / "ledger.db")


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ledger.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerVersionError, match="not a ledger database"):
        open_ledger(tmp_path)


def test_wal_and_full_sync(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        conn = ledger._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2


async def test_usable_from_worker_threads(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        start = ledger.head[0]
        results = await asyncio.gather(
            *(asyncio.to_thread(ledger.append_round, market_round(n, 5), at=T0) for n in range(8))
        )
        all_seqs = sorted(seq for seqs in results for seq in seqs)
        assert all_seqs == list(range(start + 1, start + 1 + 8 * 7))
    await asyncio.get_running_loop().shutdown_default_executor()
    assert verify_ledger(tmp_path / "ledger.db").ok


def test_unreadable_key_file_is_refused(tmp_path: Path) -> None:
    open_ledger(tmp_path).close()
    (tmp_path / "state" / "ledger-keys" / "hvac-1.pem").write_text("not a key")
    with pytest.raises(LedgerKeyError, match=r"hvac-1\.pem.*not a readable PEM private key"):
        open_ledger(tmp_path)


def test_settlement_amount_must_be_a_decimal() -> None:
    interval = Interval(T0, timedelta(minutes=5))
    with pytest.raises(LedgerEntryError, match="finite Decimal"):
        Settlement("battery", interval, 1.2)  # type: ignore[arg-type]
    with pytest.raises(LedgerEntryError, match="finite Decimal"):
        Settlement("battery", interval, Decimal("NaN"))


def test_a_round_given_as_a_generator_is_encoded_as_it_goes(tmp_path: Path) -> None:
    consumed: list[int] = []

    def entries() -> Iterator[NewEntry]:
        for position, entry in enumerate(market_round(1)):
            consumed.append(position)
            yield entry

    with open_ledger(tmp_path) as ledger:
        first = ledger.head[0] + 1
        assert ledger.append_round(entries(), at=T0) == list(range(first, first + 12))
        assert consumed == list(range(12))
        forged = NewEntry(EntryKind.PARTY_KEY, "mallory", {"party": "mallory", "publicKey": "00"})
        head = ledger.head
        with pytest.raises(LedgerEntryError, match="entry 13 of the round is a party_key"):
            ledger.append_round(iter([*market_round(2), forged]), at=T0)
        assert ledger.head == head  # nothing of the refused round was written
    report = verify_ledger(tmp_path / "ledger.db")
    assert report.ok and report.entries == first + 11


def test_a_batch_of_new_parties_gets_durable_keys_and_verifies(tmp_path: Path) -> None:
    agents = [f"agent-{n:03d}" for n in range(150)]
    with open_ledger(tmp_path) as ledger:
        ledger.register_parties(agents, at=T0)
        fingerprints = ledger.parties
        ledger.append_round([NewEntry(EntryKind.TENDER, agent, {"n": n})
                             for n, agent in enumerate(agents)], at=T0)
    keys = tmp_path / "state" / "ledger-keys"
    files = sorted(path.name for path in keys.iterdir())
    assert files == sorted(f"{party}.pem" for party in (*PARTIES, *agents))  # no staging left
    assert all(stat.S_IMODE((keys / name).stat().st_mode) == 0o600 for name in files)
    with Ledger.open(tmp_path / "ledger.db", tmp_path / "state", [*PARTIES, *agents],
                     at=T0) as reopened:
        assert reopened.parties == fingerprints  # the same keys, loaded from their files
    report = verify_ledger(tmp_path / "ledger.db")
    assert report.ok and len(report.parties) == len(PARTIES) + len(agents)
