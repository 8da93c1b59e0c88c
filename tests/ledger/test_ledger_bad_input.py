"""Bad input and a hostile environment give clear errors and leave the ledger valid."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from ledger_kit import T0, market_round, open_ledger

from gateway.ledger import (
    EntryKind,
    LedgerAccessError,
    LedgerBusyError,
    LedgerEntryError,
    LedgerFullError,
    NewEntry,
    verify_ledger,
)


def _assert_valid_and_unchanged(tmp_path: Path, head: tuple[int, str]) -> None:
    report = verify_ledger(tmp_path / "ledger.db")
    assert report.ok, report.failure
    assert (report.head_seq, report.head_hash) == head


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"price": Decimal("0.12")}, "Decimal is not JSON serializable"),
        ({"at": T0}, "datetime is not JSON serializable"),
        ({"value": math.nan}, "Out of range float"),
        ({"ids": {1, 2}}, "set is not JSON serializable"),
        ({"text": "\ud800"}, "surrogate"),
        (["not", "a", "dict"], "payload must be a dict"),
    ],
)
def test_payload_that_is_not_json_rejects_the_whole_round(
    tmp_path: Path, payload: object, why: str
) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.append_round(market_round(1), at=T0)
        head = ledger.head
        bad = [*market_round(2), NewEntry(EntryKind.ALARM, "battery", payload)]  # type: ignore[arg-type]
        with pytest.raises(LedgerEntryError) as caught:
            ledger.append_round(bad, at=T0)
        assert f"entry {len(bad)} of the round (alarm, party 'battery')" in str(caught.value)
        assert why in str(caught.value)
        assert ledger.head == head
    _assert_valid_and_unchanged(tmp_path, head)


def test_naive_time_is_refused(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        head = ledger.head
        with pytest.raises(LedgerEntryError, match="timezone-aware"):
            ledger.append_round(market_round(1), at=datetime(2026, 11, 23, 12))
    _assert_valid_and_unchanged(tmp_path, head)


def test_transaction_kind_without_its_transaction_is_refused(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger, pytest.raises(LedgerEntryError, match="for_transaction"):
        ledger.append(NewEntry(EntryKind.TRANSACTION, "operator", {"a": 1}), at=T0)


def test_full_disk_rolls_the_round_back(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.append_round(market_round(1), at=T0)
        pages = ledger._conn.execute("PRAGMA page_count").fetchone()[0]
    with open_ledger(tmp_path, max_page_count=pages + 2) as ledger:
        head = ledger.head
        with pytest.raises(LedgerFullError) as caught:
            ledger.append_round(market_round(2, size=2000), at=T0)
        assert "round of 2002 entries was not written" in str(caught.value)
        assert "free disk space" in str(caught.value)
        assert ledger.head == head
    _assert_valid_and_unchanged(tmp_path, head)
    with open_ledger(tmp_path) as ledger:
        ledger.append_round(market_round(3, size=2000), at=T0)
    assert verify_ledger(tmp_path / "ledger.db").ok


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot create files in (chattr +i when running as root)."""
    directory = tmp_path / "ro"
    directory.mkdir()
    (directory / "state").mkdir()
    yield directory
    _make_writable(directory)


def _make_read_only(directory: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(directory)], check=True, timeout=10)
    else:
        directory.chmod(0o555)
    with pytest.raises(OSError):
        (directory / "probe").touch()


def _make_writable(directory: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(directory)], check=True, timeout=10)
    else:
        directory.chmod(0o755)


def test_read_only_directory_for_a_new_ledger(read_only: Path) -> None:
    _make_read_only(read_only)
    with pytest.raises(LedgerAccessError) as caught:
        open_ledger(read_only)
    assert str(read_only) in str(caught.value) and "writable" in str(caught.value)


def test_read_only_directory_for_an_existing_ledger(read_only: Path) -> None:
    with open_ledger(read_only) as ledger:
        ledger.append_round(market_round(1), at=T0)
        head = ledger.head
    _make_read_only(read_only)
    with pytest.raises(LedgerAccessError) as caught:
        open_ledger(read_only)
    assert "ledger.db" in str(caught.value) and "writable" in str(caught.value)
    _make_writable(read_only)
    _assert_valid_and_unchanged(read_only, head)


def test_database_locked_by_another_connection(tmp_path: Path) -> None:
    with open_ledger(tmp_path, busy_timeout_s=0.2) as ledger:
        head = ledger.head
        intruder = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
        intruder.execute("BEGIN IMMEDIATE")
        with pytest.raises(LedgerBusyError) as caught:
            ledger.append_round(market_round(1), at=T0)
        assert "was not written" in str(caught.value) and "locked" in str(caught.value)
        assert ledger.head == head
        intruder.execute("ROLLBACK")
        intruder.close()
        seqs = ledger.append_round(market_round(1), at=T0)
        assert seqs[0] == head[0] + 1
    assert verify_ledger(tmp_path / "ledger.db").ok


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(LedgerAccessError, match="does not exist"):
        open_ledger(tmp_path / "nowhere")
