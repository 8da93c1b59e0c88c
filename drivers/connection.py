"""Connection settings of a device, as written in the site file's ``connection`` block.

They belong to the drivers (each protocol adapter reads its own kind), and the site file
embeds them, so a connection key is defined once.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModbusTcpConnection(Section):
    kind: Literal["modbus_tcp"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=0, le=247)
    timeout_s: float = Field(default=1.0, gt=0, le=30)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError("must be a host name or IP address")
        return value


class ModbusRtuConnection(Section):
    kind: Literal["modbus_rtu"]
    port: str = Field(description="serial device, e.g. /dev/ttyUSB0")
    baud: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "E"
    stop_bits: Literal[1, 2] = 1
    unit: int = Field(default=1, ge=1, le=247)
    timeout_s: float = Field(default=1.0, gt=0, le=30)


class BacnetConnection(Section):
    kind: Literal["bacnet"]
    address: str = Field(description="device address, e.g. 192.168.1.20 or 127.0.0.1:47810")
    device_instance: int = Field(ge=0, le=4_194_302)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        host, _, port = value.partition(":")
        try:
            ip_address(host.split("/")[0])
        except ValueError:
            raise ValueError("must be an IPv4 address, optionally with :port") from None
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError("port must be 1-65535")
        return value


class OpcuaConnection(Section):
    kind: Literal["opcua"]
    endpoint: str = Field(pattern=r"^opc\.tcp://", description="opc.tcp://host:port/path")
    security_policy: Literal["None", "Basic256Sha256"] = "Basic256Sha256"
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: str | None = Field(default=None, description="client certificate (PEM/DER)")
    private_key: str | None = Field(default=None, description="client private key (PEM)")
    server_certificate: str | None = Field(
        default=None, description="trusted server certificate (the trust store)"
    )
    user: str | None = None
    credentials_file: str | None = Field(
        default=None, description="YAML file with 'user' and 'password' (keep it mode 0600)"
    )

    @model_validator(mode="after")
    def _security(self) -> OpcuaConnection:
        secure = self.security_policy != "None"
        if secure != (self.security_mode != "None"):
            raise ValueError("security_policy and security_mode must both be None or both set")
        if secure and not (self.certificate and self.private_key and self.server_certificate):
            raise ValueError(
                "a secure connection needs certificate, private_key and server_certificate"
            )
        return self


class GpioConnection(Section):
    kind: Literal["gpio"]
    pins: dict[str, int] = Field(description="profile pin role -> BCM pin number")
    active_high: bool = True

    @field_validator("pins")
    @classmethod
    def _pins(cls, pins: dict[str, int]) -> dict[str, int]:
        for role, pin in pins.items():
            if not 0 <= pin <= 53:
                raise ValueError(f"pin for {role!r} must be 0-53 (BCM numbering), got {pin}")
        if len(set(pins.values())) != len(pins):
            raise ValueError("two roles share one pin")
        return pins


Connection = Annotated[
    ModbusTcpConnection | ModbusRtuConnection | BacnetConnection | OpcuaConnection
    | GpioConnection,
    Field(discriminator="kind"),
]

CONNECTION_PROTOCOL = {
    "modbus_tcp": "modbus",
    "modbus_rtu": "modbus",
    "bacnet": "bacnet",
    "opcua": "opcua",
    "gpio": "gpio",
}
