"""Physics of the simulated building: bus balance, grid, breaker, PV, loads, HVAC, EV,
battery, lighting and meters, stepped at a fixed simulated step."""

from hil.physics.assembly import SiteNotSimulable, build_physics
from hil.physics.building import BuildingPhysics, BusFlows
from hil.physics.events import (
    BreakerFault,
    CloudEvent,
    EvSession,
    GridEvent,
    PriceSpike,
    Timeline,
)

__all__ = [
    "BreakerFault",
    "BuildingPhysics",
    "BusFlows",
    "CloudEvent",
    "EvSession",
    "GridEvent",
    "PriceSpike",
    "SiteNotSimulable",
    "Timeline",
    "build_physics",
]
