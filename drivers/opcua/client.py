"""The gateway's OPC UA client session: the one module that speaks asyncua as a client.

A session is one asyncua ``Client``, used once: after any link failure the owner closes it
and builds a fresh one (reconnecting a broken asyncua client can hang). Security is
Basic256Sha256 with Sign or SignAndEncrypt; the server's certificate must be in the trust
store (a pinned certificate file, or a directory of them) — the session compares what the
server presents *before* opening the secure channel, so an untrusted server is refused
with a message that says which certificate it showed and where to put it.

Everything asyncua raises is translated into :class:`OpcuaError` with a short ``code``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif, Subscription
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.uaerrors import UaStatusCodeError
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from drivers.bounded import bounded

log = logging.getLogger(__name__)

VARIANT_TYPES = {
    "Double": ua.VariantType.Double,
    "Float": ua.VariantType.Float,
    "Int16": ua.VariantType.Int16,
    "Int32": ua.VariantType.Int32,
    "Int64": ua.VariantType.Int64,
    "UInt16": ua.VariantType.UInt16,
    "UInt32": ua.VariantType.UInt32,
    "Boolean": ua.VariantType.Boolean,
    "String": ua.VariantType.String,
}


class OpcuaError(Exception):
    """An OPC UA operation failed; ``code`` says how (see the module docstring)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SecuritySettings:
    mode: Literal["Sign", "SignAndEncrypt"]
    certificate: Path  # our application certificate (DER or PEM)
    private_key: Path  # its key (PEM)
    trusted_server: Path  # the server's certificate, or a directory of trusted ones


@dataclass(frozen=True)
class NodeRef:
    """A resolved node: what the driver reads, writes and subscribes."""

    node: Node
    label: str  # the node id or browse path as written in the profile
    variant_type: str | None  # the node's data type as a variant name ("Double" ...)


def load_certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def thumbprint(certificate_der: bytes) -> str:
    return hashlib.sha1(certificate_der, usedforsecurity=False).hexdigest()


def _trusted_certificates(location: Path) -> dict[str, Path]:
    """Thumbprint → file of every certificate in the trust store."""
    files = sorted(location.glob("*")) if location.is_dir() else [location]
    found: dict[str, Path] = {}
    for file in files:
        if file.suffix.lower() not in (".der", ".pem", ".crt", ".cer"):
            continue
        cert = load_certificate(file)
        found[thumbprint(cert.public_bytes(serialization.Encoding.DER))] = file
    return found


def _application_uri(certificate: x509.Certificate) -> str | None:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def _first_certificate(chain: bytes) -> bytes:
    """The leaf of a DER certificate chain (a server may send its chain concatenated)."""
    if len(chain) < 2 or chain[0] != 0x30:
        return chain
    size = chain[1]
    if size < 0x80:
        return chain[:2 + size]
    count = size & 0x7F
    return chain[:2 + count + int.from_bytes(chain[2:2 + count], "big")]


def _status_name(err: BaseException) -> str:
    code = getattr(err, "code", None)
    if code is not None:
        with contextlib.suppress(Exception):
            return str(ua.StatusCode(code).name)
    return type(err).__name__


class OpcuaSession:
    """One connection to one OPC UA server (build a new one to reconnect)."""

    def __init__(self, endpoint: str, *, security: SecuritySettings | None = None,
                 user: str | None = None, password: str | None = None,
                 timeout_s: float = 4.0) -> None:
        self.endpoint = endpoint
        self.security = security
        self.timeout_s = timeout_s
        self._client = Client(endpoint, timeout=timeout_s, watchdog_intervall=timeout_s)
        if user:
            self._client.set_user(user)
            self._client.set_password(password or "")
        self._subscription: Subscription | None = None
        self._connected = False

    async def connect(self) -> None:
        """Open the (secure) session; OpcuaError with a code a facility manager can act on."""
        try:
            if self.security is not None:
                await self._secure()
            await bounded(self._client.connect(auto_reconnect=False), self.timeout_s * 2,
                          f"connecting to {self.endpoint}")
        except OpcuaError:
            await self.close()
            raise
        except (TimeoutError, OSError) as err:
            await self.close()
            raise OpcuaError("unreachable", f"no OPC UA server answering at {self.endpoint} "
                                            f"({type(err).__name__}: {err})") from err
        except Exception as err:
            await self.close()
            raise self._connect_error(err) from err
        self._connected = True

    def _connect_error(self, err: Exception) -> OpcuaError:
        name = _status_name(err)
        if name in ("BadCertificateUntrusted", "BadSecurityChecksFailed",
                    "BadCertificateInvalid", "BadCertificateUseNotAllowed",
                    "BadCertificateUriInvalid"):
            cert = self.security.certificate if self.security else "our certificate"
            return OpcuaError("rejected_by_server",
                              f"the server at {self.endpoint} refused the gateway's client "
                              f"certificate ({name}); add {cert} to the server's trusted "
                              "certificates")
        if name in ("BadUserAccessDenied", "BadIdentityTokenInvalid",
                    "BadIdentityTokenRejected", "BadUserSignatureInvalid"):
            return OpcuaError("bad_identity", f"the server at {self.endpoint} refused the user "
                                              f"name or password ({name}); check the "
                                              "credentials file")
        return OpcuaError("connect_failed", f"could not open a session with {self.endpoint}: "
                                            f"{name}: {err}")

    async def _secure(self) -> None:
        security = self.security
        assert security is not None
        trusted = _trusted_certificates(security.trusted_server)
        if not trusted:
            raise OpcuaError("untrusted_server", f"the trust store {security.trusted_server} "
                                                 "holds no certificate; copy the server's "
                                                 "certificate there")
        probe = Client(self.endpoint, timeout=self.timeout_s)
        endpoints = await bounded(probe.connect_and_get_server_endpoints(),
                                  self.timeout_s * 2, f"endpoints of {self.endpoint}")
        mode = getattr(ua.MessageSecurityMode, security.mode)
        offered = [e for e in endpoints if e.SecurityMode == mode
                   and e.SecurityPolicyUri == SecurityPolicyBasic256Sha256.URI]
        if not offered:
            raise OpcuaError("no_endpoint", f"the server at {self.endpoint} offers no "
                                            f"Basic256Sha256 {security.mode} endpoint")
        presented = _first_certificate(offered[0].ServerCertificate or b"")
        pinned = trusted.get(thumbprint(presented))
        if pinned is None:
            subject = "unknown"
            with contextlib.suppress(ValueError):
                subject = x509.load_der_x509_certificate(presented).subject.rfc4514_string()
            raise OpcuaError(
                "untrusted_server",
                f"the server at {self.endpoint} presents a certificate that is not trusted "
                f"({subject}, SHA-1 {thumbprint(presented)}); the gateway trusts only the "
                f"certificates in {security.trusted_server}. If this server is genuine, "
                "copy its certificate there")
        own = load_certificate(security.certificate)
        self._client.application_uri = _application_uri(own) or self._client.application_uri
        await self._client.set_security(
            SecurityPolicyBasic256Sha256, str(security.certificate), str(security.private_key),
            server_certificate=str(pinned), mode=mode)

    async def close(self) -> None:
        """Close the session (best effort, bounded); the object is not reused."""
        self._connected = False
        what = f"OPC UA session to {self.endpoint}"
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await bounded(self._subscription.delete(), self.timeout_s, what)
            self._subscription = None
        with contextlib.suppress(Exception):
            await bounded(self._client.disconnect(), self.timeout_s, what)
        self._client.disconnect_socket()
        for task_name in ("_supervisor_task", "_stale_watchdog_task", "_renew_channel_task"):
            task = getattr(self._client, task_name, None)
            if isinstance(task, asyncio.Task) and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await bounded(task, self.timeout_s, f"{what} ({task_name})")

    async def resolve(self, node_id: str | None, browse_path: Sequence[str] | None) -> NodeRef:
        """The node named by a node id or a browse path from Objects, with its data type."""
        try:
            if node_id is not None:
                node = self._client.get_node(node_id)
                label = node_id
            else:
                assert browse_path is not None
                label = "/".join(browse_path)
                node = await bounded(
                    self._client.nodes.objects.get_child(list(browse_path)), self.timeout_s,
                    f"browsing {self.endpoint}")
            await bounded(node.read_node_class(), self.timeout_s, f"reading {self.endpoint}")
        except (TimeoutError, OSError, ConnectionError) as err:
            raise OpcuaError("link", f"{self.endpoint}: {type(err).__name__}") from err
        except Exception as err:
            raise OpcuaError("bad_node", f"node {label} does not exist on {self.endpoint} "
                                         f"({_status_name(err)}); check node_id / browse_path "
                                         "in the profile") from err
        return NodeRef(node, label, await self._variant_type(node))

    async def _variant_type(self, node: Node) -> str | None:
        """The node's data type as a variant name, None when it has no simple one."""
        try:
            variant = await bounded(node.read_data_type_as_variant_type(), self.timeout_s,
                                    f"reading {self.endpoint}")
        except (TimeoutError, OSError, ConnectionError) as err:
            raise OpcuaError("link", f"{self.endpoint}: {type(err).__name__}") from err
        except Exception:
            return None
        return variant.name if variant.name in VARIANT_TYPES else None

    async def read(self, refs: Sequence[NodeRef]) -> list[Any]:
        """One Read of every node; per node its value or an OpcuaError (bad status)."""
        try:
            values = await bounded(
                self._client.read_attributes([r.node for r in refs]), self.timeout_s,
                f"reading {self.endpoint}")
        except (TimeoutError, OSError, ConnectionError) as err:
            raise OpcuaError("link", f"{self.endpoint}: read failed "
                                     f"({type(err).__name__})") from err
        except Exception as err:
            raise OpcuaError("link", f"{self.endpoint}: read failed "
                                     f"({_status_name(err)})") from err
        results: list[Any] = []
        for ref, value in zip(refs, values, strict=True):
            status = value.StatusCode
            if status is not None and not status.is_good():
                results.append(OpcuaError("bad_status", f"{ref.label}: {status.name}"))
            else:
                results.append(value.Value.Value if value.Value is not None else None)
        return results

    async def write(self, ref: NodeRef, value: Any, variant_type: str) -> None:
        """Write as ``variant_type`` (a Python int into a Double node is refused)."""
        variant = ua.Variant(value, VARIANT_TYPES[variant_type])
        try:
            await bounded(ref.node.write_value(ua.DataValue(variant)), self.timeout_s,
                          f"writing to {self.endpoint}")
        except (TimeoutError, OSError, ConnectionError) as err:
            raise OpcuaError("link", f"{self.endpoint}: write failed "
                                     f"({type(err).__name__})") from err
        except UaStatusCodeError as err:
            raise OpcuaError("write_refused", f"{ref.label}: the server refused the write "
                                              f"({_status_name(err)})") from err
        except Exception as err:
            raise OpcuaError("link", f"{self.endpoint}: write failed "
                                     f"({_status_name(err)})") from err

    async def subscribe(self, refs: Sequence[NodeRef], period_ms: float,
                        on_change: Callable[[int, Any], None]) -> None:
        """Data-change notifications for ``refs``; ``on_change(index, value)``."""
        index = {ref.node.nodeid: i for i, ref in enumerate(refs)}

        class Handler:
            def datachange_notification(self, node: Node, val: Any,
                                        data: DataChangeNotif) -> None:
                position = index.get(node.nodeid)
                if position is not None:
                    on_change(position, val)

        try:
            self._subscription = await bounded(
                self._client.create_subscription(period_ms, Handler()), self.timeout_s,
                f"subscribing to {self.endpoint}")
            await bounded(
                self._subscription.subscribe_data_change([r.node for r in refs]),
                self.timeout_s, f"subscribing to {self.endpoint}")
        except Exception as err:
            raise OpcuaError("subscribe_failed", f"{self.endpoint}: could not subscribe "
                                                 f"({_status_name(err)})") from err
