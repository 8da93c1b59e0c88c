"""``temix-gateway ledger verify|export|positions`` through the real CLI entry point."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from ledger_kit import PARTIES, T0, market_round, open_ledger, raw_connection, transaction

from gateway.cli import main
from gateway.ledger import EntryKind, NewEntry
from gateway.ledger.entries import entry_hash
from market.temix import Side


@pytest.fixture
def db(tmp_path: Path) -> Path:
    with open_ledger(tmp_path) as ledger:
        for minute in range(3):
            ledger.append_round(market_round(minute, size=3), at=T0 + timedelta(minutes=minute))
        ledger.append(
            NewEntry.for_transaction(
                transaction(99, side=Side.BUY, duration=timedelta(hours=1), quantity="2.5"),
                party="operator",
            ),
            at=T0 + timedelta(minutes=3),
        )
    return tmp_path / "ledger.db"


def test_verify_ok(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "verify", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "OK, 20 entries, head 20" in out
    for party in PARTIES:
        assert f"{party}: SHA256:" in out


def test_verify_names_the_first_bad_entry(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with closing(raw_connection(db)) as conn:
        conn.execute("UPDATE ledger_entries SET payload = '{}' WHERE seq = 7")
    assert main(["ledger", "verify", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "FAILED at entry 7: content does not match its hash" in err


def test_verify_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "verify", "--db", str(tmp_path / "none.db")]) == 2
    assert "no ledger database at" in capsys.readouterr().err


def test_verify_of_a_file_that_is_not_a_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.db").touch()
    assert main(["ledger", "verify", "--db", str(tmp_path / "empty.db")]) == 2
    assert "is not a ledger database" in capsys.readouterr().err
    args = ["ledger", "positions", "--db", str(tmp_path / "empty.db"), "--party", "x"]
    assert main([*args, "--day", "2026-11-23"]) == 2


def test_verify_as_a_console_script(db: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "ledger", "verify", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "OK, 20 entries" in done.stdout


def test_export_json_in_a_time_range(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start = (T0 + timedelta(minutes=1)).isoformat()
    end = (T0 + timedelta(minutes=3)).isoformat()
    args = ["ledger", "export", "--db", str(db), "--format", "json", "--from", start, "--to", end]
    assert main(args) == 0
    captured = capsys.readouterr()
    entries = json.loads(captured.out)["entries"]
    assert len(entries) == 10 and "exported 10 entries" in captured.err
    assert {e["time"] for e in entries} == {
        (T0 + timedelta(minutes=m)).isoformat(timespec="microseconds") for m in (1, 2)
    }
    first = entries[0]
    assert first["kind"] == "transaction" and first["payload"]["transactionId"] == "tx-1000"
    assert first["facts"]["transactionId"] == "tx-1000"


def test_export_csv_rows_rehash_to_their_hashes(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ledger.csv"
    assert main(["ledger", "export", "--db", str(db), "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 20
    for row in rows:
        digest = entry_hash(
            int(row["seq"]),
            row["time"],
            row["kind"],
            row["party"],
            row["prev_hash"],
            row["facts"],
            row["payload"],
        )
        assert digest == row["hash"]
    assert {row["kind"] for row in rows} >= {str(EntryKind.PARTY_KEY), "transaction", "alarm"}


def test_export_refuses_a_time_without_zone(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["ledger", "export", "--db", str(db), "--from", "2026-11-23T12:00:00"])
    assert caught.value.code == 2
    assert "has no time zone" in capsys.readouterr().err


def test_positions(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["ledger", "positions", "--db", str(db), "--party", "battery", "--day", "2026-11-23"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "positions of battery on 2026-11-23 (kW, + = net seller)"
    rows = [line.split() for line in lines[2:]]
    assert rows[0] == ["2026-11-23T12:00:00+00:00", "PT5M", "27.5", "2.2917"]
    assert rows[3] == ["2026-11-23T12:15:00+00:00", "PT5M", "-2.5", "-0.2083"]
    assert len(rows) == 12


def test_positions_with_a_step_and_no_trades(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "ledger",
        "positions",
        "--db",
        str(db),
        "--party",
        "hvac-1",
        "--day",
        "2026-11-23",
        "--step",
        "PT1H",
    ]
    assert main(args) == 0
    assert "no transactions" in capsys.readouterr().out
