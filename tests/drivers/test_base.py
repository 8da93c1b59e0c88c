"""The contract's small pieces: fault logging on change only, write checks, readings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from drivers.base import FaultLevel, FaultTracker, Quality, Reading, WriteRejected, check_write
from tests.drivers.conftest import profile

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_fault_logs_once_on_start_and_once_on_clear(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="drivers.base")
    tracker = FaultTracker("pv")
    for _ in range(5):
        tracker.raise_fault(FaultLevel.WARNING, "exception_2", "hole", NOW)
    tracker.raise_fault(FaultLevel.WARNING, "exception_6", "busy", NOW)  # quiet update
    tracker.raise_fault(FaultLevel.ERROR, "timeout", "no answer", NOW)  # escalation: logged
    tracker.raise_fault(FaultLevel.ERROR, "unreachable", "refused", NOW)  # quiet update
    assert tracker.fault is not None and tracker.fault.code == "unreachable"
    assert tracker.fault.since == NOW and tracker.quality is Quality.BAD
    tracker.clear()
    tracker.clear()
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR", "INFO"]
    assert tracker.fault is None and tracker.quality is Quality.GOOD


def test_check_write_names_device_point_value_and_range() -> None:
    battery = profile("opcua-battery")
    check_write(battery, "battery", "power_setpoint_kw", -75)
    with pytest.raises(WriteRejected, match=r"device battery, point power_setpoint_kw: value "
                                            r"80 is outside the allowed range -75.0..75.0 kW"):
        check_write(battery, "battery", "power_setpoint_kw", 80)
    with pytest.raises(WriteRejected, match="read-only"):
        check_write(battery, "battery", "soc_pct", 50)
    with pytest.raises(WriteRejected, match="NaN"):
        check_write(battery, "battery", "power_setpoint_kw", float("nan"))


def test_stale_reading_keeps_its_value_and_time() -> None:
    reading = Reading(3.5, Quality.GOOD, NOW)
    stale = reading.as_stale()
    assert (stale.value, stale.quality, stale.read_at) == (3.5, Quality.STALE, NOW)
    assert reading.ok and not stale.ok
