"""Crash safety: SIGKILL a writer at random moments; every acknowledged entry survives.

The child (crash_writer.py) prints a round's last sequence number only after the commit
returned. After each kill the database must open, verify, and contain every printed
sequence number. The soak variant does more kills (TEMIX_LEDGER_SOAK_KILLS, default 40).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_kit import PARTIES, T0, market_round, open_ledger

from gateway.ledger import verify_ledger

HERE = Path(__file__).resolve().parent


def _run_and_kill(directory: Path, rng: random.Random) -> list[int]:
    """Start a writer, let it commit a random number of rounds, SIGKILL it mid-flight."""
    log = directory / "child-stderr.txt"
    with log.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(HERE / "crash_writer.py"), str(directory)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=HERE,
        )
        assert child.stdout is not None
        try:
            ready = child.stdout.readline()
            assert ready == "ready\n", f"writer did not start: {log.read_text()}"
            acked = [int(child.stdout.readline()) for _ in range(rng.randint(0, 12))]
            child.send_signal(signal.SIGKILL)
            acked += [int(line) for line in child.stdout.read().split()]
        finally:
            child.kill()
            child.wait(timeout=10)
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acked


def _crash_many_times(directory: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    highest_acked = 0
    for kill in range(kills):
        acked = _run_and_kill(directory, rng)
        highest_acked = max([highest_acked, *acked])
        report = verify_ledger(directory / "ledger.db")
        context = f"seed {seed}, kill {kill + 1}"
        assert report.ok, f"{context}: {report.failure}"
        assert report.head_seq >= highest_acked, (
            f"{context}: acknowledged entry {highest_acked} lost (head {report.head_seq})"
        )
    with open_ledger(directory) as ledger:
        assert ledger.head[0] == verify_ledger(directory / "ledger.db").head_seq
        ledger.append_round(market_round(0), at=T0)
    assert verify_ledger(directory / "ledger.db").ok
    assert highest_acked > len(PARTIES), "no round was ever acknowledged"


def test_sigkill_never_loses_an_acknowledged_round(tmp_path: Path) -> None:
    _crash_many_times(tmp_path, kills=20, seed=random.randrange(1 << 30))


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_sigkill_soak(tmp_path: Path) -> None:
    kills = int(os.environ.get("TEMIX_LEDGER_SOAK_KILLS", "40"))
    _crash_many_times(tmp_path, kills=kills, seed=random.randrange(1 << 30))
