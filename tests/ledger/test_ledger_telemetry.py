"""Telemetry history: 1-minute aggregates, bounded by age and rows, pruned in small batches."""

from __future__ import annotations

import math
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from ledger_kit import T0, market_round, open_ledger

from gateway.ledger import LedgerEntryError, TelemetryRetention, TelemetrySample, verify_ledger

MINUTE = timedelta(minutes=1)


def _samples(
    minutes: int, per_minute: int = 6, device: str = "pv", point: str = "power_kw"
) -> list[TelemetrySample]:
    return [
        TelemetrySample(device, point, T0 + m * MINUTE + s * timedelta(seconds=10), float(m + s))
        for m in range(minutes)
        for s in range(per_minute)
    ]


def test_samples_fold_into_minute_averages(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        assert ledger.record_telemetry(_samples(3)) == 18
        late = TelemetrySample("pv", "power_kw", T0 + timedelta(seconds=59), 100.0)
        assert ledger.record_telemetry([late]) == 1
        history = ledger.telemetry("pv", "power_kw", T0, T0 + 10 * MINUTE)
    assert [m.minute_start for m in history] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    first = history[0]
    assert first.samples == 7
    assert first.mean == pytest.approx((0 + 1 + 2 + 3 + 4 + 5 + 100) / 7)
    assert (first.minimum, first.maximum) == (0.0, 100.0)
    assert history[2].mean == pytest.approx(2 + 2.5)


def test_non_finite_value_is_refused(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger, pytest.raises(LedgerEntryError, match="pv/power_kw"):
        ledger.record_telemetry([TelemetrySample("pv", "power_kw", T0, math.inf)])


def test_retention_by_age(tmp_path: Path) -> None:
    retention = TelemetryRetention(max_age=timedelta(minutes=30), max_rows=10_000, batch_rows=7)
    with open_ledger(tmp_path, retention=retention) as ledger:
        ledger.record_telemetry(_samples(60, per_minute=1))
        now = T0 + 60 * MINUTE
        assert ledger.prune_telemetry(now, max_batches=1) == 7
        assert ledger.prune_telemetry(now) == 23
        kept = ledger.telemetry("pv", "power_kw", T0, now)
    assert kept[0].minute_start == T0 + 30 * MINUTE and len(kept) == 30


def test_retention_by_row_count_keeps_the_newest(tmp_path: Path) -> None:
    retention = TelemetryRetention(max_age=timedelta(days=30), max_rows=25, batch_rows=10)
    with open_ledger(tmp_path, retention=retention) as ledger:
        for device in ("pv", "battery"):
            ledger.record_telemetry(_samples(20, per_minute=2, device=device))
        assert ledger.prune_telemetry(T0 + 20 * MINUTE) == 15
        assert ledger.prune_telemetry(T0 + 20 * MINUTE) == 0
        pv = ledger.telemetry("pv", "power_kw", T0, T0 + 20 * MINUTE)
        battery = ledger.telemetry("battery", "power_kw", T0, T0 + 20 * MINUTE)
    assert len(pv) + len(battery) == 25
    assert pv[-1].minute_start == battery[-1].minute_start == T0 + 19 * MINUTE


def test_no_retention_means_no_pruning(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.record_telemetry(_samples(5))
        assert ledger.prune_telemetry(T0 + timedelta(days=365)) == 0


def test_pruning_interleaves_with_market_rounds(tmp_path: Path) -> None:
    retention = TelemetryRetention(max_age=timedelta(minutes=1), max_rows=10, batch_rows=50)
    with open_ledger(tmp_path, retention=retention) as ledger:
        for n in range(4):
            ledger.record_telemetry(_samples(1000, per_minute=1, device=f"dev-{n}"))
        rounds_done: list[int] = []

        def market() -> None:
            for number in range(20):
                rounds_done.append(ledger.append_round(market_round(number), at=T0)[-1])

        writer = threading.Thread(target=market)
        writer.start()
        deleted = ledger.prune_telemetry(T0 + timedelta(days=1), max_batches=1000)
        writer.join()
    assert deleted == 4000
    assert len(rounds_done) == 20
    assert verify_ledger(tmp_path / "ledger.db").ok
