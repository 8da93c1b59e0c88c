"""BACnet/IP addresses and the one-application-per-port rule.

bacpypes3 binds with SO_REUSEPORT and retries a failed bind forever, so a second
application on a busy port starts silently and the kernel splits the traffic between the
two. :func:`claim_udp_port` checks first, with a plain bind that fails on a busy port.
"""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Address

DEFAULT_PORT = 47808


class PortInUse(OSError):
    """Another application already listens on this BACnet UDP port."""


def split_address(address: str) -> tuple[str, int | None, int]:
    """``"10.0.0.5/24:47809"`` → ("10.0.0.5", 24, 47809); the port defaults to 47808."""
    host_part, _, port = address.partition(":")
    host, _, prefix = host_part.partition("/")
    IPv4Address(host)
    return host, int(prefix) if prefix else None, int(port) if port else DEFAULT_PORT


def device_address(address: str) -> str:
    """The address a request is sent to: ``host:port`` (no prefix)."""
    host, _, port = split_address(address)
    return f"{host}:{port}"


def claim_udp_port(address: str) -> None:
    """Raise PortInUse when the UDP port of ``address`` is taken on its host."""
    host, _, port = split_address(address)
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(
                    err.errno,
                    f"UDP port {host}:{port} is already in use by another BACnet application; "
                    "give every BACnet application its own port",
                ) from None
            raise
