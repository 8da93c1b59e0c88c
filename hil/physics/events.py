"""What a scenario does to the building, in seconds from the start of the run.

The scenario file (:mod:`hil.scenario`) compiles into a :class:`Timeline`; the physics
reads only these plain dataclasses, so it never depends on YAML or pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

GridEventKind = Literal[
    "outage", "sag", "swell", "frequency", "phase_drift", "phase_jump", "unstable"
]
BreakerFaultMode = Literal["fails_to_open", "fails_to_close"]


@dataclass(frozen=True)
class GridEvent:
    """A disturbance of the utility grid between ``start_s`` and ``end_s``."""

    kind: GridEventKind
    start_s: float
    end_s: float
    voltage_pu: float = 1.0  # sag / swell level
    frequency_hz: float = 0.0  # frequency excursion level (0: nominal)
    phase_deg_per_s: float = 0.0  # phase drift rate against the nominal frame
    phase_jump_deg: float = 0.0  # phase step at start_s
    voltage_swing_pu: float = 0.0  # unstable: peak voltage swing
    frequency_swing_hz: float = 0.0  # unstable: peak frequency swing


@dataclass(frozen=True)
class CloudEvent:
    """A cloud passing over the PV array: ``cover`` 0 (clear) .. 1 (overcast)."""

    start_s: float
    end_s: float
    cover: float


@dataclass(frozen=True)
class EvSession:
    """One vehicle: when it arrives, when it leaves, and the energy its driver asks for."""

    arrival_s: float
    departure_s: float
    energy_kwh: float


@dataclass(frozen=True)
class BreakerFault:
    """The PCC breaker does not move on the given command while the fault lasts."""

    mode: BreakerFaultMode
    start_s: float
    end_s: float


@dataclass(frozen=True)
class PriceSpike:
    """The external market's prices multiplied by ``factor`` for a while."""

    start_s: float
    end_s: float
    factor: float


@dataclass(frozen=True)
class Timeline:
    """A compiled scenario: start, length, step, seed and every event."""

    name: str
    start: datetime  # timezone-aware
    duration_s: float
    step_s: float = 1.0
    seed: int = 1
    grid: tuple[GridEvent, ...] = ()
    clouds: tuple[CloudEvent, ...] = ()
    cloud_cover: float = 0.0  # mean background cover for the whole run
    cloud_variability: float = 0.0  # 0: steady; up to 1: strongly varying
    ev_sessions: tuple[EvSession, ...] = ()
    breaker_faults: tuple[BreakerFault, ...] = ()
    price_spikes: tuple[PriceSpike, ...] = ()
    temperature_offset_c: float = 0.0
    battery_soc_pct: float = 60.0
    zone_temperature_c: float = 22.0

    def change_times(self) -> list[float]:
        """Every time at which some event starts or ends, sorted, without duplicates."""
        times: set[float] = set()
        for event in self.grid:
            times.update((event.start_s, event.end_s))
        for cloud in self.clouds:
            times.update((cloud.start_s, cloud.end_s))
        for fault in self.breaker_faults:
            times.update((fault.start_s, fault.end_s))
        for spike in self.price_spikes:
            times.update((spike.start_s, spike.end_s))
        for session in self.ev_sessions:
            times.add(session.arrival_s)
            times.add(session.departure_s)
        return sorted(times)
