"""The ``islanding:`` section of the site file, and the resolved settings the controller uses.

A site file sets only what it changes; everything else comes from the IEEE 1547-2018
defaults of the site's abnormal-performance category (I, II or III). A value outside the
standard's allowable range is refused with a message naming the key, the value and the
range, so the facility manager can correct the file.

Frequency figures are written for 60 Hz systems and scaled by ``nominal/60`` on 50 Hz
sites. Figures not listed in /work/shared/STANDARDS.md (clearing-time ranges for UV1/UV2,
frequency ranges, enter-service window ranges) are IEEE 1547-2018 Tables 4, 11–13 and 19
as commonly published; docs/islanding.md marks them *secondary*.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

Category = Literal["I", "II", "III"]
NominalFrequency = Literal[50, 60]


class TripFunction(StrEnum):
    """A must-trip function at the PCC: two over/under stages for voltage and frequency."""

    OV2 = "OV2"
    OV1 = "OV1"
    UV1 = "UV1"
    UV2 = "UV2"
    OF2 = "OF2"
    OF1 = "OF1"
    UF1 = "UF1"
    UF2 = "UF2"

    @property
    def is_voltage(self) -> bool:
        return self.value[1] == "V"

    @property
    def is_over(self) -> bool:
        return self.value[0] == "O"

    @property
    def unit(self) -> str:
        return "pu" if self.is_voltage else "Hz"


Range = tuple[float, float]


@dataclass(frozen=True)
class _TripRow:
    """One row of a 1547 must-trip table: default pickup/clearing and allowable ranges."""

    pickup: float
    clearing_time_s: float
    pickup_range: Range
    clearing_range: Range


# IEEE 1547-2018 Tables 11 (cat I), 12 (cat II), 13 (cat III): pickup pu / clearing s.
_VOLTAGE_TABLE: dict[str, dict[TripFunction, _TripRow]] = {
    "I": {
        TripFunction.OV2: _TripRow(1.20, 0.16, (1.20, 1.20), (0.16, 0.16)),
        TripFunction.OV1: _TripRow(1.10, 2.0, (1.10, 1.20), (1.0, 13.0)),
        TripFunction.UV1: _TripRow(0.70, 2.0, (0.0, 0.88), (2.0, 21.0)),
        TripFunction.UV2: _TripRow(0.45, 0.16, (0.0, 0.50), (0.16, 2.0)),
    },
    "II": {
        TripFunction.OV2: _TripRow(1.20, 0.16, (1.20, 1.20), (0.16, 0.16)),
        TripFunction.OV1: _TripRow(1.10, 2.0, (1.10, 1.20), (1.0, 13.0)),
        TripFunction.UV1: _TripRow(0.70, 10.0, (0.0, 0.88), (2.0, 21.0)),
        TripFunction.UV2: _TripRow(0.45, 0.16, (0.0, 0.50), (0.16, 2.0)),
    },
    "III": {
        TripFunction.OV2: _TripRow(1.20, 0.16, (1.20, 1.20), (0.16, 0.16)),
        TripFunction.OV1: _TripRow(1.10, 13.0, (1.10, 1.20), (1.0, 13.0)),
        TripFunction.UV1: _TripRow(0.88, 21.0, (0.0, 0.88), (21.0, 50.0)),
        TripFunction.UV2: _TripRow(0.50, 2.0, (0.0, 0.50), (2.0, 21.0)),
    },
}

# IEEE 1547-2018 Table 19 (all categories), 60 Hz figures: pickup Hz / clearing s.
_FREQUENCY_TABLE_60HZ: dict[TripFunction, _TripRow] = {
    TripFunction.OF2: _TripRow(62.0, 0.16, (61.8, 66.0), (0.16, 1000.0)),
    TripFunction.OF1: _TripRow(61.2, 300.0, (61.0, 66.0), (180.0, 1000.0)),
    TripFunction.UF1: _TripRow(58.5, 300.0, (50.0, 59.0), (180.0, 1000.0)),
    TripFunction.UF2: _TripRow(56.5, 0.16, (50.0, 57.0), (0.16, 1000.0)),
}

# Enter service (Table 4): default window and the range each edge may be set in (60 Hz).
_ENTER_SERVICE_DEFAULTS_60HZ = {
    "enter_service_voltage_min_pu": (0.917, (0.88, 0.95)),
    "enter_service_voltage_max_pu": (1.05, (1.05, 1.06)),
    "enter_service_frequency_min_hz": (59.5, (59.0, 59.9)),
    "enter_service_frequency_max_hz": (60.1, (60.1, 61.0)),
    "enter_service_delay_s": (300.0, (0.0, 600.0)),
}

# Table 5 (secondary): (upper kVA bound, Δf Hz, ΔV %, Δφ degrees), smallest rating first.
_SYNC_TABLE: tuple[tuple[float, float, float, float], ...] = (
    (500.0, 0.3, 10.0, 20.0),
    (1500.0, 0.2, 5.0, 15.0),
    (float("inf"), 0.1, 3.0, 10.0),
)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _hz(value_60hz: float, factor: float) -> float:
    """A 60 Hz frequency figure scaled to the site's nominal frequency (to 1 µHz)."""
    return round(value_60hz * factor, 6)


def _scaled(row: _TripRow, factor: float) -> _TripRow:
    return _TripRow(
        _hz(row.pickup, factor),
        row.clearing_time_s,
        (_hz(row.pickup_range[0], factor), _hz(row.pickup_range[1], factor)),
        row.clearing_range,
    )


def _trip_table(category: str, nominal_frequency_hz: float) -> dict[TripFunction, _TripRow]:
    factor = nominal_frequency_hz / 60.0
    table = dict(_VOLTAGE_TABLE[category])
    table.update({fn: _scaled(row, factor) for fn, row in _FREQUENCY_TABLE_60HZ.items()})
    return table


@dataclass(frozen=True)
class TripSetting:
    """A resolved must-trip function: trips once its condition held ``clearing_time_s``.

    Over-functions pick up when the worst phase (or the frequency) is strictly above
    ``pickup``, under-functions when strictly below (so a 0 pu under-voltage pickup never
    trips, as the standard's range allows).
    """

    function: TripFunction
    pickup: float
    clearing_time_s: float

    def picked_up(self, value: float) -> bool:
        return value > self.pickup if self.function.is_over else value < self.pickup


@dataclass(frozen=True)
class EnterServiceWindow:
    """Grid conditions that must hold continuously for ``delay_s`` before reconnecting."""

    voltage_min_pu: float
    voltage_max_pu: float
    frequency_min_hz: float
    frequency_max_hz: float
    delay_s: float


@dataclass(frozen=True)
class SyncCheckLimits:
    """Largest grid-side vs island-side differences at which the PCC breaker may close."""

    max_voltage_diff_pct: float
    max_frequency_diff_hz: float
    max_phase_diff_deg: float


@dataclass(frozen=True)
class ResolvedIslandingSettings:
    """Everything the controller needs, defaults applied and ranges checked. Immutable."""

    category: Category
    nominal_frequency_hz: float
    trips: tuple[TripSetting, ...]
    enter_service: EnterServiceWindow
    sync_check: SyncCheckLimits
    breaker_operate_timeout_s: float
    backup_trip_output: bool
    load_shed_order: tuple[str, ...]
    soc_floor_margin_pct: float
    restore_step_interval_s: float
    planned_island_pcc_threshold_kw: float
    planned_island_timeout_s: float

    def trip(self, function: TripFunction | str) -> TripSetting:
        wanted = TripFunction(function)
        return next(t for t in self.trips if t.function is wanted)


def sync_limits_for(aggregate_der_kva: float | None) -> SyncCheckLimits:
    """Table 5 row for the site's aggregate DER rating; the strictest row when unknown."""
    rating = float("inf") if aggregate_der_kva is None else aggregate_der_kva
    for upper_kva, df_hz, dv_pct, dphi_deg in _SYNC_TABLE:
        if rating <= upper_kva:
            return SyncCheckLimits(dv_pct, df_hz, dphi_deg)
    raise AssertionError("the last Table 5 row has no upper bound")


def defaults_for(
    category: Category,
    nominal_frequency_hz: NominalFrequency,
    aggregate_der_kva: float | None = None,
) -> ResolvedIslandingSettings:
    """The IEEE 1547-2018 defaults for a category, scaled to the site's nominal frequency."""
    return IslandingSettings(
        category=category,
        nominal_frequency_hz=nominal_frequency_hz,
        aggregate_der_kva=aggregate_der_kva,
    ).resolved()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VoltageTripOverride(_Section):
    """Site change to a voltage must-trip function (unset fields keep the default)."""

    pickup_pu: float | None = Field(default=None, ge=0)
    clearing_time_s: float | None = Field(default=None, gt=0)


class FrequencyTripOverride(_Section):
    """Site change to a frequency must-trip function (unset fields keep the default)."""

    pickup_hz: float | None = Field(default=None, gt=0)
    clearing_time_s: float | None = Field(default=None, gt=0)


class TripOverrides(_Section):
    """Per-function changes; a function left out keeps its category default."""

    OV2: VoltageTripOverride | None = None
    OV1: VoltageTripOverride | None = None
    UV1: VoltageTripOverride | None = None
    UV2: VoltageTripOverride | None = None
    OF2: FrequencyTripOverride | None = None
    OF1: FrequencyTripOverride | None = None
    UF1: FrequencyTripOverride | None = None
    UF2: FrequencyTripOverride | None = None


class SyncCheckOverride(_Section):
    """Tighter sync-check limits than Table 5 (looser ones are refused)."""

    max_voltage_diff_pct: float | None = Field(default=None, gt=0)
    max_frequency_diff_hz: float | None = Field(default=None, gt=0)
    max_phase_diff_deg: float | None = Field(default=None, gt=0)


class IslandingSettings(_Section):
    """The ``islanding:`` section of the site file. Every key is optional.

    ``nominal_frequency_hz`` and ``aggregate_der_kva`` describe the site; the site loader
    may fill them from the site-level facts before validating this section.
    """

    category: Category = "II"
    nominal_frequency_hz: NominalFrequency = 60
    aggregate_der_kva: float | None = Field(default=None, ge=0)
    trip: TripOverrides = Field(default_factory=TripOverrides)
    enter_service_voltage_min_pu: float | None = None
    enter_service_voltage_max_pu: float | None = None
    enter_service_frequency_min_hz: float | None = None
    enter_service_frequency_max_hz: float | None = None
    enter_service_delay_s: float | None = None
    sync_check: SyncCheckOverride = Field(default_factory=SyncCheckOverride)
    breaker_operate_timeout_s: float = Field(default=0.5, gt=0, le=5.0)
    backup_trip_output: bool = False
    load_shed_order: list[str] = Field(default_factory=list)
    soc_floor_margin_pct: float = Field(default=5.0, ge=0, le=50)
    restore_step_interval_s: float = Field(default=30.0, gt=0, le=3600)
    planned_island_pcc_threshold_kw: float = Field(default=5.0, gt=0)
    planned_island_timeout_s: float = Field(default=60.0, gt=0, le=600)

    _resolved: ResolvedIslandingSettings | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve_and_check(self) -> IslandingSettings:
        self._resolved = _resolve(self)
        return self

    def resolved(self) -> ResolvedIslandingSettings:
        """The frozen settings the controller runs on."""
        if self._resolved is None:
            self._resolved = _resolve(self)
        return self._resolved


def _check_range(key: str, value: float, allowed: Range, unit: str, why: str) -> None:
    low, high = allowed
    if low - 1e-9 <= value <= high + 1e-9:
        return
    if low == high:
        raise ValueError(
            f"islanding.{key} = {_fmt(value)} {unit} is not allowed: IEEE 1547-2018 fixes it "
            f"at {_fmt(low)} {unit} ({why}); remove the key to use the default"
        )
    raise ValueError(
        f"islanding.{key} = {_fmt(value)} {unit} is outside the allowed range "
        f"{_fmt(low)}–{_fmt(high)} {unit} ({why})"
    )


def _resolve_trips(section: IslandingSettings) -> tuple[TripSetting, ...]:
    why = f"IEEE 1547-2018, category {section.category}"
    table = _trip_table(section.category, section.nominal_frequency_hz)
    trips: list[TripSetting] = []
    for function, row in table.items():
        override = getattr(section.trip, function.value)
        pickup, clearing = row.pickup, row.clearing_time_s
        if isinstance(override, VoltageTripOverride):
            pickup = row.pickup if override.pickup_pu is None else override.pickup_pu
            _check_range(f"trip.{function}.pickup_pu", pickup, row.pickup_range, "pu", why)
        elif isinstance(override, FrequencyTripOverride):
            pickup = row.pickup if override.pickup_hz is None else override.pickup_hz
            _check_range(f"trip.{function}.pickup_hz", pickup, row.pickup_range, "Hz", why)
        if override is not None and override.clearing_time_s is not None:
            clearing = override.clearing_time_s
            key = f"trip.{function}.clearing_time_s"
            _check_range(key, clearing, row.clearing_range, "s", why)
        trips.append(TripSetting(function, pickup, clearing))
    _check_stage_order(trips)
    return tuple(trips)


def _check_stage_order(trips: list[TripSetting]) -> None:
    """Stage 2 is the fast, far stage: beyond stage 1's pickup and no slower than it."""
    by_fn = {t.function: t for t in trips}
    for fast, slow in (("OV2", "OV1"), ("UV2", "UV1"), ("OF2", "OF1"), ("UF2", "UF1")):
        f, s = by_fn[TripFunction(fast)], by_fn[TripFunction(slow)]
        beyond = f.pickup >= s.pickup if f.function.is_over else f.pickup <= s.pickup
        if not beyond:
            raise ValueError(
                f"islanding.trip.{fast} pickup {_fmt(f.pickup)} {f.function.unit} must lie "
                f"beyond {slow} pickup {_fmt(s.pickup)} {s.function.unit}"
            )
        if f.clearing_time_s > s.clearing_time_s:
            raise ValueError(
                f"islanding.trip.{fast} clearing time {_fmt(f.clearing_time_s)} s must not "
                f"exceed {slow} clearing time {_fmt(s.clearing_time_s)} s"
            )


def _resolve_enter_service(section: IslandingSettings) -> EnterServiceWindow:
    factor = section.nominal_frequency_hz / 60.0
    values: dict[str, float] = {}
    for key, (default, allowed) in _ENTER_SERVICE_DEFAULTS_60HZ.items():
        is_freq = key.endswith("_hz")
        scale = factor if is_freq else 1.0
        value = getattr(section, key)
        value = _hz(default, scale) if value is None else value
        unit = "Hz" if is_freq else ("pu" if key.endswith("_pu") else "s")
        limits = (_hz(allowed[0], scale), _hz(allowed[1], scale))
        _check_range(key, value, limits, unit, "IEEE 1547-2018 enter service")
        values[key] = value
    return EnterServiceWindow(
        voltage_min_pu=values["enter_service_voltage_min_pu"],
        voltage_max_pu=values["enter_service_voltage_max_pu"],
        frequency_min_hz=values["enter_service_frequency_min_hz"],
        frequency_max_hz=values["enter_service_frequency_max_hz"],
        delay_s=values["enter_service_delay_s"],
    )


def _resolve_sync_check(section: IslandingSettings) -> SyncCheckLimits:
    table = sync_limits_for(section.aggregate_der_kva)
    rating = (
        "unknown aggregate DER rating (set islanding.aggregate_der_kva)"
        if section.aggregate_der_kva is None
        else f"aggregate DER rating {_fmt(section.aggregate_der_kva)} kVA"
    )
    why = f"IEEE 1547-2018 Table 5 for {rating}"
    o = section.sync_check
    dv = table.max_voltage_diff_pct if o.max_voltage_diff_pct is None else o.max_voltage_diff_pct
    df = table.max_frequency_diff_hz if o.max_frequency_diff_hz is None else o.max_frequency_diff_hz
    dphi = table.max_phase_diff_deg if o.max_phase_diff_deg is None else o.max_phase_diff_deg
    _check_range("sync_check.max_voltage_diff_pct", dv, (0, table.max_voltage_diff_pct), "%", why)
    _check_range(
        "sync_check.max_frequency_diff_hz", df, (0, table.max_frequency_diff_hz), "Hz", why
    )
    _check_range("sync_check.max_phase_diff_deg", dphi, (0, table.max_phase_diff_deg), "°", why)
    return SyncCheckLimits(dv, df, dphi)


def _check_shed_order(order: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    for device_id in order:
        if not device_id.strip():
            raise ValueError("islanding.load_shed_order contains an empty device id")
        if device_id in seen:
            raise ValueError(f"islanding.load_shed_order lists device {device_id!r} twice")
        seen.add(device_id)
    return tuple(order)


def _resolve(section: IslandingSettings) -> ResolvedIslandingSettings:
    return ResolvedIslandingSettings(
        category=section.category,
        nominal_frequency_hz=float(section.nominal_frequency_hz),
        trips=_resolve_trips(section),
        enter_service=_resolve_enter_service(section),
        sync_check=_resolve_sync_check(section),
        breaker_operate_timeout_s=section.breaker_operate_timeout_s,
        backup_trip_output=section.backup_trip_output,
        load_shed_order=_check_shed_order(section.load_shed_order),
        soc_floor_margin_pct=section.soc_floor_margin_pct,
        restore_step_interval_s=section.restore_step_interval_s,
        planned_island_pcc_threshold_kw=section.planned_island_pcc_threshold_kw,
        planned_island_timeout_s=section.planned_island_timeout_s,
    )
