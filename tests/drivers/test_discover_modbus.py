"""``temix-gateway discover modbus`` against simulated devices on loopback."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gateway.cli import main
from hil.modbus_server import ModbusRtuSimulator, ModbusTcpSimulator, ModbusUnit
from hil.rtu import PtyPair
from hil.state import DeviceState
from tests.drivers.conftest import modbus_profile


async def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The CLI runs its own event loop: run it in a thread while ours serves."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def run() -> None:
        code = main(["discover", "modbus", *args])
        loop.call_soon_threadsafe(done.set_result, code)

    thread = threading.Thread(target=run)
    thread.start()
    code = await done
    thread.join()
    return code, capsys.readouterr().out


async def test_prints_a_ready_to_paste_entry_per_sunspec_unit(
        capsys: pytest.CaptureFixture[str]) -> None:
    units = {1: ModbusUnit(modbus_profile("sunspec-inverter-701-704"), DeviceState("INV-42")),
             2: ModbusUnit(modbus_profile("sunspec-meter-213"), DeviceState("M-7"))}
    async with ModbusTcpSimulator(units) as server:
        code, out = await _cli(capsys, "--host", "127.0.0.1", "--port", str(server.port),
                               "--unit", "1", "--unit", "2", "--timeout", "0.5")
    assert code == 0
    assert "models 1 (L=66), 701 (L=153), 704 (L=65)" in out
    assert "serial_number INV-42" in out
    entries = YAML(typ="safe").load("\n".join(line[2:] if line.startswith("  ") else line
                                              for line in out.splitlines()
                                              if not line.startswith("#")))
    assert entries[0] == {"id": "pv_inv_42", "nature": "pv",
                          "profile": "sunspec-inverter-701-704",
                          "connection": {"kind": "modbus_tcp", "host": "127.0.0.1",
                                         "port": server.port, "unit": 1}}
    assert entries[1]["nature"] == "meter" and entries[1]["profile"] == "sunspec-meter-213"


async def test_non_sunspec_device_points_to_profiles(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    units = {7: ModbusUnit(modbus_profile("modbus-ev-charger"), DeviceState("ev"))}
    async with ModbusTcpSimulator(units) as server:
        code, out = await _cli(capsys, "--host", "127.0.0.1", "--port", str(server.port),
                               "--unit", "7", "--timeout", "0.5")
    assert code == 1
    assert "Not a SunSpec device" in out and "config/profiles/" in out


async def test_no_answer_says_what_to_check(free_tcp_port: int,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await _cli(capsys, "--host", "127.0.0.1", "--port", str(free_tcp_port),
                           "--timeout", "0.2")
    assert code == 1
    assert "no answer" in out and "unit id" in out


async def test_discovers_over_rtu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    units = {3: ModbusUnit(modbus_profile("sunspec-meter-203"), DeviceState("SUB-1"))}
    async with PtyPair(link=tmp_path / "ttyRS485") as line, \
            ModbusRtuSimulator(units, port=line.server_port):
        code, out = await _cli(capsys, "--serial", line.client_port, "--baud", "19200",
                               "--parity", "N", "--unit", "3", "--timeout", "0.5")
    assert code == 0
    assert "profile: sunspec-meter-203" in out
    assert f"{{kind: modbus_rtu, port: {tmp_path / 'ttyRS485'}, baud: 19200, parity: N, " \
           "unit: 3}" in out
