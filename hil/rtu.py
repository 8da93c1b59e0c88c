"""A serial line on one machine: two ptys whose masters are bridged in the event loop.

The client (the gateway's driver) opens ``client_port`` — a symlink at the site's
configured serial path when one is given — and the simulated RS-485 devices open
``server_port``. Bytes pass both ways unchanged (ptys ignore the baud rate).

    async with PtyPair(link=Path("state/demo/rs485-ev")) as line:
        ModbusRtuSimulator(units, port=line.server_port)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from types import TracebackType


class PtyPair:
    """Two connected pseudo-terminals; an async context manager."""

    def __init__(self, link: Path | None = None) -> None:
        self.link = link
        self._fds: list[int] = []
        self._masters: tuple[int, int] = (-1, -1)
        self.client_port = ""
        self.server_port = ""
        self._target = ""

    async def __aenter__(self) -> PtyPair:
        loop = asyncio.get_running_loop()
        ends = [os.openpty(), os.openpty()]
        for master, slave in ends:
            tty.setraw(slave)  # no echo, no line editing: a plain byte pipe
            os.set_blocking(master, False)
            self._fds += [master, slave]  # our slave fds keep the masters from EIO
        (client_master, client_slave), (server_master, server_slave) = ends
        self._masters = (client_master, server_master)
        self.client_port = os.ttyname(client_slave)
        self.server_port = os.ttyname(server_slave)
        loop.add_reader(client_master, self._pump, client_master, server_master)
        loop.add_reader(server_master, self._pump, server_master, client_master)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            if self.link.is_symlink():  # a stale link from an earlier rig
                self.link.unlink()
            elif self.link.exists():
                await self.__aexit__(None, None, None)
                raise FileExistsError(f"{self.link} exists and is not a symlink; the rig "
                                      "will not replace it (is a real serial port there?)")
            self.link.symlink_to(self.client_port)
            self._target = self.client_port
            self.client_port = str(self.link)
        return self

    def _pump(self, source: int, target: int) -> None:
        try:
            data = os.read(source, 4096)
        except (BlockingIOError, OSError):
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(target, data)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        loop = asyncio.get_running_loop()
        for master in self._masters:
            if master >= 0:
                loop.remove_reader(master)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self.link is not None and self.link.is_symlink() and \
                os.readlink(self.link) == self._target:
            self.link.unlink()
