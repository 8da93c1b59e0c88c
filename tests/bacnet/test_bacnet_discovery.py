"""Who-Is through a BBMD on loopback, object lists, and the profile drafts discovery prints."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from bacnet_rig import Rig, udp_port
from ruamel.yaml import YAML

from drivers.bacnet.discover import discover, profile_document
from drivers.bacnet.stack import BacnetStack
from drivers.profile import BacnetProfile, load_profile, resolve_profile_path
from gateway import cli
from gateway.commands import bacnet_discovery
from hil.bacnet_server import BacnetDeviceServer

pytestmark = pytest.mark.timeout(30)

LIGHTS = {"on": True, "level_pct": 80.0, "power_kw": 9.6}


async def three_devices(rig: Rig) -> tuple[str, list[BacnetDeviceServer]]:
    """A BBMD (a VAV zone) and two foreign devices registered with it (zone, lighting)."""
    first = await rig.device(instance=1001, role="bbmd")
    bbmd = first.device.address.replace("/8", "")
    second = await rig.device(instance=1002, role="foreign", bbmd=bbmd)
    lighting = load_profile(resolve_profile_path("bacnet-lighting"))
    assert isinstance(lighting, BacnetProfile)
    third = await rig.device(LIGHTS, instance=1004, role="foreign", bbmd=bbmd,
                             profile=lighting)
    for server in (second, third):
        assert await server.device.registered(5.0)
    return bbmd, [first, second, third]


@pytest.fixture
async def client_stack() -> AsyncIterator[list[BacnetStack]]:
    stacks: list[BacnetStack] = []
    yield stacks
    for stack in stacks:
        stack.close()
    await asyncio.sleep(0)


async def test_who_is_through_the_bbmd_finds_every_device(
        rig: Rig, client_stack: list[BacnetStack]) -> None:
    bbmd, _ = await three_devices(rig)
    stack = BacnetStack(f"127.0.0.1/8:{udp_port()}", bbmd=bbmd)
    client_stack.append(stack)
    await stack.start()

    devices = await discover(stack, timeout_s=1.0)

    assert [d.identity.instance for d in devices] == [1001, 1002, 1004]
    zone = devices[0]
    assert zone.name == "zone_1001"
    setpoint = next(o for o in zone.objects if o.object_id == "analog-value,1")
    assert setpoint.commandable and setpoint.units == "degC" and setpoint.name == "setpoint_c"
    temperature = next(o for o in zone.objects if o.object_id == "analog-input,1")
    assert not temperature.commandable

    draft = BacnetProfile.model_validate(
        profile_document(devices[2], profile_name="bacnet-lights", nature="lighting"))
    assert {p.name: (p.object, p.commandable) for p in draft.points} == {
        "on": ("binary-output,1", True), "level_pct": ("analog-output,1", True),
        "power_kw": ("analog-input,1", False)}


async def test_discover_command_prints_profiles_and_device_entries(
        rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    bbmd, _ = await three_devices(rig)
    argv = ["discover", "bacnet", "--bbmd", bbmd, "--timeout", "1",
            "--nature", "hvac_zone"]  # any local address, a free port

    with ThreadPoolExecutor(1) as pool:  # the command runs its own event loop
        code = await asyncio.get_running_loop().run_in_executor(pool, cli.main, argv)

    out = capsys.readouterr().out
    assert code == 0
    documents = list(YAML(typ="safe").load_all(out))
    profiles = [BacnetProfile.model_validate(d) for d in documents if isinstance(d, dict)]
    entries = [d[0] for d in documents if isinstance(d, list)]
    assert len(profiles) == 3 and len(entries) == 3
    assert entries[0]["connection"] == {"kind": "bacnet", "address": bbmd,
                                        "device_instance": 1001}
    assert entries[0]["profile"] == profiles[0].name


def test_discover_command_needs_a_way_to_broadcast(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    bacnet_discovery.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bacnet"])

    assert args.handler(args) == 2
    assert "--local-address" in capsys.readouterr().err


async def test_driver_registered_with_a_bbmd_reads_and_writes(rig: Rig) -> None:
    bbmd, (first, second, _) = await three_devices(rig)
    driver = rig.driver(second, bbmd=bbmd)
    await driver.start()

    await driver.write("setpoint_c", 23.0)

    assert (await driver.poll())["setpoint_c"].value == 23.0
    assert second.device.priority_array("setpoint_c")[11] == 23.0
    assert first.device.priority_array("setpoint_c")[11] is None
