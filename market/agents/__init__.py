"""Agent personalities: one small class per kind of device (see :mod:`market.agents.base`)."""

from __future__ import annotations

from market.agents.base import (
    DEFAULT_BAND,
    Agent,
    BoundAgent,
    Forecast,
    Participant,
    Personality,
    PositionCurve,
    Positions,
    PriceBand,
    Setpoint,
    curve_tenders,
)
from market.agents.battery import Battery, BatteryPreferences, BatteryState
from market.agents.critical import CriticalLoad, CriticalLoadPreferences
from market.agents.ev import EvCharger, EvPreferences, EvSession
from market.agents.generator import Generator, GeneratorPreferences, GeneratorState
from market.agents.hvac import HvacMode, HvacPreferences, HvacState, HvacZone
from market.agents.lighting import CurtailableLoad, CurtailableLoadPreferences
from market.agents.nested import NestedMarket
from market.agents.pv import PvArray, PvPreferences

__all__ = [
    "DEFAULT_BAND",
    "Agent",
    "Battery",
    "BatteryPreferences",
    "BatteryState",
    "BoundAgent",
    "CriticalLoad",
    "CriticalLoadPreferences",
    "CurtailableLoad",
    "CurtailableLoadPreferences",
    "EvCharger",
    "EvPreferences",
    "EvSession",
    "Forecast",
    "Generator",
    "GeneratorPreferences",
    "GeneratorState",
    "HvacMode",
    "HvacPreferences",
    "HvacState",
    "HvacZone",
    "NestedMarket",
    "Participant",
    "Personality",
    "PositionCurve",
    "Positions",
    "PriceBand",
    "PvArray",
    "PvPreferences",
    "Setpoint",
    "curve_tenders",
]
