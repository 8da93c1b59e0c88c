"""The utility grid behind the PCC: voltage, frequency and phase, with noise and events.

Between events the grid is stiff: voltage and frequency wander a little around nominal
(first-order filtered noise, so consecutive readings are correlated as on a real
feeder). Events — outage, sag, swell, frequency excursion, phase drift or jump, an
unstable return — change the levels while they last. The phase angle is that of phase A
against a reference rotating at exactly nominal frequency (the meters' reference clock).
"""

from __future__ import annotations

import math
import random

from hil.physics.events import GridEvent

VOLTAGE_NOISE_PU = 0.003
FREQUENCY_NOISE_HZ = 0.006
NOISE_TIME_CONSTANT_S = 20.0
UNSTABLE_PERIOD_S = 7.0
PRESENT_THRESHOLD_PU = 0.5  # the grid-sense relay drops out below half voltage


def wrap_deg(angle: float) -> float:
    """An angle folded into [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


class UtilityGrid:
    """Grid-side voltage (per phase), frequency and phase angle at the PCC."""

    def __init__(
        self,
        nominal_voltage_v: float,
        nominal_frequency_hz: float,
        events: tuple[GridEvent, ...],
        rng: random.Random,
    ) -> None:
        self.nominal_voltage_v = nominal_voltage_v
        self.nominal_frequency_hz = nominal_frequency_hz
        self._events = events
        self._rng = rng
        self._v_noise = 0.0
        self._f_noise = 0.0
        self.present = True
        self.voltage_pu = 1.0
        self.frequency_hz = nominal_frequency_hz
        self.phase_deg = 0.0
        # levels set by the active events
        self._level_v = 1.0
        self._level_f = nominal_frequency_hz
        self._drift = 0.0
        self._swing_v = 0.0
        self._swing_f = 0.0
        self._jumped: set[int] = set()

    def apply_events(self, t: float) -> None:
        """Recompute the event levels in force at ``t`` (called at event boundaries)."""
        self.present = True
        self._level_v = 1.0
        self._level_f = self.nominal_frequency_hz
        self._drift = self._swing_v = self._swing_f = 0.0
        for index, event in enumerate(self._events):
            if event.kind == "phase_jump":
                if t >= event.start_s and index not in self._jumped:
                    self._jumped.add(index)
                    self.phase_deg = wrap_deg(self.phase_deg + event.phase_jump_deg)
                continue
            if not event.start_s <= t < event.end_s:
                continue
            if event.kind == "outage":
                self.present = False
            elif event.kind in ("sag", "swell"):
                self._level_v = event.voltage_pu
            elif event.kind == "frequency":
                self._level_f = event.frequency_hz
            elif event.kind == "phase_drift":
                self._drift += event.phase_deg_per_s
            elif event.kind == "unstable":
                self._swing_v = max(self._swing_v, event.voltage_swing_pu)
                self._swing_f = max(self._swing_f, event.frequency_swing_hz)

    def step(self, t: float, dt: float) -> None:
        rng = self._rng
        decay = dt / NOISE_TIME_CONSTANT_S
        kick = math.sqrt(2.0 * decay)
        self._v_noise += -self._v_noise * decay + VOLTAGE_NOISE_PU * kick * rng.gauss(0.0, 1.0)
        self._f_noise += -self._f_noise * decay + FREQUENCY_NOISE_HZ * kick * rng.gauss(0.0, 1.0)
        if not self.present:
            self.voltage_pu = 0.0
            self.frequency_hz = 0.0
            return
        voltage = self._level_v + self._v_noise
        frequency = self._level_f + self._f_noise
        if self._swing_v or self._swing_f:
            wave = math.sin(2.0 * math.pi * t / UNSTABLE_PERIOD_S)
            voltage += self._swing_v * wave * (0.6 + 0.4 * rng.random())
            frequency += self._swing_f * math.cos(2.0 * math.pi * t / UNSTABLE_PERIOD_S)
        self.voltage_pu = voltage
        self.frequency_hz = frequency
        self.phase_deg = wrap_deg(
            self.phase_deg + (360.0 * (frequency - self.nominal_frequency_hz) + self._drift) * dt
        )

    @property
    def energized(self) -> bool:
        """Whether the grid-sense relay sees utility voltage."""
        return self.present and self.voltage_pu >= PRESENT_THRESHOLD_PU
