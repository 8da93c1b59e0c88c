"""Turn a device's ``agent:`` block of the site file into its market personality.

The site file speaks a facility manager's language (priority 0–10, comfort band, reserve
SoC %); the market agents speak kW, kWh and prices. This is the one place that maps one
onto the other.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from gateway.config.site import AgentPreferences, Device
from market.agents import (
    Battery,
    BatteryPreferences,
    CriticalLoad,
    CriticalLoadPreferences,
    CurtailableLoad,
    CurtailableLoadPreferences,
    EvCharger,
    EvPreferences,
    Generator,
    GeneratorPreferences,
    HvacPreferences,
    HvacZone,
    PriceBand,
    PvArray,
    PvPreferences,
)

PRIORITY_SCALE = 10  # site priority 0..10 -> market priority 0..100 (critical = 100)


class AgentConfigError(ValueError):
    """A device's agent block cannot drive its personality (names the device)."""


def market_priority(preferences: AgentPreferences) -> int:
    if preferences.critical:
        return 100
    return preferences.priority * PRIORITY_SCALE


def build_agent(device: Device, band: PriceBand, *, rated_load_kw: Decimal | None = None) -> Any:
    """The market agent for ``device``, or None when it only measures (personality none)."""
    prefs = device.agent
    priority = market_priority(prefs)
    party = device.id
    kind = prefs.personality
    if kind == "none":
        return None
    if kind in ("critical_load", "fixed_load"):
        rated = prefs.rated_power_kw or rated_load_kw or Decimal(0)
        return CriticalLoad(party, CriticalLoadPreferences(rated, priority), band)
    if kind == "hvac":
        assert prefs.comfort_min_c is not None and prefs.comfort_max_c is not None
        assert prefs.rated_power_kw is not None
        desired = (prefs.comfort_min_c + prefs.comfort_max_c) / 2
        return HvacZone(party, HvacPreferences(
            rated_kw=prefs.rated_power_kw, desired_c=desired, comfort_min_c=prefs.comfort_min_c,
            comfort_max_c=prefs.comfort_max_c, priority=priority), band)
    if kind == "ev":
        assert prefs.max_power_kw is not None
        max_price = prefs.threshold_price_per_kwh or Decimal("0.30")
        return EvCharger(party, EvPreferences(max_rate_kw=prefs.max_power_kw,
                                              max_price=max_price, priority=priority), band)
    if kind == "curtailable":
        assert prefs.rated_power_kw is not None and prefs.threshold_price_per_kwh is not None
        return CurtailableLoad(party, CurtailableLoadPreferences(
            prefs.rated_power_kw, prefs.threshold_price_per_kwh, priority), band)
    if kind == "pv":
        assert prefs.peak_power_kw is not None
        return PvArray(party, PvPreferences(prefs.peak_power_kw, priority=priority), band)
    if kind == "battery":
        return Battery(party, battery_preferences(prefs, priority), band)
    if kind == "generator":
        assert prefs.rated_power_kw is not None and prefs.fuel_cost_per_kwh is not None
        return Generator(party, GeneratorPreferences(
            max_kw=prefs.rated_power_kw, min_kw=prefs.rated_power_kw * Decimal("0.3"),
            fuel_cost=prefs.fuel_cost_per_kwh, start_cost=prefs.start_cost or Decimal(0),
            min_run=timedelta(minutes=prefs.min_run_minutes or 0), priority=priority), band)
    raise AgentConfigError(f"device {device.id}: unknown personality {kind!r}")


def battery_preferences(prefs: AgentPreferences, priority: int) -> BatteryPreferences:
    assert prefs.capacity_kwh is not None and prefs.reserve_soc_pct is not None
    assert prefs.max_charge_kw is not None and prefs.max_discharge_kw is not None
    capacity = prefs.capacity_kwh
    return BatteryPreferences(
        capacity_kwh=capacity,
        soc_min_kwh=capacity * prefs.min_soc_pct / 100,
        soc_max_kwh=capacity * prefs.max_soc_pct / 100,
        max_charge_kw=prefs.max_charge_kw,
        max_discharge_kw=prefs.max_discharge_kw,
        round_trip_efficiency=prefs.round_trip_efficiency,
        reserve_kwh=capacity * prefs.reserve_soc_pct / 100,
        priority=priority,
        island_headroom_kw=prefs.max_discharge_kw * prefs.island_headroom_pct / 100,
    )
