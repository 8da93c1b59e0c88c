"""BACnet fixtures: a rig of simulated devices and drivers, closed at the end of each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from bacnet_rig import Rig

from drivers.clock import ManualClock


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with AsyncExitStack() as stack:
        rig = Rig(stack)
        try:
            yield rig
        finally:
            for driver in rig.drivers:
                await driver.stop()


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))

