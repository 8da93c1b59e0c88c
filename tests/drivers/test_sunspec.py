"""SunSpec discovery on generated device images: the three bases, the model chain, the
model -> nature map, and points resolved from the discovered chain (not the profile's)."""

from __future__ import annotations

import pytest

from drivers.clock import ManualClock
from drivers.factory import build_driver
from drivers.modbus.client import ModbusLink, TcpEndpoint
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.sunspec import discover, nature_of, read_common, shipped_profile
from drivers.profile import ModbusProfile, SunspecLayout, SunspecModel
from hil.modbus_server import ModbusTcpSimulator, ModbusUnit
from hil.state import DeviceState
from tests.drivers.conftest import modbus_profile, tcp


def _with_layout(profile: ModbusProfile, base: int, extra_first: list[SunspecModel]
                 ) -> ModbusProfile:
    assert profile.sunspec is not None
    models = [profile.sunspec.models[0], *extra_first, *profile.sunspec.models[1:]]
    return profile.model_copy(update={"sunspec": SunspecLayout(base=base, models=models)})  # type: ignore[arg-type]


@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_discovery_walks_the_chain_at_each_base(base: int) -> None:
    profile = _with_layout(modbus_profile("sunspec-inverter-701-704"), base, [])
    async with ModbusTcpSimulator({1: ModbusUnit(profile, DeviceState("pv_1"))}) as server:
        link = ModbusLink(TcpEndpoint("127.0.0.1", server.port, 0.5))

        async def read(address: int, count: int) -> list[int]:
            return await link.read("holding", address, count, 1)

        chain = await discover(read)
        assert chain is not None and chain.base == base
        assert chain.ids == [1, 701, 704]
        assert [m.length for m in chain.models] == [66, 153, 65]
        assert chain.address(701, 8) == base + 2 + 68 + 2 + 8
        common = await read_common(read, chain)
        assert common["manufacturer"] == "TeMIX HIL"
        assert common["serial_number"] == "pv_1"
        assert common["model"] == "sunspec-inverter-701-704"
        await link.close()


async def test_discovery_reads_the_marker_with_the_first_header() -> None:
    """One request per model header, the first one with the marker: a big site's first
    contact costs as few round trips as the chain allows."""
    profile = modbus_profile("sunspec-inverter-701-704")
    async with ModbusTcpSimulator({1: ModbusUnit(profile, DeviceState("pv_1"))}) as server:
        link = ModbusLink(TcpEndpoint("127.0.0.1", server.port, 0.5))
        requests: list[tuple[int, int]] = []

        async def read(address: int, count: int) -> list[int]:
            requests.append((address, count))
            return await link.read("holding", address, count, 1)

        chain = await discover(read)
        assert chain is not None and chain.ids == [1, 701, 704]
        assert requests == [(40000, 4), (40070, 2), (40225, 2), (40292, 2)]
        await link.close()


async def test_points_resolve_from_the_discovered_chain(clock: ManualClock) -> None:
    """A device with an extra model (120) before 701: every address shifts; the driver
    follows the device, not the profile's default layout."""
    profile = modbus_profile("sunspec-inverter-701-704")
    device = _with_layout(profile, 40000, [SunspecModel(id=120, length=26)])
    state = DeviceState("pv", {"power_kw": 33.3, "frequency_hz": 60.0})
    async with ModbusTcpSimulator({1: ModbusUnit(device, state)}) as server:
        driver = build_driver("pv", tcp(server.port), profile, clock)
        assert isinstance(driver, ModbusDriver)
        readings = await driver.poll()
        assert readings["power_kw"].value == 33.3
        assert readings["frequency_hz"].value == 60.0
        assert driver.chain is not None and driver.chain.ids == [1, 120, 701, 704]
        await driver.stop()


async def test_a_missing_model_reads_no_value_with_a_warning(clock: ManualClock) -> None:
    profile = modbus_profile("sunspec-inverter-701-704")
    assert profile.sunspec is not None
    device = profile.model_copy(update={
        "sunspec": SunspecLayout(base=40000, models=list(profile.sunspec.models[:2])),
        "points": [p for p in profile.points if p.model != 704]})
    async with ModbusTcpSimulator({1: ModbusUnit(device, DeviceState("pv",
                                                                     {"power_kw": 1.0}))}) \
            as server:
        driver = build_driver("pv", tcp(server.port), profile, clock)
        readings = await driver.poll()
        assert readings["power_kw"].value == 1.0
        assert readings["curtailment_limit_pct"].quality == "no_value"
        assert driver.fault is not None and driver.fault.code == "sunspec_model_missing"
        await driver.stop()


@pytest.mark.parametrize(("models", "nature", "profile"), [
    ([1, 701, 704], "pv", "sunspec-inverter-701-704"),
    ([1, 103], "pv", None),
    ([1, 113, 120], "pv", None),
    ([1, 124, 103], "storage", None),
    ([1, 701, 704, 713, 802], "storage", "sunspec-storage-802"),
    ([1, 203], "meter", "sunspec-meter-203"),
    ([1, 213, 64110], "meter", "sunspec-meter-213"),
    ([1, 201], "meter", None), ([1, 202], "meter", None), ([1, 204], "meter", None),
    ([1, 211], "meter", None), ([1, 212], "meter", None), ([1, 214], "meter", None),
    ([1, 702], "pv", None),
    ([1], None, None),
])
def test_models_map_to_natures_and_shipped_profiles(models: list[int], nature: str | None,
                                                    profile: str | None) -> None:
    assert nature_of(models) == nature
    assert shipped_profile(models) == profile
