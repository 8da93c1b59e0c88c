"""The sync-check's phase difference compares both sides at the same instant: each meter's
angle (against the shared nominal-frequency reference) is carried forward from its read
time at its own measured frequency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drivers.base import Quality, Reading
from gateway.runtime.islanding_io import MAX_PHASE_AGE_S, _angle_difference, _phase_now

NOW = datetime(2026, 6, 22, 13, 0, tzinfo=UTC)


def side(angle_deg: float, frequency_hz: float, age_s: float) -> dict[str, Reading]:
    at = NOW - timedelta(seconds=age_s)
    return {"phase_angle_deg": Reading(angle_deg, Quality.GOOD, at),
            "frequency_hz": Reading(frequency_hz, Quality.GOOD, at)}


def test_an_island_read_two_seconds_ago_has_turned_since() -> None:
    grid = _phase_now(side(0.0, 60.0, 0.1), NOW, 60.0)
    island = _phase_now(side(-3.0, 60.02, 2.0), NOW, 60.0)
    assert grid == 0.0
    assert island is not None and abs(island - 11.4) < 1e-9  # -3 + 360 x 0.02 x 2
    difference = _angle_difference(grid, island)
    assert difference is not None and abs(difference + 11.4) < 1e-9, "raw readings said +3°"


def test_no_angle_without_its_frequency_or_read_time() -> None:
    assert _phase_now({"phase_angle_deg": Reading(5.0, Quality.GOOD, NOW)}, NOW, 60.0) is None
    assert _phase_now({**side(5.0, 60.0, 0.0),
                       "phase_angle_deg": Reading(5.0, Quality.GOOD, None)}, NOW, 60.0) is None


def test_an_angle_read_too_long_ago_is_not_carried_forward() -> None:
    """Minutes of clock at 1200x once turned into a 130° closing: no angle, no close."""
    assert _phase_now(side(1.0, 60.02, MAX_PHASE_AGE_S), NOW, 60.0) is not None
    assert _phase_now(side(1.0, 60.02, MAX_PHASE_AGE_S + 0.5), NOW, 60.0) is None
