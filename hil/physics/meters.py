"""Meters: per-phase voltage, frequency, power, phase angle and integrated energy."""

from __future__ import annotations

from hil.state import DeviceState

# a small, fixed unbalance between phases, as on any real three-phase service
PHASE_UNBALANCE = (1.0, 0.997, 1.002)


class Meter:
    """One three-phase meter; ``power_kw`` import (consumption) is positive."""

    def __init__(self, device: DeviceState, nominal_voltage_v: float, phase_angle: bool) -> None:
        self.device = device
        self._nominal = nominal_voltage_v
        self._phase_angle = phase_angle
        self.energy_import_kwh = 0.0
        self.energy_export_kwh = 0.0
        self._phase_deg = 0.0  # the angle and frequency at the last physics step
        self._frequency_hz = 0.0
        self.update(0.0, 0.0, 0.0, 0.0, 0.0)

    def update(
        self, power_kw: float, voltage_pu: float, frequency_hz: float, phase_deg: float, dt: float
    ) -> None:
        hours = dt / 3600.0
        if power_kw > 0.0:
            self.energy_import_kwh += power_kw * hours
        else:
            self.energy_export_kwh -= power_kw * hours
        values = self.device.values
        volts = voltage_pu * self._nominal
        a, b, c = PHASE_UNBALANCE
        values["power_kw"] = power_kw
        values["voltage_a_v"] = volts * a
        values["voltage_b_v"] = volts * b
        values["voltage_c_v"] = volts * c
        values["frequency_hz"] = self._frequency_hz = frequency_hz
        values["energy_import_kwh"] = self.energy_import_kwh
        values["energy_export_kwh"] = self.energy_export_kwh
        if self._phase_angle:
            values["phase_angle_deg"] = self._phase_deg = phase_deg

    def carry_phase(self, since_step_s: float, nominal_hz: float) -> None:
        """Show the angle as it is ``since_step_s`` after the last step (a real meter
        measures when it is read; the physics steps a whole second at a time)."""
        if self._phase_angle and self._frequency_hz > 0.0:  # a dead side has no angle
            turned = 360.0 * (self._frequency_hz - nominal_hz) * since_step_s
            self.device.values["phase_angle_deg"] = self._phase_deg + turned
