"""The async shell: ticks on the clock, fast path on grid-sense edges, commands before events.

The building is an in-memory fake of the physical edge (PCC meter, breaker contacts, grid
sense, storage, load contactors); time is a ManualClock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from drivers.clock import ManualClock
from gateway.islanding.controller import IslandingController
from gateway.islanding.messages import (
    AlarmCode,
    CloseBreaker,
    Command,
    Event,
    Inputs,
    OpenBreaker,
    OperatorCommand,
    RaiseAlarm,
    SetPccFlowTarget,
    State,
    Transition,
)
from gateway.islanding.service import IslandingService
from gateway.islanding.settings import IslandingSettings

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PERIOD_S = 0.1


@dataclass
class FakeBuilding:
    """Input source and command sink at once; the breaker moves when commanded."""

    grid_present: bool = True
    grid_voltage_pu: float = 1.0
    breaker_closed: bool = True
    breaker_stuck: bool = False
    fail_commands: bool = False
    reads: int = 0
    executed: list[Command] = field(default_factory=list)
    recorded: list[tuple[Event, datetime]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def latest(self) -> Inputs:
        self.reads += 1
        closed = self.breaker_closed
        return Inputs(
            grid_voltage_pu=(self.grid_voltage_pu,) * 3,
            grid_frequency_hz=60.0 if self.grid_voltage_pu > 0.5 else None,
            island_voltage_pu=(1.0,) * 3,
            island_frequency_hz=60.0,
            phase_angle_diff_deg=0.0,
            grid_present=self.grid_present,
            breaker_52a=closed,
            breaker_52b=not closed,
            pcc_power_kw=1.0,
        )

    async def execute(self, command: Command) -> None:
        self.order.append(type(command).__name__)
        if self.fail_commands:
            raise ConnectionError("breaker output unreachable")
        self.executed.append(command)
        if isinstance(command, OpenBreaker | CloseBreaker) and not self.breaker_stuck:
            self.breaker_closed = isinstance(command, CloseBreaker)

    async def record(self, event: Event, at: datetime) -> None:
        self.order.append(type(event).__name__)
        self.recorded.append((event, at))

    def transitions(self) -> list[tuple[State, State]]:
        return [(e.from_state, e.to_state) for e, _ in self.recorded if isinstance(e, Transition)]


@dataclass
class Harness:
    clock: ManualClock
    building: FakeBuilding
    service: IslandingService

    async def settle(self, reads_before: int) -> None:
        """Let the service loop run until it has taken a step (yields only, no waiting)."""
        for _ in range(1000):
            if self.building.reads > reads_before:
                break
            await asyncio.sleep(0)
        assert self.building.reads > reads_before, "the service did not step"
        for _ in range(20):
            await asyncio.sleep(0)

    async def tick(self, count: int = 1) -> None:
        for _ in range(count):
            before = self.building.reads
            await self.clock.advance(PERIOD_S)
            await self.settle(before)

    @property
    def state(self) -> State:
        return self.service.controller.state


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    settings = IslandingSettings.model_validate(
        {"aggregate_der_kva": 135, "enter_service_delay_s": 10}
    ).resolved()
    clock = ManualClock(START)
    building = FakeBuilding()
    service = IslandingService(
        IslandingController(settings), clock, building, building, poll_period_s=PERIOD_S
    )
    task = asyncio.create_task(service.run())
    h = Harness(clock, building, service)
    await h.settle(0)
    yield h
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_first_step_connects_and_records_with_wall_time(harness: Harness) -> None:
    assert harness.state is State.GRID_CONNECTED
    event, at = harness.building.recorded[0]
    assert isinstance(event, Transition)
    assert at == START


async def test_ticks_follow_the_clock(harness: Harness) -> None:
    reads = harness.building.reads
    await harness.tick(10)
    assert harness.building.reads == reads + 10


async def test_grid_sense_edge_steps_at_once_without_time_passing(harness: Harness) -> None:
    before = harness.building.reads
    harness.service.grid_sense_changed("grid_present", False, 0.0)
    await harness.settle(before)  # the polled reading still says present: the edge wins
    assert harness.building.executed[-1] == OpenBreaker()
    assert harness.clock.monotonic() == 0.0
    trip = [e for e, _ in harness.building.recorded if isinstance(e, Transition)][-1]
    assert trip.to_state is State.ISLANDING


async def test_commands_are_sent_before_events_are_recorded(harness: Harness) -> None:
    harness.building.order.clear()
    before = harness.building.reads
    harness.building.grid_present = False
    harness.service.measurement_arrived()
    await harness.settle(before)
    assert harness.building.order == ["OpenBreaker", "Transition"]


async def test_outage_and_return_through_the_shell(harness: Harness) -> None:
    building = harness.building
    building.grid_present, building.grid_voltage_pu = False, 0.0
    await harness.tick(2)
    assert harness.state is State.ISLANDED
    building.grid_present, building.grid_voltage_pu = True, 1.0
    await harness.tick(99)
    assert CloseBreaker() not in building.executed
    await harness.tick(3)
    assert harness.state is State.GRID_CONNECTED
    assert building.transitions()[1:] == [
        (State.GRID_CONNECTED, State.ISLANDING),
        (State.ISLANDING, State.ISLANDED),
        (State.ISLANDED, State.RESYNCHRONISING),
        (State.RESYNCHRONISING, State.RECONNECTING),
        (State.RECONNECTING, State.GRID_CONNECTED),
    ]
    resync_at = next(
        at for e, at in building.recorded if getattr(e, "to_state", None) is State.RESYNCHRONISING
    )
    back_at = next(
        at for e, at in building.recorded if getattr(e, "to_state", None) is State.ISLANDED
    )
    assert resync_at - back_at >= timedelta(seconds=10)


async def test_operator_request_is_acted_on_at_once(harness: Harness) -> None:
    before = harness.building.reads
    result = harness.service.request(OperatorCommand.PLANNED_ISLAND)
    assert result.accepted
    await harness.settle(before)
    assert SetPccFlowTarget(0.0) in harness.building.executed
    assert OpenBreaker() in harness.building.executed  # |P_pcc| = 1 kW is below 5 kW
    refused = harness.service.request(OperatorCommand.RESET_LOCKOUT)
    assert not refused.accepted


async def test_unsendable_open_command_ends_in_lockout(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.building.fail_commands = True
    harness.building.grid_present = False
    await harness.tick(6)
    assert harness.state is State.LOCKOUT
    assert "could not be sent" in caplog.text
    alarms = [e.code for e, _ in harness.building.recorded if isinstance(e, RaiseAlarm)]
    assert AlarmCode.BREAKER_FAILED_TO_OPEN in alarms


async def test_stopping_the_service_leaves_no_task_behind(harness: Harness) -> None:
    await harness.tick(3)
    assert harness.state is State.GRID_CONNECTED


async def test_edge_value_is_used_once_then_the_polled_reading_again(harness: Harness) -> None:
    harness.service.grid_sense_changed("grid_present", True, 0.0)
    await harness.tick(1)
    harness.building.grid_present = False
    await harness.tick(1)
    assert harness.state is State.ISLANDING
