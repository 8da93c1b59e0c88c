"""An OPC UA server built from a profile: the server side of asyncua (HIL and benchmarks).

Each profile point becomes one variable with the point's node id (its namespace URI is
registered first, so ``ns=2`` in the profile is the server's namespace 2) and variant
type; writable points are writable by clients. With security on, the server offers only
Basic256Sha256 Sign/SignAndEncrypt and accepts only client certificates in its trust
directory (asyncua accepts any certificate unless a validator is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.node import Node
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.uaerrors import UaError

from drivers.bounded import bounded
from drivers.opcua.client import VARIANT_TYPES
from drivers.opcua.values import engineering, wire
from drivers.profile import OpcuaPoint

STOP_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)

PointWrite = Callable[[str, Any], None]


@dataclass(frozen=True)
class ServerSecurity:
    certificate: Path  # server application certificate (DER)
    private_key: Path  # its key (PEM)
    trusted_clients: Path  # directory of accepted client certificates
    application_uri: str  # must match the certificate's subjectAltName URI


class _PasswordUsers(UserManager):
    """Username/password check for the simulated server (asyncua UserManager shape)."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = users

    def get_user(self, iserver: Any, username: str | None = None,
                 password: str | None = None, certificate: Any = None) -> User | None:
        if username is not None and self._users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class LocalOpcuaServer:
    """One OPC UA server serving the points of a profile."""

    def __init__(self, *, endpoint: str, namespace_uri: str, name: str,
                 points: Sequence[OpcuaPoint], on_write: PointWrite,
                 security: ServerSecurity | None = None,
                 users: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.namespace_uri = namespace_uri
        self.name = name
        self.points = list(points)
        self.on_write = on_write
        self.security = security
        self.users = users
        self._server: Server | None = None
        self._nodes: dict[str, Node] = {}
        self._by_node: dict[ua.NodeId, OpcuaPoint] = {}
        self.running = False
        # pause/resume/stop each await the socket; overlapping calls (the HIL sync loop
        # and a test both following ``available``) would otherwise bind the port twice.
        self._listening = asyncio.Lock()

    async def start(self, initial: dict[str, Any]) -> None:
        """Build the address space (about 1 s in asyncua) and listen."""
        server = Server(user_manager=_PasswordUsers(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(self.name)
        if self.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        if self.security is not None:
            await self._secure(server)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = await server.register_namespace(self.namespace_uri)
        folder = await server.nodes.objects.add_object(index, self.name)
        for point in self.points:
            await self._add(server, folder, index, point, initial.get(point.name))
        server.subscribe_server_callback(CallbackType.PostWrite, self._post_write)
        self._server = server
        await server.start()
        self.running = True

    async def _secure(self, server: Server) -> None:
        security = self.security
        assert security is not None
        await server.set_application_uri(security.application_uri)
        server.set_security_policy([
            ua.SecurityPolicyType.Basic256Sha256_Sign,
            ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
        ])
        await server.load_certificate(str(security.certificate))
        await server.load_private_key(str(security.private_key))
        store = TrustStore([security.trusted_clients], [])
        await store.load()
        options = (CertificateValidatorOptions.TRUSTED | CertificateValidatorOptions.TIME_RANGE
                   | CertificateValidatorOptions.PEER_CLIENT)
        server.set_certificate_validator(CertificateValidator(options, store))

    async def _add(self, server: Server, folder: Node, index: int, point: OpcuaPoint,
                   value: Any) -> None:
        if point.node_id is not None:
            node_id = ua.NodeId.from_string(point.node_id)
            node_id = ua.NodeId(node_id.Identifier, index,  # type: ignore[arg-type]
                                node_id.NodeIdType)
            label = str(node_id.Identifier).rsplit(".", 1)[-1]
        else:
            assert point.browse_path is not None
            node_id = ua.NodeId(point.name, index)  # type: ignore[arg-type]
            label = point.browse_path[-1].split(":", 1)[-1]
            folder = await self._folders(folder, index, point.browse_path[:-1])
        start = point.safe_default if value is None else value
        variable = await folder.add_variable(
            node_id, ua.QualifiedName(label, index),
            wire(point, 0 if start is None else start),
            varianttype=VARIANT_TYPES[point.variant_type])
        if point.access != "r":
            await variable.set_writable()
        self._nodes[point.name] = variable
        self._by_node[variable.nodeid] = point

    async def _folders(self, folder: Node, index: int, path: Sequence[str]) -> Node:
        for part in path:
            name = part.split(":", 1)[-1]
            if name == self.name and folder.nodeid.NamespaceIndex == index:
                continue
            try:
                folder = await folder.get_child(f"{index}:{name}")
            except UaError:
                folder = await folder.add_object(index, name)
        return folder

    async def stop(self) -> None:
        """Stop serving for good (a paused server is already stopped: not stopped twice)."""
        async with self._listening:
            if self._server is not None:
                if self.running:
                    self.running = False
                    with contextlib.suppress(Exception):
                        await bounded(
                            self._server.stop(), STOP_TIMEOUT_S, f"OPC UA server {self.endpoint}"
                        )
                self._server = None

    async def pause(self) -> None:
        """Stop listening (the device is gone); :meth:`resume` listens again."""
        async with self._listening:
            if self._server is not None and self.running:
                self.running = False
                await self._server.stop()

    async def resume(self) -> None:
        async with self._listening:
            if self._server is not None and not self.running:
                await self._server.start()
                self.running = True

    async def set_value(self, name: str, value: Any) -> None:
        """Publish a value (engineering units); subscribed clients are notified."""
        point = self._point(name)
        node = self._nodes[name]
        variant = ua.Variant(wire(point, value), VARIANT_TYPES[point.variant_type])
        assert self._server is not None
        await self._server.write_attribute_value(node.nodeid, ua.DataValue(variant))

    async def value(self, name: str) -> Any:
        return engineering(self._point(name), await self._nodes[name].read_value())

    def _post_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        if not event.is_external:
            return
        for request, status in zip(event.request_params.NodesToWrite,
                                   event.response_params or [], strict=False):
            point = self._by_node.get(request.NodeId)
            if point is None or not status.is_good():
                continue
            self.on_write(point.name, engineering(point, request.Value.Value.Value))

    def _point(self, name: str) -> OpcuaPoint:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(f"server {self.name} has no point {name!r}")
