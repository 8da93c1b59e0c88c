"""The PCC breaker: the one place that knows whether the building is tied to the grid.

Commands arrive as client writes on the ``pcc_breaker`` device (``trip``, ``close``,
``backup_trip`` set true — by the GPIO simulator when the gateway pulses a coil output,
or by a test). The breaker moves after its operating time unless a failure mode holds it,
and reports its position on the auxiliary contacts ``status_52a`` (closed = breaker
closed) and ``status_52b`` (the opposite). ``backup_trip`` opens the upstream protective
device, which islands the building even when this breaker is stuck closed.

Shared points with the GPIO simulator (hil/gpio_sim.py), which has a small mechanism of
its own: ``closed`` (main contacts), ``fails_to_open`` and ``fails_to_close``. This model
publishes all three every step, so both agree; a change of ``closed`` made by someone
else between steps (the GPIO mechanism, a test, an operator) is adopted as a real
operation, and a fault flag set on the device holds like a scenario's fault.
"""

from __future__ import annotations

from hil.physics.events import BreakerFault
from hil.state import DeviceState, Value

TRIP_TIME_S = 0.05  # three cycles
CLOSE_TIME_S = 0.10
COMMAND_POINTS = ("trip", "close", "backup_trip")


class PccBreaker:
    """Breaker position, pending operation and failure modes."""

    def __init__(self, device: DeviceState, faults: tuple[BreakerFault, ...] = ()) -> None:
        self.device = device
        self.closed = True
        self.upstream_open = False
        self.operations = 0
        self.failed_operations = 0
        self._faults = faults
        self._fail_open = False
        self._fail_close = False
        self._scenario_fail_open = False
        self._scenario_fail_close = False
        self._pending: str | None = None
        self._pending_at = 0.0
        self._now = 0.0
        self._last: dict[str, bool] = {}
        self.log: list[tuple[float, str]] = []
        for point in COMMAND_POINTS:
            device.values.setdefault(point, False)
            self._last[point] = False
        device.values["fails_to_open"] = False
        device.values["fails_to_close"] = False
        device.on_client_write(self._on_write)
        self._publish()

    def _on_write(self, point: str, value: Value) -> None:
        if point in COMMAND_POINTS and value:
            self._command(point, self._now)

    def _command(self, point: str, at: float) -> None:
        if point == "backup_trip":
            if not self.upstream_open:
                self.upstream_open = True
                self.log.append((at, "backup trip: upstream device opened"))
            return
        if self._pending is None:
            self._pending = point
            self._pending_at = at

    def apply_faults(self, t: float) -> None:
        """Scenario faults starting or ending at ``t`` set or clear the device's flags."""
        fail_open = any(
            f.mode == "fails_to_open" and f.start_s <= t < f.end_s for f in self._faults
        )
        fail_close = any(
            f.mode == "fails_to_close" and f.start_s <= t < f.end_s for f in self._faults
        )
        values = self.device.values
        if fail_open != self._scenario_fail_open:
            values["fails_to_open"] = self._scenario_fail_open = fail_open
        if fail_close != self._scenario_fail_close:
            values["fails_to_close"] = self._scenario_fail_close = fail_close

    def step(self, t: float, dt: float) -> None:
        """Take level commands written without a listener call, finish due operations."""
        values = self.device.values
        if bool(values.get("closed", self.closed)) != self.closed:
            self.closed = not self.closed
            self.log.append((t, "breaker " + ("closed" if self.closed else "opened")
                                + " by its mechanism"))
        self._fail_open = bool(values.get("fails_to_open"))
        self._fail_close = bool(values.get("fails_to_close"))
        last = self._last
        for point in COMMAND_POINTS:
            level = bool(values.get(point))
            if level and not last[point]:
                self._command(point, t)
            last[point] = level
        self._now = t + dt
        pending = self._pending
        if pending is None:
            return
        due = self._pending_at + (TRIP_TIME_S if pending == "trip" else CLOSE_TIME_S)
        if t + dt < due:
            return
        self._pending = None
        self.operations += 1
        if pending == "trip":
            if self._fail_open:
                self.failed_operations += 1
                self.log.append((t + dt, "trip command: breaker failed to open"))
            elif self.closed:
                self.closed = False
                self.log.append((t + dt, "breaker opened"))
        else:
            if self._fail_close:
                self.failed_operations += 1
                self.log.append((t + dt, "close command: breaker failed to close"))
            elif not self.closed:
                self.closed = True
                self.log.append((t + dt, "breaker closed"))
        self._publish()

    def reset_upstream(self) -> None:
        """The utility or an operator recloses the upstream device after a backup trip."""
        self.upstream_open = False

    def _publish(self) -> None:
        values = self.device.values
        values["closed"] = self.closed
        values["status_52a"] = self.closed
        values["status_52b"] = not self.closed

    @property
    def connected(self) -> bool:
        """The bus is tied to the utility (this breaker closed, upstream device closed)."""
        return self.closed and not self.upstream_open
