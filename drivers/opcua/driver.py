"""The OPC UA driver: one server, read in one Read per poll, written with each node's type.

- **Addressing**: a point names a node id (``ns=2;s=Battery.SoC``) or a browse path from
  the Objects folder; both are resolved once per session, and a node the server lacks
  becomes a BAD point with a fault naming it — the rest of the device keeps working.
- **Reads**: one Read service call for every point per poll (it doubles as the liveness
  check). A data-change subscription pushes changes to ``on_change`` listeners between
  polls; it is re-created with every new session, so it survives a server restart.
- **Writes** use the node's data type as read from the server (the profile's
  ``variant_type`` when the server does not say); a server refuses an int into a Double.
- **Security**: Basic256Sha256 Sign or SignAndEncrypt with the site's client certificate
  and key; the server must present a certificate from ``server_certificate`` (a file or a
  directory: the trust store). User name and password come from ``credentials_file``.
- **Reconnect**: after a link failure the session is dropped and a fresh one is built on a
  later poll, waiting 1 s, 2 s, 4 s … up to 30 s between attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML

from drivers.base import (
    DeviceFault,
    DriverError,
    FaultLevel,
    FaultTracker,
    Quality,
    Reading,
    bad_readings,
    check_write,
)
from drivers.clock import Clock
from drivers.connection import OpcuaConnection
from drivers.factory import register
from drivers.opcua.client import NodeRef, OpcuaError, OpcuaSession, SecuritySettings
from drivers.opcua.values import engineering, wire
from drivers.profile import OpcuaPoint, OpcuaProfile

log = logging.getLogger(__name__)

ChangeListener = Callable[[str, Reading], None]


def read_credentials(path: Path, expected_user: str | None) -> tuple[str, str]:
    """(user, password) from a YAML credentials file; errors name the file and the fix."""
    try:
        data = YAML(typ="safe").load(path.read_text())
    except OSError as err:
        raise ValueError(f"cannot read the OPC UA credentials file {path}: {err.strerror}") \
            from None
    if not isinstance(data, dict) or not isinstance(data.get("user"), str) \
            or not isinstance(data.get("password"), str):
        raise ValueError(f"credentials file {path} must be a YAML mapping with 'user' and "
                         "'password' (strings)")
    if expected_user is not None and data["user"] != expected_user:
        raise ValueError(f"credentials file {path} is for user {data['user']!r}, but the site "
                         f"file names user {expected_user!r}")
    return data["user"], data["password"]


class OpcuaDriver:
    """One OPC UA server behind the driver contract (see :mod:`drivers.base`)."""

    def __init__(self, device_id: str, connection: OpcuaConnection, profile: OpcuaProfile,
                 clock: Clock, *, base_dir: Path | str | None = None, timeout_s: float = 1.0,
                 subscribe: bool = True, publishing_interval_ms: float = 100,
                 reconnect_initial_s: float = 1.0, reconnect_max_s: float = 30.0) -> None:
        self.device_id = device_id
        self.profile = profile
        self.clock = clock
        self.endpoint = connection.endpoint
        self.timeout_s = timeout_s
        self.subscribe = subscribe
        self.publishing_interval_ms = publishing_interval_ms
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        base = Path(base_dir) if base_dir else Path.cwd()
        self.security = self._security(connection, base)
        self.user: str | None = None
        self.password: str | None = None
        if connection.credentials_file:
            self.user, self.password = read_credentials(base / connection.credentials_file,
                                                        connection.user)
        elif connection.user:
            raise ValueError(f"device {device_id}: user {connection.user!r} needs a "
                             "credentials_file holding the password")
        self._faults = FaultTracker(device_id)
        self._session: OpcuaSession | None = None
        self._nodes: dict[str, NodeRef] = {}
        self._bad_nodes: dict[str, str] = {}
        self._next_attempt = 0.0
        self._delay_s = reconnect_initial_s
        self._listeners: list[ChangeListener] = []
        self._connecting = asyncio.Lock()
        self._stopped = False

    @staticmethod
    def _security(connection: OpcuaConnection, base: Path) -> SecuritySettings | None:
        if connection.security_mode == "None":
            return None
        assert connection.certificate and connection.private_key
        assert connection.server_certificate
        mode: Literal["Sign", "SignAndEncrypt"] = (
            "Sign" if connection.security_mode == "Sign" else "SignAndEncrypt")
        return SecuritySettings(mode, base / connection.certificate,
                                base / connection.private_key,
                                base / connection.server_certificate)

    @property
    def fault(self) -> DeviceFault | None:
        return self._faults.fault

    @property
    def connected(self) -> bool:
        return self._session is not None

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(point, reading)`` for every data-change notification."""
        self._listeners.append(listener)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open a session now; a server that is down is a fault, retried on later polls."""
        self._stopped = False
        await self._connect()

    async def stop(self) -> None:
        if self._stopped:
            return
        if self._session is not None:
            await self.revert()
        await self._drop()
        self._stopped = True

    async def revert(self) -> None:
        """Write each writable point's safe default (a setpoint of 0 kW, grid-following)."""
        for point in self.profile.points:
            if point.access == "r" or point.safe_default is None:
                continue
            try:
                await self._write(point, point.safe_default)
            except DriverError as err:
                log.warning("could not restore the safe default: %s", err)

    # -- reads and writes --------------------------------------------------------------

    async def poll(self) -> dict[str, Reading]:
        now = self.clock.now()
        if self._session is None and not await self._connect():
            return bad_readings(self.profile, now)
        session = self._session
        assert session is not None
        names = list(self._nodes)
        try:
            values = await session.read([self._nodes[n] for n in names]) if names else []
        except OpcuaError as err:
            await self._lost(err)
            return bad_readings(self.profile, now)
        readings = {p.name: Reading(None, Quality.BAD, now) for p in self.profile.points}
        problems = dict(self._bad_nodes)
        for name, value in zip(names, values, strict=True):
            if isinstance(value, OpcuaError):
                problems[name] = str(value)
                continue
            readings[name] = Reading(engineering(self.profile.point(name), value),
                                     Quality.GOOD, now)
        if problems:
            self._faults.raise_fault(
                FaultLevel.WARNING, "point_error",
                f"OPC UA server {self.endpoint}: {'; '.join(problems.values())}", now)
        else:
            self._faults.clear()
        return readings

    async def write(self, point: str, value: float | int | bool) -> None:
        check_write(self.profile, self.device_id, point, value)
        target = self.profile.point(point)
        if self._session is None and not await self._connect():
            raise DriverError(f"OPC UA server {self.endpoint} is not connected; the write was "
                              "not sent", device_id=self.device_id, point=point,
                              code="unreachable")
        await self._write(target, value)

    async def _write(self, point: OpcuaPoint, value: Any) -> None:
        session = self._session
        ref = self._nodes.get(point.name)
        if session is None or ref is None:
            reason = self._bad_nodes.get(point.name, "the server is not connected")
            raise DriverError(reason, device_id=self.device_id, point=point.name,
                              address=point.node_id or "/".join(point.browse_path or []),
                              code="unreachable" if session is None else "bad_node")
        variant = ref.variant_type or point.variant_type  # the server's type wins
        try:
            await session.write(ref, wire(point, value, variant), variant)
        except OpcuaError as err:
            if err.code == "link":
                await self._lost(err)
            raise DriverError(str(err), device_id=self.device_id, point=point.name,
                              address=ref.label, code=err.code) from err

    # -- session -----------------------------------------------------------------------

    async def _connect(self) -> bool:
        """Build a fresh session unless the back-off says wait; True when connected."""
        async with self._connecting:  # a poll and a write must not build two sessions
            if self._session is not None:
                return True
            return await self._open_session()

    async def _open_session(self) -> bool:
        if self.clock.monotonic() < self._next_attempt:
            return False
        session = OpcuaSession(self.endpoint, security=self.security, user=self.user,
                               password=self.password, timeout_s=self.timeout_s)
        try:
            self._check_files()
            await session.connect()
            await self._resolve(session)
            if self.subscribe and self._nodes:
                refs = list(self._nodes.values())
                await session.subscribe(refs, self.publishing_interval_ms,
                                        self._notification(list(self._nodes)))
        except OpcuaError as err:
            await session.close()
            self._fail(err)
            return False
        self._session = session
        self._delay_s = self.reconnect_initial_s
        self._next_attempt = 0.0
        return True

    def _check_files(self) -> None:
        if self.security is None:
            return
        for label, path in (("certificate", self.security.certificate),
                            ("private_key", self.security.private_key),
                            ("server_certificate", self.security.trusted_server)):
            if not path.exists():
                raise OpcuaError("certificate_missing",
                                 f"{label} {path} does not exist; create it or fix the path "
                                 "in the site file")

    async def _resolve(self, session: OpcuaSession) -> None:
        self._nodes.clear()
        self._bad_nodes.clear()
        for point in self.profile.points:
            try:
                self._nodes[point.name] = await session.resolve(point.node_id,
                                                                point.browse_path)
            except OpcuaError as err:
                if err.code != "bad_node":
                    raise
                self._bad_nodes[point.name] = str(err)

    def _notification(self, names: list[str]) -> Callable[[int, Any], None]:
        def deliver(index: int, value: Any) -> None:
            name = names[index]
            reading = Reading(engineering(self.profile.point(name), value), Quality.GOOD,
                              self.clock.now())
            for listener in self._listeners:
                listener(name, reading)
        return deliver

    async def _lost(self, err: OpcuaError) -> None:
        await self._drop()
        self._fail(err)

    async def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _fail(self, err: OpcuaError) -> None:
        now = self.clock.now()
        self._next_attempt = self.clock.monotonic() + self._delay_s
        message = str(err)
        if err.code in ("link", "unreachable", "connect_failed"):
            message += f"; reconnecting in {self._delay_s:g} s"
        self._delay_s = min(self._delay_s * 2, self.reconnect_max_s)
        code = "unreachable" if err.code == "link" else err.code
        self._faults.raise_fault(FaultLevel.ERROR, code, message, now)


def build_opcua_driver(device_id: str, connection: Any, profile: Any, clock: Clock,
                       **options: Any) -> OpcuaDriver:
    """The factory's builder for ``kind: opcua`` (options: see OpcuaDriver)."""
    if not isinstance(connection, OpcuaConnection) or not isinstance(profile, OpcuaProfile):
        raise ValueError(f"device {device_id}: an opcua connection needs an OPC UA profile")
    allowed = {"base_dir", "timeout_s", "subscribe", "publishing_interval_ms",
               "reconnect_initial_s", "reconnect_max_s"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"device {device_id}: unknown OPC UA driver option(s) "
                        f"{', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    return OpcuaDriver(device_id, connection, profile, clock, **options)


register("opcua", build_opcua_driver)
