"""Modbus driver throughput, next to the raw pymodbus client, in one run.

1. Block reads per second: our driver's ``poll()`` of a profile that plans into one block
   of 40 registers (20 float32 points, decoded), against the raw pymodbus client reading
   the same 40 registers — same server, same loop, sequential requests.
2. Devices polled per second at 1 s intervals: N simulated SunSpec 213 meters (one TCP
   connection each) under one Poller; the largest N whose polls keep up.

The simulated devices run in a separate process (the HIL Modbus server), as a real
device would. Usage: ``python bench/modbus.py [--seconds S] [--max-devices N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

from pymodbus.client import AsyncModbusTcpClient  # the raw baseline only

from drivers.clock import RealClock
from drivers.connection import ModbusTcpConnection
from drivers.factory import build_driver
from drivers.modbus.client import LinkRegistry
from drivers.poller import Poller, PollSettings
from drivers.profile import PROFILE_DIR, ModbusProfile, load_profile

BLOCK_POINTS = 20
BATCH = 200
DEVICE_STEPS = (50, 100, 200, 300, 400, 500, 600, 800, 1200, 1600)
UNITS_PER_SERVER = 200  # unit ids 2..201 on each server port (Modbus allows up to 247)


def block_profile() -> ModbusProfile:
    points = [{"name": f"value_{i}", "address": 2 * i, "type": "float32", "unit": "kW"}
              for i in range(BLOCK_POINTS)]
    return ModbusProfile.model_validate({"name": "bench-block", "description": "bench",
                                         "nature": "meter", "protocol": "modbus",
                                         "points": points})


def meter_profile() -> ModbusProfile:
    profile = load_profile(PROFILE_DIR / "sunspec-meter-213.yaml")
    assert isinstance(profile, ModbusProfile)
    return profile


# -- the server process ---------------------------------------------------------------------


async def serve(units: int) -> None:
    from hil.modbus_server import ModbusTcpSimulator, ModbusUnit
    from hil.state import DeviceState

    block, meter = block_profile(), meter_profile()
    servers = []
    for first in range(0, max(units, 1), UNITS_PER_SERVER):
        devices = {1: ModbusUnit(block, DeviceState("block", {f"value_{i}": i * 1.5
                                                              for i in range(BLOCK_POINTS)}))}
        for unit in range(2, 2 + min(UNITS_PER_SERVER, units - first)):
            devices[unit] = ModbusUnit(meter, DeviceState(f"m{unit}", {"power_kw": 10.0}))
        server = ModbusTcpSimulator(devices)
        await server.start()
        servers.append(server)
    print(json.dumps({"ports": [s.port for s in servers]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for server in servers:
        await server.stop()


# -- measurements ---------------------------------------------------------------------------


async def block_reads(port: int, seconds: float) -> tuple[float, float, float]:
    """Requests/s of the raw client and of our driver, alternating short batches on two
    open connections (the machine's load then hits both alike); and the median of the
    per-batch ratios."""
    raw = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    await raw.connect()
    connection = ModbusTcpConnection(kind="modbus_tcp", host="127.0.0.1", port=port, unit=1,
                                     timeout_s=2)
    driver = build_driver("bench", connection, block_profile(), RealClock(),
                          registry=LinkRegistry())
    await driver.poll()
    async def raw_batch() -> float:
        start = time.perf_counter()
        for _ in range(BATCH):
            response = await raw.read_holding_registers(0, count=2 * BLOCK_POINTS, device_id=1)
            assert not response.isError()
        return BATCH / (time.perf_counter() - start)

    async def our_batch() -> float:
        start = time.perf_counter()
        for _ in range(BATCH):
            readings = await driver.poll()
            assert readings["value_3"].value == 4.5
        return BATCH / (time.perf_counter() - start)

    raw_rates: list[float] = []
    our_rates: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:  # alternate which goes first: no order bias
        if len(raw_rates) % 2:
            our_rates.append(await our_batch())
            raw_rates.append(await raw_batch())
        else:
            raw_rates.append(await raw_batch())
            our_rates.append(await our_batch())
    raw.close()
    await driver.stop()
    ratio = statistics.median(o / r for o, r in zip(our_rates, raw_rates, strict=True))
    return statistics.median(raw_rates), statistics.median(our_rates), ratio


async def devices_per_second(ports: list[int], devices: int, seconds: float) -> float:
    clock = RealClock()
    registry = LinkRegistry()
    poller = Poller(clock)
    for index in range(devices):
        port, unit = ports[index // UNITS_PER_SERVER], 2 + index % UNITS_PER_SERVER
        connection = ModbusTcpConnection(kind="modbus_tcp", host="127.0.0.1", port=port,
                                         unit=unit, timeout_s=2)
        poller.add(build_driver(f"m{index}", connection, meter_profile(), clock,
                                registry=registry),
                   PollSettings(interval_s=1.0, timeout_s=5.0))
    polls = 0

    def count(device_id: str, readings: object) -> None:
        nonlocal polls
        polls += 1

    async with poller:
        await asyncio.sleep(1.5)  # connect, discover, settle into the schedule
        poller.subscribe(count)
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - start
        bad = len(poller.faults())
    rate = polls / elapsed
    return rate if bad == 0 else 0.0


async def measure(args: argparse.Namespace) -> None:
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(args.max_devices)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())["ports"]
        port = ports[0]
        raw, ours, ratio = await block_reads(port, args.seconds)
        print(f"block reads/s (40 registers = 20 float32 points, sequential, batches of "
              f"{BATCH} alternating): raw pymodbus {raw:,.0f}, our driver poll() {ours:,.0f}; "
              f"median ratio {ratio:.2f} x raw (target >= 0.8)")
        best = 0
        for devices in (n for n in DEVICE_STEPS if n <= args.max_devices):
            rate = await devices_per_second(ports, devices, args.seconds)
            keeps_up = rate >= 0.95 * devices
            print(f"{devices} meters at 1 s intervals: {rate:,.0f} polls/s "
                  f"({'keeps up' if keeps_up else 'falls behind'})")
            if not keeps_up:
                break
            best = devices
        print(f"devices one gateway polls per second at 1 s intervals: >= {best}")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-devices", type=int, default=800)
    parser.add_argument("--serve", type=int, metavar="UNITS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve))
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
