"""Telemetry history: 1-minute aggregates per device point, bounded by age and row count.

Raw samples are folded into one row per (device, point, minute) holding count, sum, min
and max — an upsert, so a sample arriving late or after a restart still lands in its
minute and nothing is held in memory. Pruning deletes the oldest rows in small batches
(one short transaction each), first those older than ``max_age``, then the oldest beyond
``max_rows``.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.ledger.entries import utc_text
from gateway.ledger.errors import LedgerEntryError

_UPSERT = (
    "INSERT INTO telemetry_minutes(device, point, minute_start, samples, value_sum, value_min, "
    "value_max) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(device, point, minute_start) DO UPDATE SET "
    "samples = samples + excluded.samples, value_sum = value_sum + excluded.value_sum, "
    "value_min = min(value_min, excluded.value_min), "
    "value_max = max(value_max, excluded.value_max)"
)


@dataclass(frozen=True, slots=True)
class TelemetrySample:
    """One reading of a device point at time ``at`` (tz-aware)."""

    device: str
    point: str
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class TelemetryRetention:
    """How much telemetry history to keep; pruning deletes ``batch_rows`` rows at a time."""

    max_age: timedelta
    max_rows: int
    batch_rows: int = 500

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0) or self.max_rows <= 0 or self.batch_rows <= 0:
            raise ValueError(
                "telemetry retention needs a positive max_age, max_rows and batch_rows, got "
                f"{self.max_age}, {self.max_rows}, {self.batch_rows}"
            )


@dataclass(frozen=True, slots=True)
class TelemetryMinute:
    minute_start: datetime
    samples: int
    mean: float
    minimum: float
    maximum: float


_Key = tuple[str, str, str]


def aggregate(samples: Iterable[TelemetrySample]) -> dict[_Key, list[float]]:
    """Samples folded per (device, point, minute): [count, sum, min, max]."""
    folded: dict[_Key, list[float]] = {}
    for sample in samples:
        value = float(sample.value)
        if not math.isfinite(value):
            raise LedgerEntryError(
                f"telemetry {sample.device}/{sample.point} at {sample.at}: value {value} is "
                "not a finite number; report bad readings as quality, not as values"
            )
        minute = utc_text(sample.at.astimezone(UTC).replace(second=0, microsecond=0))
        key = (sample.device, sample.point, minute)
        row = folded.get(key)
        if row is None:
            folded[key] = [1.0, value, value, value]
        else:
            row[0] += 1
            row[1] += value
            row[2] = min(row[2], value)
            row[3] = max(row[3], value)
    return folded


def store(conn: sqlite3.Connection, batch: dict[_Key, list[float]]) -> int:
    """Upsert one aggregated batch in one transaction; returns the samples stored."""
    rows = [(*key, int(agg[0]), agg[1], agg[2], agg[3]) for key, agg in batch.items()]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_UPSERT, rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return sum(row[3] for row in rows)


def prune_batch(conn: sqlite3.Connection, retention: TelemetryRetention, now: datetime) -> int:
    """Delete at most ``retention.batch_rows`` rows past the retention; returns rows deleted."""
    cutoff = utc_text(now - retention.max_age)
    conn.execute("BEGIN IMMEDIATE")
    try:
        deleted = conn.execute(
            "DELETE FROM telemetry_minutes WHERE id IN (SELECT id FROM telemetry_minutes "
            "WHERE minute_start < ? ORDER BY minute_start LIMIT ?)",
            (cutoff, retention.batch_rows),
        ).rowcount
        if deleted < retention.batch_rows:
            excess = conn.execute("SELECT count(*) FROM telemetry_minutes").fetchone()[0]
            excess -= retention.max_rows
            if excess > 0:
                deleted += conn.execute(
                    "DELETE FROM telemetry_minutes WHERE id IN (SELECT id FROM "
                    "telemetry_minutes ORDER BY minute_start, id LIMIT ?)",
                    (min(excess, retention.batch_rows - deleted),),
                ).rowcount
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return deleted


def history(
    conn: sqlite3.Connection, device: str, point: str, start: datetime, end: datetime
) -> list[TelemetryMinute]:
    """Minute aggregates of one point with ``start <= minute < end``, oldest first."""
    rows = conn.execute(
        "SELECT minute_start, samples, value_sum, value_min, value_max FROM telemetry_minutes "
        "WHERE device = ? AND point = ? AND minute_start >= ? AND minute_start < ? "
        "ORDER BY minute_start",
        (device, point, utc_text(start), utc_text(end)),
    ).fetchall()
    return [
        TelemetryMinute(datetime.fromisoformat(minute), count, total / count, low, high)
        for minute, count, total, low, high in rows
    ]
