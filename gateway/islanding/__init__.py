"""Islanding controller: IEEE 1547-2018 must-trip detection, PCC breaker sequencing,
island load management and resynchronisation, as a pure state machine plus an async shell.

Public API: :class:`IslandingController` (pure), :class:`IslandingService` (async shell),
:class:`IslandingSettings` (the site file's ``islanding:`` section) and the messages in
:mod:`gateway.islanding.messages`.
"""

from gateway.islanding.controller import IslandingController
from gateway.islanding.messages import (
    AlarmCode,
    BreakerStatus,
    Inputs,
    OperatorCommand,
    RequestResult,
    State,
)
from gateway.islanding.settings import (
    IslandingSettings,
    ResolvedIslandingSettings,
    defaults_for,
)

__all__ = [
    "AlarmCode",
    "BreakerStatus",
    "Inputs",
    "IslandingController",
    "IslandingSettings",
    "OperatorCommand",
    "RequestResult",
    "ResolvedIslandingSettings",
    "State",
    "defaults_for",
]
