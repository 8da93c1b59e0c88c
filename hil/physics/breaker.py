"""The PCC breaker: the one place that knows whether the building is tied to the grid.

Commands arrive as client writes on the ``pcc_breaker`` device (``trip``, ``close``,
``backup_trip`` set true — by the GPIO simulator when the gateway pulses a coil output,
or by a test). The breaker moves after its operating time unless a failure mode holds it,
and reports its position on the auxiliary contacts ``status_52a`` (closed = breaker
closed) and ``status_52b`` (the opposite). ``backup_trip`` opens the upstream protective
device, which islands the building even when this breaker is stuck closed.
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
        self._pending: str | None = None
        self._pending_at = 0.0
        self._now = 0.0
        self._last: dict[str, bool] = {}
        self.log: list[tuple[float, str]] = []
        for point in COMMAND_POINTS:
            device.values.setdefault(point, False)
            self._last[point] = False
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
        self._fail_open = any(
            f.mode == "fails_to_open" and f.start_s <= t < f.end_s for f in self._faults
        )
        self._fail_close = any(
            f.mode == "fails_to_close" and f.start_s <= t < f.end_s for f in self._faults
        )

    def step(self, t: float, dt: float) -> None:
        """Take level commands written without a listener call, finish due operations."""
        values = self.device.values
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
        values["status_52a"] = self.closed
        values["status_52b"] = not self.closed

    @property
    def connected(self) -> bool:
        """The bus is tied to the utility (this breaker closed, upstream device closed)."""
        return self.closed and not self.upstream_open
