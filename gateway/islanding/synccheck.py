"""Reconnection checks: the enter-service window on the grid side, and the sync-check.

Each check returns ``None`` when it holds, or a sentence saying what does not hold (it
becomes the cause of the transition that the check triggers). A missing measurement
never passes a check.
"""

from __future__ import annotations

from gateway.islanding.messages import Inputs
from gateway.islanding.settings import EnterServiceWindow, SyncCheckLimits


def window_violation(window: EnterServiceWindow, inputs: Inputs) -> str | None:
    """Why the grid side is not inside the enter-service window, or ``None`` if it is."""
    if inputs.grid_present is False:
        return "grid sense reports the grid absent"
    volts, freq = inputs.grid_voltage_pu, inputs.grid_frequency_hz
    if not volts or freq is None:
        return "grid-side voltage or frequency not measured"
    low, high = min(volts), max(volts)
    if low < window.voltage_min_pu or high > window.voltage_max_pu:
        return (
            f"grid voltage {low:.4g}–{high:.4g} pu outside "
            f"{window.voltage_min_pu:g}–{window.voltage_max_pu:g} pu"
        )
    if not window.frequency_min_hz <= freq <= window.frequency_max_hz:
        return (
            f"grid frequency {freq:.4g} Hz outside "
            f"{window.frequency_min_hz:g}–{window.frequency_max_hz:g} Hz"
        )
    return None


def wrapped_phase_deg(angle_deg: float) -> float:
    """An angle difference folded into -180..180 degrees."""
    return (angle_deg + 180.0) % 360.0 - 180.0


def sync_differences(inputs: Inputs) -> tuple[float, float, float] | None:
    """(ΔV %, Δf Hz, |Δφ| degrees) across the open breaker, worst phase; None if unmeasured."""
    grid_v, island_v = inputs.grid_voltage_pu, inputs.island_voltage_pu
    grid_f, island_f = inputs.grid_frequency_hz, inputs.island_frequency_hz
    dphi = inputs.phase_angle_diff_deg
    if not grid_v or not island_v or len(grid_v) != len(island_v):
        return None
    if grid_f is None or island_f is None or dphi is None:
        return None
    dv_pct = max(abs(g - i) for g, i in zip(grid_v, island_v, strict=True)) * 100.0
    return dv_pct, abs(grid_f - island_f), abs(wrapped_phase_deg(dphi))


# The close command goes out only inside this share of the phase limit: the angle keeps
# slipping while the breaker operates (tens of ms) and since the meters were read, so the
# margin is what a sync-check relay's advance angle is for.
PHASE_CLOSE_SHARE = 0.5


def sync_violation(limits: SyncCheckLimits, inputs: Inputs) -> str | None:
    """Why the breaker may not close now, or ``None`` if grid and island are in sync."""
    diffs = sync_differences(inputs)
    if diffs is None:
        return "grid-side or island-side voltage, frequency or phase angle not measured"
    dv_pct, df_hz, dphi_deg = diffs
    reasons = []
    if dv_pct > limits.max_voltage_diff_pct:
        reasons.append(f"ΔV {dv_pct:.3g} % > {limits.max_voltage_diff_pct:g} %")
    if df_hz > limits.max_frequency_diff_hz:
        reasons.append(f"Δf {df_hz:.3g} Hz > {limits.max_frequency_diff_hz:g} Hz")
    closing_angle = limits.max_phase_diff_deg * PHASE_CLOSE_SHARE
    if dphi_deg > closing_angle:
        reasons.append(f"Δφ {dphi_deg:.3g}° > {closing_angle:g}° (half the "
                       f"{limits.max_phase_diff_deg:g}° limit, for slip while closing)")
    return "; ".join(reasons) or None


def sync_summary(inputs: Inputs) -> str:
    diffs = sync_differences(inputs)
    if diffs is None:
        return "not measured"
    return f"ΔV {diffs[0]:.3g} %, Δf {diffs[1]:.3g} Hz, Δφ {diffs[2]:.3g}°"
