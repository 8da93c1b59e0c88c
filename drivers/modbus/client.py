"""The only module of drivers/ that imports pymodbus (its API changes between minor releases).

A :class:`ModbusLink` is one pymodbus async client: one TCP connection, or one serial
line shared by every unit id on that RS-485 bus. It serialises requests with one lock,
keeps the inter-frame gap on serial lines, builds a fresh client after a broken link, and
translates every library error into :class:`~drivers.base.DriverError` with a ``code``:

- ``unreachable`` — no connection (refused, no route, the serial port missing or taken);
- ``timeout`` — no answer in time (device off, wrong unit id, too slow);
- ``exception_N`` — a Modbus exception response N (2 illegal address, 6 device busy ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import time
import weakref
from dataclasses import dataclass
from typing import Any, Literal

from pymodbus import ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException

from drivers.base import DriverError

log = logging.getLogger(__name__)

Table = Literal["holding", "input", "coil", "discrete"]

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}


@dataclass(frozen=True)
class TcpEndpoint:
    host: str
    port: int
    timeout_s: float = 1.0

    def describe(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SerialEndpoint:
    port: str
    baud: int = 9600
    parity: str = "E"
    stop_bits: int = 1
    timeout_s: float = 1.0

    def describe(self) -> str:
        return f"{self.port} ({self.baud} baud, {self.parity}{self.stop_bits})"

    @property
    def frame_gap_s(self) -> float:
        """Silent interval between frames: 3.5 characters, at least 1.75 ms (spec)."""
        bits_per_char = 1 + 8 + (self.parity != "N") + self.stop_bits
        return max(3.5 * bits_per_char / self.baud, 0.00175)


Endpoint = TcpEndpoint | SerialEndpoint

# Connection attempts in flight per TCP host:port. Many unit ids behind one Modbus gateway
# (or a big site starting) would otherwise open hundreds of connections at once; past the
# server's listen backlog (often 100-128) the kernel drops the SYNs, and each dropped one
# costs a connect timeout and a retry. Established connections are not limited.
MAX_CONNECTS_IN_FLIGHT = 16
_CONNECT_GATES: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int], asyncio.Semaphore]
] = weakref.WeakKeyDictionary()


def _connect_gate(endpoint: TcpEndpoint) -> asyncio.Semaphore:
    """The running loop's limiter of connection attempts to ``endpoint``'s host:port."""
    gates = _CONNECT_GATES.setdefault(asyncio.get_running_loop(), {})
    key = (endpoint.host, endpoint.port)
    gate = gates.get(key)
    if gate is None:
        gate = gates[key] = asyncio.Semaphore(MAX_CONNECTS_IN_FLIGHT)
    return gate


class ModbusLink:
    """One client connection; every request holds the lock (one frame at a time)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self.lock = asyncio.Lock()
        self._last_frame_at = -1e9
        self.users = 0  # drivers sharing this link (several unit ids on one RS-485 line)
        self._pty_without_parity = False
        self._parity_checked = False

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the link if it is closed; DriverError(code=unreachable) if it cannot."""
        if self.connected:
            return
        self._drop_client()
        if not self._parity_checked:
            self._parity_checked = True
            if self._parity_unsupported():
                log.warning("serial port %s is a pseudo-terminal without parity support; "
                            "opening it without parity", self.endpoint.describe())
                self._pty_without_parity = True
        client = self._build_client()
        try:
            if isinstance(self.endpoint, TcpEndpoint):
                async with _connect_gate(self.endpoint):
                    ok = await client.connect()
            else:
                ok = await client.connect()
        except Exception as err:  # pyserial raises SerialException for a missing/taken port
            client.close()
            raise DriverError(f"cannot open {self.endpoint.describe()}: {err}",
                              code="unreachable") from err
        if not ok:
            client.close()
            raise DriverError(f"cannot connect to {self.endpoint.describe()}; check that the "
                              "device is powered and the address/port are right",
                              code="unreachable")
        self._client = client

    async def read(self, table: Table, address: int, count: int, unit: int) -> list[int]:
        """Registers (or bits as 0/1) ``address .. address+count-1`` of one unit."""
        response = await self._request(
            lambda c: _READERS[table](c)(address, count=count, device_id=unit),
            f"{table} {address}+{count}")
        bits = table in ("coil", "discrete")
        values = response.bits if bits else response.registers
        if len(values) < count:
            raise DriverError(f"short answer: {len(values)} of {count} values",
                              address=address, code="short_answer")
        if bits:
            return [int(v) for v in values[:count]]
        registers: list[int] = values if len(values) == count else values[:count]
        return registers

    async def write_registers(self, address: int, values: list[int], unit: int) -> None:
        await self._request(
            lambda c: c.write_registers(address, values, device_id=unit),
            f"write holding {address}+{len(values)}")

    async def write_coil(self, address: int, value: bool, unit: int) -> None:
        await self._request(lambda c: c.write_coil(address, value, device_id=unit),
                            f"write coil {address}")

    async def close(self) -> None:
        async with self.lock:
            self._drop_client()

    async def _request(self, call: Any, what: str) -> Any:
        async with self.lock:
            if not self.connected:
                await self.connect()
            client = self._client
            assert client is not None
            if isinstance(self.endpoint, SerialEndpoint):
                await self._pace()
            try:
                response = await call(client)
            except ModbusIOException as err:
                self._after_timeout()
                raise DriverError(f"no answer to {what} within {self.endpoint.timeout_s} s "
                                  f"on {self.endpoint.describe()}; check power, wiring and "
                                  "unit id", code="timeout") from err
            except ConnectionException as err:
                self._drop_client()
                raise DriverError(f"connection to {self.endpoint.describe()} lost during "
                                  f"{what}", code="unreachable") from err
            except ModbusException as err:
                self._after_timeout()
                raise DriverError(f"{what} failed on {self.endpoint.describe()}: {err}",
                                  code="protocol") from err
            finally:
                self._last_frame_at = time.monotonic()
            if response.isError():
                code = int(getattr(response, "exception_code", 0))
                name = EXCEPTION_NAMES.get(code, "unknown exception")
                raise DriverError(f"device answered Modbus exception {code} ({name}) to {what}",
                                  code=f"exception_{code}")
            return response

    async def _pace(self) -> None:
        assert isinstance(self.endpoint, SerialEndpoint)
        wait = self.endpoint.frame_gap_s - (time.monotonic() - self._last_frame_at)
        if wait > 0:
            await asyncio.sleep(wait)  # a gap on the wire: real time whatever the clock

    def _after_timeout(self) -> None:
        # a late TCP answer could be taken for the next one: start a fresh connection
        if isinstance(self.endpoint, TcpEndpoint):
            self._drop_client()

    def _parity_unsupported(self) -> bool:
        """A pty (the HIL rig's serial line) on some kernels refuses parity bits."""
        endpoint = self.endpoint
        if not isinstance(endpoint, SerialEndpoint) or endpoint.parity == "N":
            return False
        try:
            fd = os.open(endpoint.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            if not os.ttyname(fd).startswith("/dev/pts/"):
                return False
            attrs = termios.tcgetattr(fd)
            attrs[2] |= termios.PARENB
            try:
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
            except termios.error:
                return True
            attrs[2] &= ~termios.PARENB
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            return False
        finally:
            os.close(fd)

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def _build_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        endpoint = self.endpoint
        if isinstance(endpoint, TcpEndpoint):
            return AsyncModbusTcpClient(endpoint.host, port=endpoint.port,
                                        timeout=endpoint.timeout_s, retries=0,
                                        reconnect_delay=0, name=f"tcp-{endpoint.describe()}")
        parity = "N" if self._pty_without_parity else endpoint.parity
        return AsyncModbusSerialClient(endpoint.port, baudrate=endpoint.baud,
                                       parity=parity, stopbits=endpoint.stop_bits,
                                       bytesize=8, timeout=endpoint.timeout_s, retries=0,
                                       reconnect_delay=0, name=f"rtu-{endpoint.port}")


_READERS: dict[str, Any] = {
    "holding": lambda c: c.read_holding_registers,
    "input": lambda c: c.read_input_registers,
    "coil": lambda c: c.read_coils,
    "discrete": lambda c: c.read_discrete_inputs,
}


class LinkRegistry:
    """Hands out one shared link per serial port (one lock per RS-485 line)."""

    def __init__(self) -> None:
        self._serial: dict[str, ModbusLink] = {}

    def acquire(self, endpoint: Endpoint) -> ModbusLink:
        if isinstance(endpoint, TcpEndpoint):
            link = ModbusLink(endpoint)
        else:
            link = self._serial.get(endpoint.port) or ModbusLink(endpoint)
            if link.endpoint != endpoint:
                raise DriverError(f"serial port {endpoint.port} is configured twice with "
                                  f"different settings: {link.endpoint.describe()} and "
                                  f"{endpoint.describe()}", code="config")
            self._serial[endpoint.port] = link
        link.users += 1
        return link

    async def release(self, link: ModbusLink) -> None:
        link.users -= 1
        if link.users > 0:
            return
        if isinstance(link.endpoint, SerialEndpoint):
            self._serial.pop(link.endpoint.port, None)
        await link.close()


LINKS = LinkRegistry()
