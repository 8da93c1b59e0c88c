"""A minimal physical edge for the pure controller: a grid, a PCC breaker and an island bus.

The breaker obeys open/close commands on the next step unless it is stuck; the island bus
follows the grid while the breaker is closed and is held at nominal by grid-forming
storage while it is open. Everything the controller emits is logged with its time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gateway.islanding.controller import IslandingController
from gateway.islanding.messages import (
    CloseBreaker,
    Inputs,
    OpenBreaker,
    OperatorCommand,
    Output,
    SetStorageMode,
    State,
    StorageMode,
    Transition,
    is_command,
)
from gateway.islanding.settings import IslandingSettings, ResolvedIslandingSettings

NOMINAL = (1.0, 1.0, 1.0)


@dataclass
class Grid:
    """Grid-side conditions at the PCC; ``None`` fields are unmeasured."""

    voltage_pu: tuple[float, ...] | None = NOMINAL
    frequency_hz: float | None = 60.0
    sense: bool | None = True


GRID_OK = Grid()
GRID_DEAD = Grid(voltage_pu=(0.0, 0.0, 0.0), frequency_hz=None, sense=False)


@dataclass
class Record:
    """One step: the time, the state before, the inputs seen and what came out."""

    at_s: float
    state_before: State
    inputs: Inputs
    outputs: list[Output] = field(default_factory=list)


def settings(**section: object) -> ResolvedIslandingSettings:
    base: dict[str, object] = {"aggregate_der_kva": 135}
    base.update(section)
    return IslandingSettings.model_validate(base).resolved()


class Rig:
    def __init__(
        self,
        resolved: ResolvedIslandingSettings | None = None,
        *,
        dt_s: float = 0.1,
        breaker_closed: bool = True,
        grid: Grid = GRID_OK,
        base_inputs: Inputs | None = None,
    ) -> None:
        self.settings = resolved or settings()
        self.controller = IslandingController(self.settings)
        self.dt_s = dt_s
        self.steps = 0
        self.breaker_closed = breaker_closed
        self.breaker_stuck = False
        self.breaker_delay_steps = 0
        self._breaker_move: tuple[bool, int] | None = None
        self.contacts_override: tuple[bool | None, bool | None] | None = None
        self.grid = grid
        self.island_frequency_hz = 60.0
        self.island_phase_deg = 0.0
        self.storage_mode: StorageMode | None = None
        self.bus_collapsed = False  # the grid-forming battery tripped: the island is dark
        self.base = base_inputs or Inputs()
        self.log: list[Record] = []

    @property
    def now_s(self) -> float:
        return round(self.steps * self.dt_s, 9)

    @property
    def state(self) -> State:
        return self.controller.state

    def inputs(self) -> Inputs:
        grid, closed = self.grid, self.breaker_closed
        forming = self.storage_mode is StorageMode.GRID_FORMING
        if closed:
            island_v, island_f, phase = grid.voltage_pu, grid.frequency_hz, 0.0
        elif forming and not self.bus_collapsed:
            island_v, island_f, phase = NOMINAL, self.island_frequency_hz, self.island_phase_deg
        else:
            island_v, island_f, phase = (0.0, 0.0, 0.0), None, None
        contacts = self.contacts_override or (closed, not closed)
        return replace(
            self.base,
            grid_voltage_pu=grid.voltage_pu,
            grid_frequency_hz=grid.frequency_hz,
            grid_present=grid.sense,
            island_voltage_pu=island_v,
            island_frequency_hz=island_f,
            phase_angle_diff_deg=phase,
            breaker_52a=contacts[0],
            breaker_52b=contacts[1],
        )

    def step(self, inputs: Inputs | None = None) -> list[Output]:
        if self._breaker_move is not None and self.steps >= self._breaker_move[1]:
            if not self.breaker_stuck:
                self.breaker_closed = self._breaker_move[0]
            self._breaker_move = None
        seen = inputs or self.inputs()
        record = Record(self.now_s, self.state, seen)
        record.outputs = self.controller.step(self.now_s, seen)
        self.log.append(record)
        for output in record.outputs:
            self._act(output)
        self.steps += 1
        return record.outputs

    def _act(self, output: Output) -> None:
        if isinstance(output, OpenBreaker | CloseBreaker):
            due = self.steps + 1 + self.breaker_delay_steps
            self._breaker_move = (isinstance(output, CloseBreaker), due)
        elif isinstance(output, SetStorageMode):
            self.storage_mode = output.mode

    def run_for(self, seconds: float) -> None:
        for _ in range(round(seconds / self.dt_s)):
            self.step()

    def run_until(self, done: Callable[[], bool], limit_s: float) -> float:
        """Step until ``done()``; the time it became true. Fails past ``limit_s``."""
        end = self.now_s + limit_s
        while not done():
            assert self.now_s <= end, f"not done within {limit_s} s (state {self.state})"
            self.step()
        return self.log[-1].at_s

    def request(self, command: OperatorCommand) -> None:
        assert self.controller.request(command).accepted

    def outputs(self, kind: type | tuple[type, ...] = object) -> list[tuple[float, Output]]:
        return [(r.at_s, o) for r in self.log for o in r.outputs if isinstance(o, kind)]

    def commands_after(self, at_s: float) -> list[tuple[float, Output]]:
        return [(t, o) for t, o in self.outputs() if t > at_s and is_command(o)]

    def transitions(self) -> list[tuple[State, State, float]]:
        return [(o.from_state, o.to_state, t) for t, o in self.outputs(Transition)]

    def entered(self, state: State) -> float:
        """When the controller last entered ``state``."""
        times = [t for _, to, t in self.transitions() if to is state]
        assert times, f"never entered {state}: {self.transitions()}"
        return times[-1]
