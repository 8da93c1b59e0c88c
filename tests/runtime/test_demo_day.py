"""A whole demo day through the real protocols: the acceptance test of the runtime.

The simulated building (Modbus TCP/RTU, BACnet/IP, OPC UA, GPIO, the CTS counterparty) and
the gateway run in one process at high speed on free loopback ports. The outage scenario
cuts the grid at 13:00 for 45 minutes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sitekit import private_demo_site

from gateway.config import load_site
from gateway.islanding.messages import State
from gateway.runtime.app import Gateway
from gateway.runtime.demo import DaySummary, run_demo
from hil.rig import BuildingRig
from hil.scenario import load_scenario
from market.temix import Interval

pytestmark = pytest.mark.timeout(300)

SPEED = 1200.0  # the demo's 2000x, eased so a busy CI box keeps up


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("demo-day")
    site = load_site(private_demo_site(folder).path)
    scenario = load_scenario("outage")
    seen: dict[str, Any] = {}

    def after_stop(rig: BuildingRig, gateway: Gateway) -> None:
        seen["priority_slots"] = {
            (server.state.device_id, point.name): server.device.priority_array(point.name)
            for server in rig.bacnet_servers
            for point in server.profile.points if point.commandable
        }
        seen["gateway"] = gateway
        seen["rig"] = rig

    summary = asyncio.run(run_demo(site, scenario, speed=SPEED, duration=timedelta(hours=24),
                                   seed=None, emit=lambda line: None, after_stop=after_stop))
    seen["summary"] = summary
    return seen


def test_the_day_runs_and_the_ledger_verifies(demo_day: dict[str, Any]) -> None:
    summary: DaySummary = demo_day["summary"]
    assert summary.ledger_verified
    assert summary.ledger_entries > 1000
    assert summary.rounds > 200  # a round every 5 minutes, some skipped when the box lags
    assert summary.transactions > 0


def test_money_is_conserved_in_every_settlement(demo_day: dict[str, Any]) -> None:
    gateway: Gateway = demo_day["gateway"]
    settlements = gateway.status.settlements
    assert len(settlements) >= 280  # every 5 minutes of the day
    for settlement in settlements:
        assert settlement.total == Decimal(0), settlement.interval
        for statement in settlement.statements.values():
            assert statement.total == statement.total.quantize(Decimal("0.01"))


def test_the_outage_is_ridden_through_and_reconnected_per_the_settings(
    demo_day: dict[str, Any],
) -> None:
    gateway: Gateway = demo_day["gateway"]
    rig: BuildingRig = demo_day["rig"]
    start = rig.timeline.start
    outage = next(e for e in rig.timeline.grid if e.kind == "outage")
    lost = start + timedelta(seconds=outage.start_s)
    back = start + timedelta(seconds=outage.end_s)
    moves = [(start + timedelta(seconds=t.at_s), t.to_state) for t in gateway.status.transitions]
    islanding = [at for at, state in moves if state is State.ISLANDING]
    assert islanding, moves
    assert islanding[0] >= lost
    # Cease to energise within 2 s, as the simulated building lived it (its own clock can
    # trail the gateway's on a busy machine, so compare in the building's time).
    breaker_log = rig.physics.devices.breaker.log
    opened = [t for t, text in breaker_log
              if text.startswith("breaker opened") and t >= outage.start_s]
    assert opened and opened[0] - outage.start_s <= 2.0, breaker_log
    islanded = next(at for at, state in moves if state is State.ISLANDED)
    assert islanded - islanding[0] <= timedelta(seconds=1)
    reconnected = next(at for at, state in moves
                       if state is State.GRID_CONNECTED and at > islanded)
    delay = gateway.config.islanding.resolved().enter_service.delay_s
    assert reconnected >= back + timedelta(seconds=delay)
    assert rig.physics.out_of_sync_closures == 0
    summary: DaySummary = demo_day["summary"]
    assert summary.outages_ridden_through == 1
    assert summary.critical_load_served_pct is not None
    assert summary.critical_load_served_pct >= 90.0
    assert not [a for a in summary.alarms if "LOCKOUT" in a or "FAILED" in a]


def test_external_position_equals_the_internal_net_position(demo_day: dict[str, Any]) -> None:
    """For every interval whose last round was committed and squared before it started,
    what the building contracted outside equals its internal net position (outage aside).
    A round the box finished too late leaves that interval to settle as imbalance."""
    gateway: Gateway = demo_day["gateway"]
    rig: BuildingRig = demo_day["rig"]
    assert gateway.trader is not None and gateway.operator is not None
    outage = next(e for e in rig.timeline.grid if e.kind == "outage")
    start = rig.timeline.start
    off_grid = Interval(start + timedelta(seconds=outage.start_s) - timedelta(minutes=10),
                        timedelta(seconds=outage.end_s - outage.start_s) + timedelta(hours=1))
    rounds = [(r.now, r.finished_at) for r in gateway.status.rounds]
    trader = gateway.trader
    # what the trader could not square in time is imbalance: a provider tender that expired
    # while a round ran late in clock time, an order refused or unanswered (HTTP timeouts
    # are real seconds) — a loaded box meets these at 1200x
    unsquared = trader.unsquared | {o.transaction.interval for o in trader.pending.values()}
    on_time = checked = 0
    for settlement in gateway.status.settlements:
        interval = settlement.interval
        if interval.start < off_grid.end and off_grid.start < interval.end:
            continue
        checked += 1
        last = max((r for r in rounds if r[0] < interval.start), default=None)
        if last is None or last[1] is None or last[1] >= interval.start:
            continue  # the box lagged: that round ended after the interval began
        if any(iv.overlaps(interval) for iv in unsquared):
            continue
        on_time += 1
        internal = gateway.operator.market.net_import_kw(interval)
        external = gateway.trader.contracted_import_kw(interval)
        assert external == internal, (interval, internal, external)
    assert checked > 200
    assert on_time >= 0.7 * checked, f"only {on_time} of {checked} intervals cleared on time"


def test_no_bacnet_priority_of_ours_remains_after_stop(demo_day: dict[str, Any]) -> None:
    slots = demo_day["priority_slots"]
    assert slots, "the demo site commands BACnet points"
    priority = 12
    for (device, point), array in slots.items():
        assert array[priority - 1] is None, f"{device}.{point} still holds {array}"
