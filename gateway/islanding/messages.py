"""What goes into the islanding controller and what comes out of it.

Inputs are one frozen snapshot of the measurements; a missing measurement is ``None``
and is never guessed. Outputs are either :class:`Command` (something a device must do)
or :class:`Event` (a transition or an alarm for the ledger and the operator).

Sign convention: ``pcc_power_kw`` is positive when the building imports from the grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

Measurement = float | str | None


class State(StrEnum):
    UNKNOWN = "unknown"
    GRID_CONNECTED = "grid_connected"
    ISLANDING = "islanding"
    ISLANDED = "islanded"
    RESYNCHRONISING = "resynchronising"
    RECONNECTING = "reconnecting"
    LOCKOUT = "lockout"


class OperatorCommand(StrEnum):
    PLANNED_ISLAND = "planned_island"
    PLANNED_RECONNECT = "planned_reconnect"
    RESET_LOCKOUT = "reset_lockout"


class BreakerStatus(StrEnum):
    """The PCC breaker as its auxiliary contacts report it."""

    CLOSED = "closed"
    OPEN = "open"
    INCONSISTENT = "inconsistent"
    UNKNOWN = "unknown"

    @classmethod
    def from_contacts(cls, contact_52a: bool | None, contact_52b: bool | None) -> BreakerStatus:
        """52a is made when the main contacts are closed, 52b when they are open."""
        if contact_52a is None or contact_52b is None:
            return cls.UNKNOWN
        if contact_52a and not contact_52b:
            return cls.CLOSED
        if contact_52b and not contact_52a:
            return cls.OPEN
        return cls.INCONSISTENT


class StorageMode(StrEnum):
    GRID_FORMING = "grid_forming"
    GRID_FOLLOWING = "grid_following"


class MarketMode(StrEnum):
    ISLANDED = "islanded"
    GRID_CONNECTED = "grid_connected"


class AlarmCode(StrEnum):
    """Stable alarm codes; docs/islanding.md says what each means and what to do."""

    BREAKER_FAILED_TO_OPEN = "ISL-BREAKER-FAILED-TO-OPEN"
    BREAKER_FAILED_TO_CLOSE = "ISL-BREAKER-FAILED-TO-CLOSE"
    BREAKER_STATUS_INCONSISTENT = "ISL-BREAKER-STATUS-INCONSISTENT"
    BREAKER_OPENED_UNCOMMANDED = "ISL-BREAKER-OPENED-UNCOMMANDED"
    BREAKER_CLOSED_UNCOMMANDED = "ISL-BREAKER-CLOSED-UNCOMMANDED"
    PCC_MEASUREMENTS_MISSING = "ISL-PCC-MEASUREMENTS-MISSING"
    STARTUP_DATA_MISSING = "ISL-STARTUP-DATA-MISSING"
    ISLAND_OVERLOADED = "ISL-ISLAND-OVERLOADED"
    ISLAND_COLLAPSED = "ISL-ISLAND-COLLAPSED"
    BATTERY_NEAR_RESERVE = "ISL-BATTERY-NEAR-RESERVE"
    SYNC_CHECK_NOT_MET = "ISL-SYNC-CHECK-NOT-MET"


def per_unit(volts: Sequence[float | None] | None, nominal_v: float) -> tuple[float, ...] | None:
    """Per-phase volts as per unit of the site's nominal; ``None`` if any phase is missing."""
    if not volts or any(v is None for v in volts):
        return None
    return tuple(float(v) / nominal_v for v in volts if v is not None)


def _frozen(mapping: Mapping[str, float] | None) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping or {}))


_SCALAR_FIELDS = (
    "grid_frequency_hz",
    "island_frequency_hz",
    "phase_angle_diff_deg",
    "pcc_power_kw",
    "battery_soc_pct",
    "battery_reserve_soc_pct",
    "island_supply_kw",
    "critical_demand_kw",
)


@dataclass(frozen=True)
class Inputs:
    """One snapshot of everything the controller looks at. ``None`` = not measured.

    Voltages are per phase in per unit of nominal; the worst phase counts. The island
    (bus) side is the building side of the PCC breaker. ``phase_angle_diff_deg`` is
    grid-side minus island-side phase angle. ``load_demand_kw`` holds each sheddable
    load's demand (what it draws, or would draw when switched on); critical loads are
    summed in ``critical_demand_kw``. ``island_supply_kw`` is what storage and local
    generation can deliver now while islanded.
    """

    grid_voltage_pu: tuple[float, ...] | None = None
    grid_frequency_hz: float | None = None
    island_voltage_pu: tuple[float, ...] | None = None
    island_frequency_hz: float | None = None
    phase_angle_diff_deg: float | None = None
    grid_present: bool | None = None
    breaker_52a: bool | None = None
    breaker_52b: bool | None = None
    pcc_power_kw: float | None = None
    battery_soc_pct: float | None = None
    battery_reserve_soc_pct: float | None = None
    island_supply_kw: float | None = None
    critical_demand_kw: float | None = None
    load_demand_kw: Mapping[str, float] = field(default_factory=lambda: _frozen(None))
    operator_command: OperatorCommand | None = None

    def __post_init__(self) -> None:
        """A NaN or infinite reading is no reading: it becomes ``None`` (never compared)."""
        for name in _SCALAR_FIELDS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                object.__setattr__(self, name, None)
        for name in ("grid_voltage_pu", "island_voltage_pu"):
            phases = getattr(self, name)
            if phases is not None and not all(math.isfinite(v) for v in phases):
                object.__setattr__(self, name, None)
        demand = {k: v for k, v in self.load_demand_kw.items() if math.isfinite(v)}
        object.__setattr__(self, "load_demand_kw", _frozen(demand))

    @property
    def breaker(self) -> BreakerStatus:
        return BreakerStatus.from_contacts(self.breaker_52a, self.breaker_52b)

    def snapshot(self) -> dict[str, Measurement]:
        """The measured values as a flat record for the ledger."""

        def phases(values: tuple[float, ...] | None) -> str | None:
            return None if values is None else ",".join(f"{v:.4f}" for v in values)

        return {
            "grid_voltage_pu": phases(self.grid_voltage_pu),
            "grid_frequency_hz": self.grid_frequency_hz,
            "island_voltage_pu": phases(self.island_voltage_pu),
            "island_frequency_hz": self.island_frequency_hz,
            "phase_angle_diff_deg": self.phase_angle_diff_deg,
            "grid_present": None if self.grid_present is None else str(self.grid_present),
            "breaker": self.breaker.value,
            "pcc_power_kw": self.pcc_power_kw,
            "battery_soc_pct": self.battery_soc_pct,
            "island_supply_kw": self.island_supply_kw,
        }


@dataclass(frozen=True)
class OpenBreaker:
    """Open the PCC breaker."""


@dataclass(frozen=True)
class CloseBreaker:
    """Close the PCC breaker (issued only after window, delay and sync-check hold)."""


@dataclass(frozen=True)
class FireBackupTrip:
    """Energise the backup trip output (upstream device or shunt trip)."""


@dataclass(frozen=True)
class SetStorageMode:
    mode: StorageMode


@dataclass(frozen=True)
class SetPccFlowTarget:
    """Dispatch storage and flexible loads so the PCC flow goes to ``target_kw``.

    ``None`` releases the target (normal market dispatch resumes).
    """

    target_kw: float | None


@dataclass(frozen=True)
class ShedLoad:
    device_id: str


@dataclass(frozen=True)
class RestoreLoad:
    device_id: str


@dataclass(frozen=True)
class SetMarketMode:
    mode: MarketMode


@dataclass(frozen=True)
class RaiseAlarm:
    code: AlarmCode
    message: str
    at_s: float


@dataclass(frozen=True)
class Transition:
    """A state change with its cause, the measurements that caused it and the time."""

    from_state: State
    to_state: State
    cause: str
    measurements: Mapping[str, Measurement]
    at_s: float


Command = (
    OpenBreaker
    | CloseBreaker
    | FireBackupTrip
    | SetStorageMode
    | SetPccFlowTarget
    | ShedLoad
    | RestoreLoad
    | SetMarketMode
)
Event = RaiseAlarm | Transition
Output = Command | Event

COMMAND_TYPES = (
    OpenBreaker,
    CloseBreaker,
    FireBackupTrip,
    SetStorageMode,
    SetPccFlowTarget,
    ShedLoad,
    RestoreLoad,
    SetMarketMode,
)


def is_command(output: Output) -> bool:
    return isinstance(output, COMMAND_TYPES)


@dataclass(frozen=True)
class RequestResult:
    """Whether an operator command was accepted, and why not."""

    accepted: bool
    reason: str
