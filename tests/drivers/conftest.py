"""Fixtures of the driver tests: profiles, a simulated Modbus device, a mock pin factory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from drivers.clock import ManualClock
from drivers.connection import ModbusTcpConnection
from drivers.profile import PROFILE_DIR, ModbusProfile, Profile, load_profile


def profile(name: str) -> Profile:
    return load_profile(PROFILE_DIR / f"{name}.yaml")


def modbus_profile(name: str) -> ModbusProfile:
    loaded = profile(name)
    assert isinstance(loaded, ModbusProfile)
    return loaded


def tcp(port: int, unit: int = 1, timeout_s: float = 0.3) -> ModbusTcpConnection:
    return ModbusTcpConnection(kind="modbus_tcp", host="127.0.0.1", port=port, unit=unit,
                               timeout_s=timeout_s)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    """gpiozero's mock factory as the default, closed and reset after the test."""
    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    factory.close()
    Device.pin_factory = previous


@pytest.fixture
def profiles_dir() -> Path:
    return PROFILE_DIR
