"""The ``islanding:`` section: 1547-2018 defaults per category, partial overrides, refusals."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from gateway.islanding.settings import (
    IslandingSettings,
    SyncCheckLimits,
    TripFunction,
    defaults_for,
    sync_limits_for,
)

VOLTAGE_DEFAULTS = {
    "I": {"OV2": (1.20, 0.16), "OV1": (1.10, 2.0), "UV1": (0.70, 2.0), "UV2": (0.45, 0.16)},
    "II": {"OV2": (1.20, 0.16), "OV1": (1.10, 2.0), "UV1": (0.70, 10.0), "UV2": (0.45, 0.16)},
    "III": {"OV2": (1.20, 0.16), "OV1": (1.10, 13.0), "UV1": (0.88, 21.0), "UV2": (0.50, 2.0)},
}
FREQUENCY_DEFAULTS_60HZ = {
    "OF2": (62.0, 0.16),
    "OF1": (61.2, 300.0),
    "UF1": (58.5, 300.0),
    "UF2": (56.5, 0.16),
}


@pytest.mark.parametrize("category", ["I", "II", "III"])
def test_defaults_per_category_at_60_hz(category: str) -> None:
    resolved = defaults_for(category, 60)  # type: ignore[arg-type]
    expected = {**VOLTAGE_DEFAULTS[category], **FREQUENCY_DEFAULTS_60HZ}
    got = {t.function.value: (t.pickup, t.clearing_time_s) for t in resolved.trips}
    assert got == expected
    window = resolved.enter_service
    assert (window.voltage_min_pu, window.voltage_max_pu) == (0.917, 1.05)
    assert (window.frequency_min_hz, window.frequency_max_hz) == (59.5, 60.1)
    assert window.delay_s == 300.0


def test_50_hz_site_scales_frequency_thresholds_proportionally() -> None:
    resolved = defaults_for("II", 50)
    assert resolved.trip(TripFunction.OF2).pickup == pytest.approx(62.0 * 50 / 60)
    assert resolved.trip(TripFunction.UF1).pickup == pytest.approx(48.75)
    assert resolved.trip(TripFunction.UF1).clearing_time_s == 300.0
    assert resolved.trip(TripFunction.OV1).pickup == 1.10
    assert resolved.enter_service.frequency_min_hz == pytest.approx(59.5 * 50 / 60)
    assert resolved.enter_service.frequency_max_hz == pytest.approx(60.1 * 50 / 60)


@pytest.mark.parametrize(
    ("kva", "limits"),
    [
        (None, SyncCheckLimits(3.0, 0.1, 10.0)),
        (135, SyncCheckLimits(10.0, 0.3, 20.0)),
        (500, SyncCheckLimits(10.0, 0.3, 20.0)),
        (800, SyncCheckLimits(5.0, 0.2, 15.0)),
        (2000, SyncCheckLimits(3.0, 0.1, 10.0)),
    ],
)
def test_sync_check_defaults_follow_table_5(kva: float | None, limits: SyncCheckLimits) -> None:
    assert sync_limits_for(kva) == limits
    assert defaults_for("II", 60, kva).sync_check == limits


def test_partial_override_keeps_everything_else_at_category_defaults() -> None:
    section = IslandingSettings.model_validate(
        {"trip": {"OV1": {"clearing_time_s": 5}}, "enter_service_delay_s": 120}
    )
    resolved = section.resolved()
    defaults = defaults_for("II", 60)
    assert resolved.trip("OV1").clearing_time_s == 5.0
    assert resolved.trip("OV1").pickup == 1.10
    assert resolved.enter_service.delay_s == 120.0
    assert [t for t in resolved.trips if t.function != "OV1"] == [
        t for t in defaults.trips if t.function != "OV1"
    ]
    assert resolved.sync_check == defaults.sync_check
    assert resolved.breaker_operate_timeout_s == 0.5


def test_resolved_settings_are_frozen() -> None:
    resolved = defaults_for("II", 60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.backup_trip_output = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"trip": {"OV1": {"clearing_time_s": 15}}}, ["trip.OV1.clearing_time_s", "15", "1–13 s"]),
        ({"trip": {"OV1": {"pickup_pu": 1.05}}}, ["trip.OV1.pickup_pu", "1.05", "1.1–1.2 pu"]),
        ({"trip": {"OV2": {"pickup_pu": 1.3}}}, ["trip.OV2.pickup_pu", "1.3", "fixes it at 1.2"]),
        ({"trip": {"UV1": {"pickup_pu": 0.9}}}, ["trip.UV1.pickup_pu", "0.9", "0–0.88 pu"]),
        ({"trip": {"UF1": {"pickup_hz": 59.5}}}, ["trip.UF1.pickup_hz", "59.5", "50–59 Hz"]),
        (
            {"category": "III", "trip": {"UV1": {"clearing_time_s": 10}}},
            ["trip.UV1.clearing_time_s", "10", "21–50 s", "category III"],
        ),
        ({"enter_service_delay_s": 700}, ["enter_service_delay_s", "700", "0–600 s"]),
        (
            {"enter_service_voltage_min_pu": 0.8},
            ["enter_service_voltage_min_pu", "0.8", "0.88–0.95 pu"],
        ),
        (
            {"aggregate_der_kva": 135, "sync_check": {"max_phase_diff_deg": 25}},
            ["sync_check.max_phase_diff_deg", "25", "0–20 °", "135 kVA"],
        ),
        (
            {"nominal_frequency_hz": 50, "trip": {"OF2": {"pickup_hz": 62.0}}},
            ["trip.OF2.pickup_hz", "62", "51.5–55 Hz"],
        ),
    ],
)
def test_out_of_range_setting_refused_with_function_value_and_range(
    section: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        IslandingSettings.model_validate(section)
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message}"


def test_stage_two_must_lie_beyond_stage_one() -> None:
    with pytest.raises(ValidationError, match=r"UV2 pickup 0\.5 pu must lie beyond UV1"):
        IslandingSettings.model_validate(
            {"trip": {"UV1": {"pickup_pu": 0.4}, "UV2": {"pickup_pu": 0.5}}}
        )


@pytest.mark.parametrize(
    "section",
    [
        {"trip": {"OV1": {"pickup_hz": 61}}},
        {"enter_service_dealy_s": 100},
        {"trip": {"OV3": {"pickup_pu": 1.3}}},
        {"load_shed_order": ["ev", "ev"]},
        {"breaker_operate_timeout_s": 0},
    ],
)
def test_unknown_keys_and_bad_values_refused(section: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        IslandingSettings.model_validate(section)
