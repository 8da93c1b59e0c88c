"""The gateway's BACnet/IP client application: the one place that speaks bacpypes3 as a client.

One :class:`BacnetStack` is one local BACnet application on one UDP port; every BACnet
driver of the gateway shares it (two applications on one port split the traffic between
them, see :mod:`drivers.bacnet.ports`). It registers as a foreign device with a BBMD when
one is configured, so Who-Is reaches devices behind it.

bacpypes3 signals Error/Reject/Abort answers with ``ErrorRejectAbortNack``, a
``BaseException`` that ``except Exception`` does not catch; this module translates them,
and timeouts, into :class:`BacnetRequestError` — nothing else leaves it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bacpypes3.apdu import (
    AbortPDU,
    ErrorPDU,
    ErrorRejectAbortNack,
    RejectPDU,
    SubscribeCOVRequest,
)
from bacpypes3.app import Application, DeviceInfo
from bacpypes3.basetypes import HostNPort, IPMode, PropertyValue, Segmentation, ServicesSupported
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import Atomic, Null, ObjectIdentifier
from bacpypes3.vendor import get_vendor_info

from drivers.bacnet.ports import claim_udp_port
from drivers.bounded import bounded

log = logging.getLogger(__name__)

GATEWAY_DEVICE_INSTANCE = 4_194_300  # our own device object; devices see requests from it
REGISTRATION_WAIT_S = 3.0


class BacnetRequestError(Exception):
    """A BACnet request failed: the device answered Error/Reject/Abort, or did not answer."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind  # "error", "reject", "abort", "timeout", "invalid"
        self.reason = reason  # e.g. "property: write-access-denied"


@dataclass(frozen=True)
class DeviceIdentity:
    """What a device says about itself (I-Am and its device object)."""

    instance: int
    address: str
    max_apdu: int
    segmentation: str  # "segmented-both", "segmented-transmit", ..., "no-segmentation"
    vendor_id: int
    read_multiple: bool  # ReadPropertyMultiple in protocol-services-supported
    subscribe_cov: bool  # SubscribeCOV in protocol-services-supported

    @property
    def segments_replies(self) -> bool:
        return self.segmentation in ("segmented-both", "segmented-transmit")


def _translate(err: ErrorRejectAbortNack) -> BacnetRequestError:
    if isinstance(err, ErrorPDU):
        return BacnetRequestError("error", f"{err.errorClass}: {err.errorCode}")
    if isinstance(err, RejectPDU):
        return BacnetRequestError("reject", str(err.apduAbortRejectReason))
    if isinstance(err, AbortPDU):
        return BacnetRequestError("abort", str(err.apduAbortRejectReason))
    return BacnetRequestError("error", repr(err))


def plain(value: Any) -> Any:
    """A bacpypes3 value as a plain Python value (enumerations as their number)."""
    if value is None or isinstance(value, Null):
        return None
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


class _CovContext:
    """The receiving end of one COV subscription (bacpypes3 looks it up by process id)."""

    def __init__(self, object_id: ObjectIdentifier, on_value: Callable[[str, Any], None]):
        self.monitored_object_identifier = object_id
        self._on_value = on_value
        self._object_class = get_vendor_info(0).get_object_class(object_id[0])

    async def put(self, property_value: PropertyValue) -> None:
        prop = property_value.propertyIdentifier
        kind = self._object_class.get_property_type(prop) if self._object_class else None
        if kind is None:
            return
        value = property_value.value.cast_out(kind, null=issubclass(kind, Atomic))
        self._on_value(str(prop), plain(value))


class CovSubscription:
    """One SubscribeCOV on one object, with a finite lifetime the owner renews."""

    def __init__(self, stack: BacnetStack, address: str, object_id: str,
                 on_value: Callable[[str, Any], None]) -> None:
        self._stack = stack
        self.address = Address(address)
        self.object_id = ObjectIdentifier(object_id)
        self.process_id = stack.next_process_id()
        self._context = _CovContext(self.object_id, on_value)

    async def subscribe(self, lifetime_s: int, timeout_s: float) -> None:
        """Subscribe or renew; BacnetRequestError when the device refuses."""
        app = self._stack.app
        app._cov_contexts[(self.address, self.process_id)] = self._context
        request = SubscribeCOVRequest(
            subscriberProcessIdentifier=self.process_id,
            monitoredObjectIdentifier=self.object_id,
            issueConfirmedNotifications=False,
            lifetime=lifetime_s,
            destination=self.address,
        )
        try:
            await self._stack.call(app.request(request), timeout_s)
        except BacnetRequestError:
            app._cov_contexts.pop((self.address, self.process_id), None)
            raise

    async def cancel(self, timeout_s: float) -> None:
        """Tell the device to stop (best effort) and stop listening."""
        app = self._stack.app
        app._cov_contexts.pop((self.address, self.process_id), None)
        request = SubscribeCOVRequest(
            subscriberProcessIdentifier=self.process_id,
            monitoredObjectIdentifier=self.object_id,
            destination=self.address,
        )
        try:
            await self._stack.call(app.request(request), timeout_s)
        except BacnetRequestError as err:
            log.debug("COV cancel on %s %s: %s", self.address, self.object_id, err)


class BacnetStack:
    """One local BACnet/IP application (one UDP port) shared by the gateway's BACnet drivers."""

    def __init__(self, local_address: str, *, bbmd: str | None = None, ttl_s: int = 300,
                 device_instance: int = GATEWAY_DEVICE_INSTANCE) -> None:
        self.local_address = local_address
        self.bbmd = bbmd
        self.ttl_s = ttl_s
        self.device_instance = device_instance
        self._app: Application | None = None
        self._process_ids = 0

    @property
    def app(self) -> Application:
        if self._app is None:
            raise RuntimeError("BACnet stack is not started")
        return self._app

    async def start(self) -> None:
        """Bind the port (refusing one already in use) and register with the BBMD if any."""
        claim_udp_port(self.local_address)
        device = DeviceObject(
            objectIdentifier=("device", self.device_instance),
            objectName="temix-gateway",
            vendorIdentifier=999,
            apduTimeout=3000,
            numberOfApduRetries=0,
        )
        port = NetworkPortObject(self.local_address, objectIdentifier=("network-port", 1),
                                 objectName="NetworkPort-1")
        if self.bbmd:
            port.bacnetIPMode = IPMode.foreign
            port.fdBBMDAddress = HostNPort(self.bbmd)
            port.fdSubscriptionLifetime = self.ttl_s
        self._app = Application.from_object_list([device, port])
        for link in self._app.link_layers.values():
            await link.server._local_transport_ready.wait()
        if self.bbmd:
            await self._wait_registered()

    async def _wait_registered(self) -> None:
        for link in self.app.link_layers.values():
            try:
                await asyncio.wait_for(link._registration_event.wait(), REGISTRATION_WAIT_S)
            except TimeoutError:
                log.warning("BACnet: BBMD %s did not confirm the foreign-device registration "
                            "within %.0f s; Who-Is will not reach devices behind it until it "
                            "does (check the BBMD address and that it accepts registrations)",
                            self.bbmd, REGISTRATION_WAIT_S)

    def close(self) -> None:
        if self._app is None:
            return
        for link in self._app.link_layers.values():
            if hasattr(link, "unregister"):
                link._stop_tracking_registration()
        self._app.close()
        self._app = None

    def next_process_id(self) -> int:
        self._process_ids = self._process_ids % 4_000_000 + 1
        return self._process_ids

    async def call(self, awaitable: Any, timeout_s: float) -> Any:
        """Await one bacpypes3 request; translate its BaseException answers and timeouts.

        Bounded with :func:`drivers.bounded.bounded`, not ``asyncio.wait_for`` (which waits
        for a cancelled request to unwind): once in CI a BACnet zone's poll loop and the
        islanding loop (which sheds that zone) both ignored their stop for 10 s while PCC
        readings went stale — a request that ignores its cancellation must not hold them."""
        try:
            return await bounded(awaitable, timeout_s, "BACnet request")
        except ErrorRejectAbortNack as err:
            raise _translate(err) from None
        except TimeoutError:
            raise BacnetRequestError("timeout", f"no answer within {timeout_s:g} s") from None
        except (ValueError, TypeError, AttributeError) as err:
            raise BacnetRequestError("invalid", str(err)) from err

    async def read(self, address: str, object_id: str, prop: str, timeout_s: float,
                   array_index: int | None = None) -> Any:
        result = await self.call(
            self.app.read_property(Address(address), ObjectIdentifier(object_id), prop,
                                   array_index), timeout_s)
        if isinstance(result, ErrorRejectAbortNack):
            raise _translate(result)
        if isinstance(result, list):
            return [plain(item) for item in result]
        return plain(result)

    async def read_multiple(self, address: str, refs: Sequence[tuple[str, str]],
                            timeout_s: float) -> list[Any]:
        """One ReadPropertyMultiple; per reference a plain value or a BacnetRequestError."""
        grouped: dict[str, list[str]] = {}
        for object_id, prop in refs:
            grouped.setdefault(object_id, []).append(prop)
        parameters: list[Any] = []
        for object_id, props in grouped.items():
            parameters += [ObjectIdentifier(object_id), props]
        result = await self.call(
            self.app.read_property_multiple(Address(address), parameters), timeout_s)
        if isinstance(result, ErrorRejectAbortNack):
            raise _translate(result)
        if result is None:
            raise BacnetRequestError("invalid", "unexpected answer to ReadPropertyMultiple")
        found: dict[tuple[str, str], Any] = {}
        for object_id, prop, _index, value in result:
            key = (str(ObjectIdentifier(object_id)), str(prop))
            if isinstance(value, ErrorRejectAbortNack | Exception):
                found[key] = BacnetRequestError("error", str(value))
            elif hasattr(value, "errorClass"):
                found[key] = BacnetRequestError("error", f"{value.errorClass}: {value.errorCode}")
            else:
                found[key] = plain(value)
        missing = BacnetRequestError("error", "property missing from the answer")
        return [found.get((str(ObjectIdentifier(o)), p), missing) for o, p in refs]

    async def write(self, address: str, object_id: str, prop: str, value: Any,
                    priority: int | None, timeout_s: float) -> None:
        result = await self.call(
            self.app.write_property(Address(address), ObjectIdentifier(object_id), prop,
                                    value, None, priority), timeout_s)
        if isinstance(result, ErrorRejectAbortNack):
            raise _translate(result)

    async def relinquish(self, address: str, object_id: str, priority: int,
                         timeout_s: float) -> None:
        """Write NULL into our priority slot (never touches Relinquish_Default)."""
        await self.write(address, object_id, "present-value", Null(()), priority, timeout_s)

    async def who_is(self, timeout_s: float, low: int | None = None, high: int | None = None,
                     address: str | None = None) -> list[tuple[int, str]]:
        """Who-Is (global, or to one address); (device instance, address) of each I-Am."""
        future = self.app.who_is(low, high, Address(address) if address else None, timeout_s)
        answers = await bounded(future, timeout_s + 1.0, "BACnet Who-Is")
        found = {(int(a.iAmDeviceIdentifier[1]), str(a.pduSource)) for a in answers or []}
        return sorted(found)

    async def identify(self, address: str, instance: int, timeout_s: float) -> DeviceIdentity:
        """Read the device object's limits and services; record them for segmentation."""
        device = f"device,{instance}"
        services = await self.read(address, device, "protocol-services-supported", timeout_s)
        supported = ServicesSupported(services)
        props = ("max-apdu-length-accepted", "segmentation-supported", "vendor-identifier")
        if supported[ServicesSupported.readPropertyMultiple]:
            values = await self.read_multiple(address, [(device, p) for p in props], timeout_s)
        else:
            values = [await self.read(address, device, p, timeout_s) for p in props]
        for value in values:
            if isinstance(value, BacnetRequestError):
                raise value
        max_apdu, segmentation, vendor = values
        identity = DeviceIdentity(
            instance=instance, address=address, max_apdu=int(max_apdu),
            segmentation=str(Segmentation(segmentation)), vendor_id=int(vendor),
            read_multiple=bool(supported[ServicesSupported.readPropertyMultiple]),
            subscribe_cov=bool(supported[ServicesSupported.subscribeCOV]),
        )
        self._remember(identity)
        return identity

    def _remember(self, identity: DeviceIdentity) -> None:
        info = DeviceInfo(identity.instance, Address(identity.address))
        info.max_apdu_length_accepted = identity.max_apdu
        info.segmentation_supported = Segmentation(identity.segmentation)
        info.vendor_identifier = identity.vendor_id
        self.app.device_info_cache.update_device_info(info)

    def cov(self, address: str, object_id: str,
            on_value: Callable[[str, Any], None]) -> CovSubscription:
        return CovSubscription(self, address, object_id, on_value)
