"""The gateway's start: the ledger opens in a thread while the devices are polled. A ledger
held by another gateway stops the start with nothing left running; once it is free, the
gateway starts, every device polled once, and reports how long its start took."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sitekit import DEMO_SITE, free_port

from drivers.clock import RealClock
from gateway.config import load_site
from gateway.config.loader import Site
from gateway.ledger import Ledger, LedgerLockedError, verify_ledger
from gateway.runtime.app import Gateway
from hil.site_devices import SiteDevices
from hil.state import BuildingState

METERS = 6


def meters_site(folder: Path, port: int) -> Site:
    """The demo site's market with SunSpec meters on one simulated Modbus TCP server, each
    with a fixed-load agent; no provider, no breaker."""
    demo = DEMO_SITE.read_text(encoding="utf-8")
    header = demo[:demo.index("devices:\n")].replace("../../", f"{DEMO_SITE.parents[2]}/")
    market = demo[demo.index("market:\n"):demo.index("external_market:\n")]
    lines = ["devices:"]
    for n in range(METERS):
        lines += [f"  - id: load_{n}", "    nature: load", "    profile: sunspec-meter-203",
                  f"    connection: {{kind: modbus_tcp, host: 127.0.0.1, port: {port}, "
                  f"unit: {n + 1}}}",
                  "    poll_interval_s: 5",
                  "    agent: {personality: fixed_load, priority: 5}"]
    storage = (f"storage:\n  database: {folder / 'ledger.db'}\n"
               f"  state_directory: {folder / 'state'}\n")
    path = folder / "site.yaml"
    path.write_text(header + "\n".join(lines) + "\n\n" + market + storage, encoding="utf-8")
    return load_site(path)


async def test_locked_ledger_stops_the_start_then_the_gateway_starts(tmp_path: Path) -> None:
    site = meters_site(tmp_path, free_port(socket.SOCK_STREAM))
    building = BuildingState()
    for device in site.config.devices:
        building.device(device.id).values.update({"power_kw": 2.0, "voltage_a_v": 230.0,
                                                  "frequency_hz": 50.0})
    async with SiteDevices(site, building, RealClock()):
        (tmp_path / "state").mkdir()
        other = Ledger.open(tmp_path / "ledger.db", tmp_path / "other-state",
                            at=datetime.now(UTC))
        try:
            with pytest.raises(LedgerLockedError, match="in use by another gateway"):
                async with Gateway(site, RealClock()):
                    pass
        finally:
            other.close()
        async with Gateway(site, RealClock()) as gateway:
            assert gateway.ledger is not None
            assert gateway.poller.faults() == []
            assert all(gateway.poller.reading(d.id, "power_kw").value == 2.0
                       for d in site.config.devices)
            assert set(gateway.status.start_timings_s) == {"drivers", "ledger_open",
                                                           "first_poll"}
            assert set(gateway.ledger.parties) == {gateway.party,
                                                   *(d.id for d in site.config.devices)}
    assert verify_ledger(tmp_path / "ledger.db").ok
    await asyncio.get_running_loop().shutdown_default_executor()  # the ledger's threads
