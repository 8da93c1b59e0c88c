"""Process death: ``temix-gateway run`` as a real subprocess, killed (SIGKILL) in the
middle of its first market round, killed again right after a round while the answers to
its first external orders are lost (the provider took them), and stopped (SIGTERM), each
time restarted from its ledger.

The simulated building runs in this process on the real clock (the gateway in its own
process trades on the same time). GPIO mock pins exist only in-process, so the site
variant has no PCC breaker and no grid-sense input: islanding control is off (the gateway
logs it); every other device is on its real protocol on loopback. READY=1 arrives on a
NOTIFY_SOCKET of the test's own, as systemd would receive it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from daykit import write_scenario
from faultkit import LosesAnswers
from sitekit import private_demo_site

from drivers.clock import RealClock
from gateway.config import load_site
from gateway.ledger import EntryKind, LedgerReader
from gateway.runtime.app import site_path
from hil.rig import BuildingRig
from hil.scenario import load_scenario
from market.cts import decode_transaction
from market.temix import PositionBook

pytestmark = pytest.mark.timeout(150)

GPIO_DEVICES = {
    """  - id: pcc_breaker
    nature: breaker
    profile: gpio-pcc-breaker
    connection: {kind: gpio, pins: {trip: 17, close: 27, status_52a: 22, status_52b: 23,
                                    backup_trip: 24}}
  - id: grid_sense
    nature: grid_sense
    profile: gpio-grid-sense
    connection: {kind: gpio, pins: {grid_present: 25}}
""": "",
}
READY_TIMEOUT_S = 60.0
GATEWAY = [sys.executable, "-m", "gateway.cli"]
REPO = Path(__file__).resolve().parents[2]


class Notifications:
    """A NOTIFY_SOCKET: what the gateway tells systemd."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)

    async def wait_for(self, message: str, process: subprocess.Popen[bytes]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline:
            assert process.poll() is None, f"the gateway exited with {process.returncode}"
            try:
                data = self.sock.recv(4096).decode()
            except BlockingIOError:
                await asyncio.sleep(0.02)
                continue
            if message in data.splitlines():
                return
        raise AssertionError(f"no {message} within {READY_TIMEOUT_S} s")

    def close(self) -> None:
        self.sock.close()


def start_gateway(site_file: Path, notify: Notifications, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NOTIFY_SOCKET": notify.path}
    with log.open("ab") as out:
        return subprocess.Popen([*GATEWAY, "run", "--config", str(site_file)], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_for_log(log: Path, line: str, process: subprocess.Popen[bytes],
                       after: int) -> None:
    """Wait until ``line`` appears in the log beyond byte ``after``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    while line not in log.read_bytes()[after:].decode(errors="replace"):
        assert process.poll() is None, f"the gateway exited with {process.returncode}"
        assert loop.time() < deadline, f"no {line!r} in the log within {READY_TIMEOUT_S} s"
        await asyncio.sleep(0.005)


async def wait_exit(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while process.poll() is None:
        assert loop.time() < deadline, "the gateway did not exit"
        await asyncio.sleep(0.05)
    return process.returncode


def ledger_transactions(database: Path) -> list[Any]:
    with LedgerReader(database) as ledger:
        return [decode_transaction(e.payload)
                for e in ledger.events(None, None, [EntryKind.TRANSACTION])]


@pytest.fixture(scope="module")
def killed_and_stopped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("restart")
    rig_site = load_site(private_demo_site(folder).path)  # the building has its breaker
    site_file = folder / "gateway-site.yaml"  # the gateway does not see the GPIO devices
    text = rig_site.path.read_text(encoding="utf-8")
    for old, new in GPIO_DEVICES.items():
        assert old in text
        text = text.replace(old, new)
    site_file.write_text(text, encoding="utf-8")
    site = load_site(site_file)
    database = site_path(site, site.config.storage.database)
    now = datetime.now(ZoneInfo(site.config.site.timezone))
    scenario = load_scenario(write_scenario(folder, start=f"{now:%Y-%m-%dT00:00}",
                                            duration="48h"))
    log = folder / "gateway.log"
    seen: dict[str, Any] = {"log": log, "database": database}

    async def scenario_run() -> None:
        notify = Notifications(folder)
        try:
            await run_both(notify)
        finally:
            notify.close()

    async def run_both(notify: Notifications) -> None:
        async with BuildingRig(rig_site, scenario, RealClock(), start=now) as rig:
            mid_round = start_gateway(site_file, notify, log)
            try:  # the last start-up line: the first round is being cleared and squared
                await wait_for_log(log, "islanding control is off", mid_round, after=0)
                mid_round.send_signal(signal.SIGKILL)
                seen["killed_mid_round_rc"] = await wait_exit(mid_round)
            finally:
                if mid_round.poll() is None:
                    mid_round.kill()
            seen["after_mid_round_kill"] = ledger_transactions(database)
            losing = LosesAnswers(rig.counterparty, limit=2)
            await losing.install()
            first = start_gateway(site_file, notify, log)
            try:
                await notify.wait_for("READY=1", first)
                first.send_signal(signal.SIGKILL)  # a round is just committed
                seen["killed_rc"] = await wait_exit(first)
            finally:
                if first.poll() is None:
                    first.kill()
            seen["after_kill"] = ledger_transactions(database)
            seen["lost_answers"] = list(losing.lost)
            losing.losing = False
            second = start_gateway(site_file, notify, log)
            try:
                await notify.wait_for("READY=1", second)
                second.send_signal(signal.SIGTERM)
                seen["stopped_rc"] = await wait_exit(second)
            finally:
                if second.poll() is None:
                    second.kill()
            seen["priority_slots"] = {
                (server.state.device_id, point.name): server.device.priority_array(point.name)
                for server in rig.bacnet_servers
                for point in server.profile.points if point.commandable
            }
            seen["counterparty"] = list(rig.counterparty.transactions)
            seen["positions"] = rig.counterparty.positions

    asyncio.run(scenario_run())
    seen["site"] = site
    seen["now"] = now
    seen["final"] = ledger_transactions(database)
    return seen


def test_sigkill_then_sigterm_exit_codes(killed_and_stopped: dict[str, Any]) -> None:
    assert killed_and_stopped["killed_mid_round_rc"] == -signal.SIGKILL
    assert killed_and_stopped["killed_rc"] == -signal.SIGKILL
    log = killed_and_stopped["log"].read_text()
    assert killed_and_stopped["stopped_rc"] == 0, log[-3000:]
    assert "islanding control is off" in log


def test_no_transaction_is_lost_or_duplicated(killed_and_stopped: dict[str, Any]) -> None:
    after_kill = killed_and_stopped["after_kill"]
    final = killed_and_stopped["final"]
    assert after_kill, "the first round committed transactions before the kill"
    ids = [t.transaction_id for t in final]
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicated
    assert {t.transaction_id for t in after_kill} <= set(ids), "nothing committed is lost"


def test_orders_taken_without_an_answer_are_booked_once_after_the_restart(
    killed_and_stopped: dict[str, Any],
) -> None:
    """The provider took the first two orders but the gateway was killed before it heard:
    the restarted gateway sends them again from its ledger and books each exactly once."""
    lost = killed_and_stopped["lost_answers"]
    assert len(lost) == 2
    assert not {t.transaction_id for t in killed_and_stopped["after_kill"]} & set(lost)
    theirs = {t.transaction_id for t in killed_and_stopped["counterparty"]}
    assert set(lost) <= theirs
    booked = Counter(t.transaction_id for t in killed_and_stopped["final"])
    assert all(booked[tx_id] == 1 for tx_id in lost), booked


def test_the_ledger_verifies(killed_and_stopped: dict[str, Any]) -> None:
    database = killed_and_stopped["database"]
    result = subprocess.run([*GATEWAY, "ledger", "verify", "--db", str(database)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sigterm_relinquishes_every_bacnet_priority(killed_and_stopped: dict[str, Any]) -> None:
    slots = killed_and_stopped["priority_slots"]
    assert slots
    priority = killed_and_stopped["site"].config.bacnet.priority
    for (device, point), array in slots.items():
        assert array[priority - 1] is None, f"{device}.{point} still holds {array}"


def test_external_positions_are_booked_once(killed_and_stopped: dict[str, Any]) -> None:
    """What the ledger holds with the provider equals the provider's own book, interval by
    interval: the restarted gateway traded only the difference (no double booking)."""
    site = killed_and_stopped["site"]
    party = site.config.external_market.party_id
    counterparty = site.config.external_market.counterparty_id
    ours = [t for t in killed_and_stopped["final"]
            if {t.party, t.counterparty} == {party, counterparty}]
    theirs = killed_and_stopped["counterparty"]
    assert ours
    assert {t.transaction_id for t in ours} == {t.transaction_id for t in theirs}
    book = PositionBook()
    for transaction in ours:
        book.add(transaction)
    positions = killed_and_stopped["positions"]
    future = {t.interval for t in ours if t.interval.end > killed_and_stopped["now"]}
    assert future
    for interval in future:
        assert book.position(party, interval) == positions.position(party, interval), interval


def test_the_restarted_gateway_keeps_the_building_squared_outside(
    killed_and_stopped: dict[str, Any],
) -> None:
    """Read back from the ledger, the micromarket's positions stay apart from the contracts
    outside: on every interval of the next hour the provider's book holds exactly the
    building's net import inside (before, a restart read it as zero and sold it all back)."""
    site = killed_and_stopped["site"]
    party = site.config.external_market.party_id
    counterparty = site.config.external_market.counterparty_id
    final = killed_and_stopped["final"]
    inside = PositionBook(t for t in final if counterparty not in (t.party, t.counterparty))
    outside = killed_and_stopped["positions"]
    now = killed_and_stopped["now"]
    near = {t.interval for t in final if counterparty not in (t.party, t.counterparty)
            and now + timedelta(minutes=10) <= t.interval.start < now + timedelta(minutes=50)}
    assert near
    for interval in sorted(near, key=lambda iv: iv.start):
        assert outside.position(party, interval) == -inside.position(party, interval), interval
