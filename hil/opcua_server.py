"""Simulated OPC UA devices (the battery controller): each serves one DeviceState.

State values are published into the server's variables (subscribed clients get data
changes); a client write goes back with ``state.client_write``. ``state.available =
False`` closes the listening socket and every session (the controller is gone); when it
is True again the server listens again, so clients see a server restart.

Security follows the site file: Basic256Sha256 Sign/SignAndEncrypt with the server
certificate the site trusts, and a trust list holding the gateway's client certificate.
:func:`serve_site_opcua` creates any missing certificate, key, trust list or credentials
file at the paths the site names.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from drivers.clock import Clock
from drivers.connection import OpcuaConnection
from drivers.opcua.driver import read_credentials
from drivers.opcua.local import LocalOpcuaServer, ServerSecurity
from drivers.profile import OpcuaProfile
from hil import pki
from hil.state import BuildingState, DeviceState
from hil.synced_server import SyncedDeviceServer

if TYPE_CHECKING:
    from gateway.config.loader import Site

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 0.05


def namespace_for(endpoint: str) -> str:
    """``opc.tcp://host:4841/temix/battery`` → ``urn:temix:battery`` (the profiles' ns=2)."""
    path = urlparse(endpoint).path.strip("/")
    return "urn:" + (path.replace("/", ":") or "temix:device")


class OpcuaDeviceServer(SyncedDeviceServer):
    """One simulated OPC UA device serving ``state`` (an async context manager)."""

    protocol = "opcua"
    profile: OpcuaProfile

    def __init__(self, state: DeviceState, profile: OpcuaProfile, *, endpoint: str,
                 security: ServerSecurity | None = None, users: dict[str, str] | None = None,
                 namespace_uri: str | None = None, clock: Clock | None = None,
                 sync_interval_s: float = SYNC_INTERVAL_S) -> None:
        super().__init__(state, profile, clock, sync_interval_s)
        name = state.device_id.replace("_", " ").title().replace(" ", "")
        self.server = LocalOpcuaServer(
            endpoint=endpoint, namespace_uri=namespace_uri or namespace_for(endpoint),
            name=name, points=profile.points, on_write=self._client_write,
            security=security, users=users)

    async def _open(self, initial: dict[str, Any]) -> None:
        await self.server.start(initial)

    async def _read_back(self, point: str) -> Any:
        return await self.server.value(point)

    async def _close(self) -> None:
        await self.server.stop()

    async def publish(self) -> None:
        """Follow ``state.available`` and publish values that changed."""
        if not self.state.available:
            await self.server.pause()
            return
        await self.server.resume()
        for point in self.profile.points:
            value = self.state.get(point.name)
            if value is None or value == self._published.get(point.name):
                continue
            await self.server.set_value(point.name, value)
            self._published[point.name] = value


def site_security(connection: OpcuaConnection, base: Path, device_id: str) -> ServerSecurity | None:
    """The server side of a site's secure connection; creates missing PKI files."""
    if connection.security_mode == "None":
        return None
    assert connection.certificate and connection.private_key and connection.server_certificate
    server_certificate = base / connection.server_certificate
    uri = namespace_for(connection.endpoint) + ":server"
    pair = pki.ensure_pki(client_certificate=base / connection.certificate,
                          client_key=base / connection.private_key,
                          server_certificate=server_certificate, server_uri=uri,
                          server_name=device_id)
    return ServerSecurity(pair.certificate, pair.private_key,
                          pki.trust_directory(server_certificate), uri)


def site_users(connection: OpcuaConnection, base: Path) -> dict[str, str] | None:
    """The user the site logs in with; creates the credentials file if it is missing."""
    if not connection.credentials_file:
        return None
    path = base / connection.credentials_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"user: {connection.user or 'gateway'}\n"
                        f"password: {secrets.token_urlsafe(18)}\n")
        path.chmod(0o600)
    user, password = read_credentials(path, connection.user)
    return {user: password}


@contextlib.asynccontextmanager
async def serve_site_opcua(site: Site, building: BuildingState,
                           clock: Clock | None = None) -> AsyncIterator[list[OpcuaDeviceServer]]:
    """Serve every OPC UA device of the site with the site's security settings."""
    base = site.path.parent
    servers: list[OpcuaDeviceServer] = []
    async with contextlib.AsyncExitStack() as stack:
        for device in site.config.devices:
            connection = device.connection
            if not isinstance(connection, OpcuaConnection):
                continue
            profile = site.profiles[device.id]
            assert isinstance(profile, OpcuaProfile)
            server = OpcuaDeviceServer(
                building.device(device.id), profile, endpoint=connection.endpoint,
                security=site_security(connection, base, device.id),
                users=site_users(connection, base), clock=clock)
            await stack.enter_async_context(server)
            servers.append(server)
        yield servers
