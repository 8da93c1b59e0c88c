"""Must-trip detection at the PCC: each function trips once its condition held its clearing time.

A function's timer starts at the first sample that shows its condition and resets at the
first sample that shows it cleared. A missing sample (``None``) is no evidence either
way: the timer neither resets nor restarts, so a meter dropping a poll never delays a trip.
Voltage uses the worst phase: the highest for over-voltage, the lowest for under-voltage.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.islanding.settings import TripFunction, TripSetting

# Float time stamps accumulate rounding; a condition held this close to its clearing
# time has held it.
TIME_EPSILON_S = 1e-6


@dataclass(frozen=True)
class Trip:
    """A must-trip function that fired, with the value that fired it."""

    setting: TripSetting
    value: float
    held_s: float

    @property
    def cause(self) -> str:
        fn = self.setting.function
        quantity = "grid voltage" if fn.is_voltage else "grid frequency"
        side = "above" if fn.is_over else "below"
        return (
            f"{fn} must-trip: {quantity} {self.value:.4g} {fn.unit} {side} "
            f"{self.setting.pickup:.4g} {fn.unit} for {self.held_s:.3g} s "
            f"(clearing time {self.setting.clearing_time_s:g} s)"
        )


def measured_value(
    function: TripFunction,
    voltage_pu: tuple[float, ...] | None,
    frequency_hz: float | None,
) -> float | None:
    """The value a function looks at: worst phase voltage, or the frequency."""
    if not function.is_voltage:
        return frequency_hz
    if not voltage_pu:
        return None
    return max(voltage_pu) if function.is_over else min(voltage_pu)


class MustTripDetector:
    """Pickup timers for the eight must-trip functions."""

    def __init__(self, trips: tuple[TripSetting, ...]) -> None:
        self._trips = trips
        self._picked_up_at: dict[TripFunction, float] = {}

    def reset(self) -> None:
        self._picked_up_at.clear()

    def update(
        self,
        now_s: float,
        voltage_pu: tuple[float, ...] | None,
        frequency_hz: float | None,
    ) -> Trip | None:
        """Feed one sample; the function that trips now (the fastest-clearing one), if any."""
        fired: list[Trip] = []
        for setting in self._trips:
            fn = setting.function
            value = measured_value(fn, voltage_pu, frequency_hz)
            if value is None:
                continue
            if not setting.picked_up(value):
                self._picked_up_at.pop(fn, None)
                continue
            since = self._picked_up_at.setdefault(fn, now_s)
            held = now_s - since
            if held + TIME_EPSILON_S >= setting.clearing_time_s:
                fired.append(Trip(setting, value, held))
        if not fired:
            return None
        return min(fired, key=lambda t: t.setting.clearing_time_s)
