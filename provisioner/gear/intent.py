"""What a device should carry, validated before any vendor template sees a value.

Every value that reaches a device's CLI passes here first: names are plain tokens, addresses and
ports are what they claim, and a WireGuard public key is the base64 of exactly 32 bytes (what
``wg pubkey`` prints). A laptop that publishes anything else - a newline and a command after it,
say - is refused with its name, and nothing is sent to the device.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from provisioner.gear.errors import IntentError

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
INTERFACE = r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,63}$"
TAG = r"^[a-z][a-z0-9-]{0,31}$"

Name = Annotated[str, Field(pattern=NAME)]
Interface = Annotated[str, Field(pattern=INTERFACE)]
Port = Annotated[int, Field(ge=1, le=65535)]
Proto = Literal["tcp", "udp"]


def _host(value: str) -> str:
    return str(ipaddress.IPv4Address(value))


def _network(value: str) -> str:
    """An IPv4 network in CIDR form, host bits cleared (``10.89.1.11`` -> ``10.89.1.11/32``)."""
    return str(ipaddress.IPv4Network(value, strict=False))


Host = Annotated[str, AfterValidator(_host)]
Network = Annotated[str, AfterValidator(_network)]


def wireguard_key_problem(key: str) -> str:
    """Why ``key`` is not a WireGuard public key ('' when it is one)."""
    if len(key) != 44 or not key.endswith("="):
        return "must be 44 characters of base64 ending in '='"
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return "is not base64"
    if len(raw) != 32:
        return "does not decode to 32 bytes"
    return ""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Peer(_Model):
    """An endpoint enrolled on the concentrator."""

    name: Name
    public_key: str
    address: Host

    @model_validator(mode="before")
    @classmethod
    def _key(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            key = str(data.get("public_key", ""))
            problem = wireguard_key_problem(key)
            if problem:
                shown = repr(key if len(key) <= 60 else key[:57] + "...")
                raise ValueError(
                    f"host {data.get('name')!r}: its WireGuard public key {problem} ({shown}); "
                    "refused before any device was contacted"
                )
        return data


class Service(_Model):
    """What the VPN pool may reach through the concentrator."""

    name: Name
    address: Network
    port: Port
    proto: Proto


class Forward(_Model):
    """A port published from the internet to a host behind the device.

    ``sources`` are who may use it; ``0.0.0.0/0`` (everyone) must be written out: the WireGuard
    port needs it (endpoints roam), the RD gateway only if the comune chooses so.
    """

    name: Name
    proto: Proto
    port: Port
    to_address: Host
    to_port: Port
    sources: list[Network] = Field(min_length=1)

    @property
    def everyone(self) -> bool:
        """Whether the port is open to the whole internet."""
        return self.sources == ["0.0.0.0/0"]


class WireGuard(_Model):
    """A RouterOS concentrator's WireGuard interface and peers."""

    interface: Interface = "wg-provisioner"
    listen_port: Port = 51820
    pool: Network | None = None
    address: str | None = None
    peers: list[Peer] = []
    keep_peers: list[Name] = []

    @model_validator(mode="before")
    @classmethod
    def _empty_is_none(cls, data: Any) -> Any:
        # Ansible passes an unset pool or address as "".
        if isinstance(data, Mapping):
            return {
                k: (None if k in {"pool", "address"} and v == "" else v) for k, v in data.items()
            }
        return data

    @model_validator(mode="after")
    def _address(self) -> WireGuard:
        if self.address is not None:
            ipaddress.IPv4Interface(self.address)
        return self


class Intent(_Model):
    """Everything one device should carry."""

    tag: Annotated[str, Field(pattern=TAG)] = "provisioner"
    role: Literal["vpn_concentrator", "edge_nat"]
    wan_interface: Interface
    lan_interface: Interface = "internal"
    public_address: Host | None = None
    policy_base: Annotated[int, Field(ge=1, le=4_000_000)] = 9000
    wireguard: WireGuard | None = None
    services: list[Service] = []
    forwards: list[Forward] = []

    @model_validator(mode="after")
    def _concentrator_has_a_pool(self) -> Intent:
        wireguard = self.wireguard
        if self.role == "vpn_concentrator" and (wireguard is None or not wireguard.pool):
            raise ValueError("a vpn_concentrator needs wireguard.pool (netgear_pool)")
        if self.role == "vpn_concentrator" and wireguard is not None:
            for forward in self.forwards:
                if (forward.proto, forward.port) == ("udp", wireguard.listen_port):
                    raise ValueError(
                        f"forward {forward.name!r} would send the concentrator's own WireGuard "
                        f"port udp/{forward.port} elsewhere"
                    )
        return self

    @model_validator(mode="before")
    @classmethod
    def _empty_public_address(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("public_address") == "":
            return {**data, "public_address": None}
        return data


def validate_intent(intent: Mapping[str, Any]) -> Intent:
    """The typed intent; IntentError names what is wrong (the host, for a peer's key).

    Raises:
        IntentError: a value is malformed; nothing has been sent anywhere.
    """
    try:
        return Intent.model_validate(dict(intent))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise IntentError("; ".join(problems)) from None
