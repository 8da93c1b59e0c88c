"""systemd service notification (sd_notify): READY=1, WATCHDOG=1, STATUS=, STOPPING=1.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op, so the same code runs under
systemd, in the demo and in tests. The protocol is one datagram per message to the unix
socket systemd names; an abstract socket is written with a leading ``@``.
"""

from __future__ import annotations

import os
import socket


class SystemdNotifier:
    def __init__(self, socket_path: str | None = None) -> None:
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET")
        self._address = "\0" + path[1:] if path and path.startswith("@") else path
        watchdog_usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_interval_s = int(watchdog_usec) / 1e6 / 2 if watchdog_usec else None

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> None:
        if not self._address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(self._address)
            sock.sendall(message.encode())

    def ready(self, status: str) -> None:
        self.notify(f"READY=1\nSTATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")
