"""A comune's inventory as typed, validated models."""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

BUNDLES = "bundles"
"""Devices that receive an enrolment bundle (Windows, macOS, phones, personal PCs): a WireGuard
peer, an ``.rdp`` file and the meeting link. Not managed over SSH: no play ever targets them."""
PLAY_GROUPS: tuple[str, ...] = (
    "endpoints",
    "office_desktops",
    "vpn_gateways",
    "rd_gateways",
    "meeting_servers",
    "network_devices",
)
"""The groups the playbooks' plays may target (``tests/unit/content/test_bundles_untargeted``)."""
GROUPS: tuple[str, ...] = (*PLAY_GROUPS, BUNDLES)
"""The groups a comune inventory may use at top level (children of ``all``)."""
RENAMED_GROUPS: dict[str, str] = {"netgear": "network_devices"}
"""Former group names and the current ones: an inventory still using one is told the new name
(``netgear`` read as the NETGEAR brand to a technician; it holds every vendor's devices)."""
PEER_GROUPS: tuple[str, ...] = ("endpoints", BUNDLES)
"""Groups whose hosts hold a tunnel address of the comune's pool (a peer on the terminator)."""

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
DEVICE_TYPES: tuple[str, ...] = ("mikrotik_routeros", "cisco_ios", "fortinet")
"""The network device vendors (netmiko's device types): the one list. ``gear.PLATFORMS`` is keyed
by it, the device module takes its choices from it, and a test holds the role's argument spec,
the module's documentation and the fake devices to it."""
NETGEAR_ROLES: tuple[str, ...] = ("vpn_concentrator", "edge_nat")


def _check_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.match(value) or value.replace(".", "").isdigit():
            raise ValueError(f"{value!r} is not a valid IP address or DNS name") from None
    return value


def _check_endpoint(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} must be host:port (e.g. vpn.comune.example.it:51820)")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} has an invalid port {port!r} (1-65535)")
    _check_address(host.strip("[]"))
    return value


def _check_hostname(value: str) -> str:
    if not _HOSTNAME.match(value):
        raise ValueError(f"{value!r} is not a valid host name (letters, digits, '-' and '.')")
    return value


def _check_https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError(f"{value!r} must be an https:// URL (e.g. https://meet.comune.example.it)")
    if not parts.hostname or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a valid https:// URL (host name missing or blank)")
    _check_address(parts.hostname)
    return value


def _check_origin(value: str) -> str:
    _check_https_url(value)
    parts = urlsplit(value)
    if parts.path not in {"", "/"} or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(
            f"{value!r} must be an origin https://host[:port], without path, query or fragment"
        )
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port (1-65535)") from None
    return value.rstrip("/")


def _check_pem_certificate(value: str) -> str:
    text = value.strip()
    if text and not (
        text.startswith("-----BEGIN CERTIFICATE-----")
        and text.endswith("-----END CERTIFICATE-----")
    ):
        raise ValueError(
            "must be one PEM certificate (-----BEGIN CERTIFICATE----- ... -----END ...)"
        )
    return value


Address = Annotated[str, AfterValidator(_check_address)]
Endpoint = Annotated[str, AfterValidator(_check_endpoint)]
HostName = Annotated[str, AfterValidator(_check_hostname)]
Slug = Annotated[str, StringConstraints(pattern=_SLUG)]
HttpsUrl = Annotated[str, AfterValidator(_check_https_url)]
OptionalHttpsUrl = Annotated[str, AfterValidator(lambda v: v and _check_https_url(v))]
Origin = Annotated[str, AfterValidator(_check_origin)]
PemCertificate = Annotated[str, AfterValidator(_check_pem_certificate)]


def _check_wireguard_key(value: str) -> str:
    """A WireGuard public key: base64 of 32 bytes (44 characters ending in ``=``)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError("not a WireGuard key (base64 of 32 bytes)")
    return value


WireGuardKey = Annotated[str, AfterValidator(_check_wireguard_key)]
UserName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
OptionalSha256 = Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{64})?$")]
# A Debian package name, or a winget id on Windows (e.g. Jitsi.Meet).
PackageName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9+._-]+$")]
MeetingMode = Literal["browser", "package"]
Management = Literal["direct", "tunnel"]
MeetingBrowser = Literal["chromium", "firefox-esr"]
MeetingPlatform = Literal["generic", "janus"]
# A room id on the provider's platform (role meeting_server): Janus' string id, its
# configuration section and its page's path; the role's argument spec allows the same.
_ROOM_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
RoomId = Annotated[str, StringConstraints(pattern=_ROOM_ID)]
PackageSource = Literal["apt", "url"]


def _check_package_source(
    source: str | None, url: str | None, checksum: str | None, prefix: str
) -> None:
    """A package from a URL needs the URL and its SHA-256: nothing unchecked is installed."""
    if source == "url" and not url:
        raise ValueError(f"{prefix}_package_source is url but {prefix}_package_url is empty")
    if source == "url" and not checksum:
        raise ValueError(
            f"{prefix}_package_checksum (SHA-256) is required with {prefix}_package_source url"
        )


class AllowedService(BaseModel):
    """A service on the office side that the VPN pool may reach (nothing else is)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    address: ipaddress.IPv4Network
    port: int = Field(ge=1, le=65535)
    proto: Literal["tcp", "udp"] = "tcp"


class RdpDesktop(BaseModel):
    """An office desktop reachable through the RD gateway (an ``office_desktops`` host)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: HostName = Field(description="the desktop's inventory name")
    address: ipaddress.IPv4Address = Field(description="its address, as the RD gateway reaches it")
    port: int = Field(default=3389, ge=1, le=65535, description="its RDP port")


class RdpUser(BaseModel):
    """A user, their office desktop and their fixed listener on the RD gateway."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: UserName
    desktop: HostName = Field(description="a desktop of comune_rdp_desktops")
    port: int = Field(ge=1024, le=65535, description="the gateway's port leading to that desktop")
    endpoint: HostName | None = Field(
        default=None, description="the user's laptop (an endpoint): the RDP readiness runs there"
    )


class ComuneSettings(BaseModel):
    """Settings of a comune, from ``group_vars/all/`` (keys prefixed ``comune_``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    comune_name: Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
    comune_slug: Slug
    comune_istat_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] = Field(
        description="6-digit ISTAT code, quoted in YAML (leading zeros matter)"
    )
    comune_province: str = ""
    comune_vpn_pool: ipaddress.IPv4Network
    comune_vpn_listen_port: int = Field(default=51820, ge=1, le=65535)
    comune_vpn_public_endpoint: Endpoint
    comune_vpn_terminator: HostName
    comune_management_host: HostName | None = Field(
        default=None,
        description="the office Linux host through which the endpoints are managed over their "
        "tunnel (SSH jump host); by default the VPN terminator, which must then be Linux",
    )
    comune_office_networks: list[ipaddress.IPv4Network] = Field(min_length=1)
    comune_meeting_url: HttpsUrl
    comune_meeting_enabled: bool = Field(
        default=True, description="manage meeting software on the endpoints (role meeting_client)"
    )
    comune_remote_desktop_enabled: bool = Field(
        default=True,
        description="manage the RD gateway, the office desktops' RDP and the endpoints' client",
    )
    comune_meeting_mode: MeetingMode = "browser"
    comune_meeting_browser: MeetingBrowser = "chromium"
    comune_meeting_extra_origins: list[Origin] = Field(
        default_factory=list, description="more origins allowed camera, microphone, screen sharing"
    )
    comune_meeting_package_name: PackageName = "baresip"
    comune_meeting_package_source: PackageSource = "apt"
    comune_meeting_package_url: OptionalHttpsUrl = ""
    comune_meeting_package_checksum: OptionalSha256 = ""
    comune_meeting_ca_certificate: PemCertificate = ""
    comune_meeting_platform: MeetingPlatform = Field(
        default="generic",
        description="generic: any HTTPS platform; janus: the provider's own (role meeting_server), "
        "whose readiness also asks Janus for the comune's room",
    )
    comune_meeting_room: RoomId | Literal[""] = Field(
        default="",
        description="the comune's room id on the janus platform (a-z, 0-9, '-'; 1-63 characters): "
        "its page is https://<platform>/riunioni/<room>/",
    )
    comune_dns_servers: list[ipaddress.IPv4Address] = Field(default_factory=list)
    comune_vpn_allowed_services: list[AllowedService] = Field(default_factory=list)
    comune_vpn_readiness_service: str = Field(
        default="", description="name of the allowed service the readiness check connects to"
    )
    comune_rd_gateway_address: ipaddress.IPv4Address | None = Field(
        default=None,
        description="the RD gateway's office address: users reach it through the VPN (.rdp files), "
        "the desktops accept RDP from it only",
    )
    comune_rd_gateway_sources: list[ipaddress.IPv4Network] = Field(
        default_factory=list,
        description="allowed on the RD gateway besides the VPN pool (a masquerading VPN gateway)",
    )
    comune_rd_gateway_certificate: str = Field(
        default="", description="the comune's PEM certificate, relative to the inventory directory"
    )
    comune_rd_gateway_private_key: str = Field(
        default="", description="its private key (PEM), relative to the inventory directory"
    )
    comune_rd_gateway_ca_certificate: PemCertificate = Field(
        default="",
        description="the CA that signed the comune's certificate (PEM): the endpoints trust it and "
        "the RDP readiness verifies the gateway with it",
    )
    comune_rdp_desktops: list[RdpDesktop] = Field(default_factory=list)
    comune_rdp_users: list[RdpUser] = Field(default_factory=list)

    @model_validator(mode="after")
    def _readiness_service_is_allowed(self) -> ComuneSettings:
        names = [s.name for s in self.comune_vpn_allowed_services]
        if self.comune_vpn_readiness_service and self.comune_vpn_readiness_service not in names:
            raise ValueError(
                f"comune_vpn_readiness_service {self.comune_vpn_readiness_service!r} is not in "
                f"comune_vpn_allowed_services ({', '.join(names) or 'empty'})"
            )
        return self

    @model_validator(mode="after")
    def _janus_room_is_named(self) -> ComuneSettings:
        if self.comune_meeting_platform != "janus":
            return self
        if not self.comune_meeting_room:
            raise ValueError("comune_meeting_room is required with comune_meeting_platform janus")
        path = urlsplit(self.comune_meeting_url).path
        if path.rstrip("/") != f"/riunioni/{self.comune_meeting_room}":
            raise ValueError(
                f"comune_meeting_url {self.comune_meeting_url!r} is not the page of room "
                f"{self.comune_meeting_room!r} (https://<platform>/riunioni/"
                f"{self.comune_meeting_room}/)"
            )
        return self

    @model_validator(mode="after")
    def _meeting_package_is_checked(self) -> ComuneSettings:
        _check_package_source(
            self.comune_meeting_package_source,
            self.comune_meeting_package_url,
            self.comune_meeting_package_checksum,
            "comune_meeting",
        )
        return self

    @field_validator("comune_istat_code", mode="before")
    @classmethod
    def _istat_is_text(cls, value: Any) -> Any:
        if isinstance(value, int):
            raise ValueError("must be a quoted 6-digit string (e.g. '024058'), YAML read a number")
        return value


def rdp_problems(
    settings: ComuneSettings, groups: dict[str, tuple[str, ...]], directory: Path
) -> list[tuple[str, str]]:
    """Cross-checks of the remote desktop settings against the hosts and the files.

    Args:
        settings: The comune's validated settings.
        groups: Host name -> its groups, for every host of the inventory.
        directory: The comune's inventory directory (certificate paths are relative to it).

    Returns:
        (field, message) per problem; empty when the settings are sound.
    """
    problems: list[tuple[str, str]] = []
    desktops: dict[str, RdpDesktop] = {}
    for desktop in settings.comune_rdp_desktops:
        if desktop.name in desktops:
            problems.append(("comune_rdp_desktops", f"desktop {desktop.name!r} is listed twice"))
        elif "office_desktops" not in groups.get(desktop.name, ()):
            problems.append(
                (
                    "comune_rdp_desktops",
                    f"desktop {desktop.name!r} is not a host of group office_desktops",
                )
            )
        desktops[desktop.name] = desktop
    by_port: dict[int, str] = {}
    names: set[str] = set()
    for user in settings.comune_rdp_users:
        if user.name in names:
            problems.append(("comune_rdp_users", f"user {user.name!r} is listed twice"))
        names.add(user.name)
        if user.desktop not in desktops:
            problems.append(
                (
                    "comune_rdp_users",
                    f"user {user.name!r} is mapped to desktop {user.desktop!r}, "
                    "which is not in comune_rdp_desktops",
                )
            )
        if user.port in by_port:
            problems.append(
                (
                    "comune_rdp_users",
                    f"users {by_port[user.port]!r} and {user.name!r} share gateway port "
                    f"{user.port} (one fixed listener per user)",
                )
            )
        by_port.setdefault(user.port, user.name)
        if user.endpoint is not None and "endpoints" not in groups.get(user.endpoint, ()):
            problems.append(
                (
                    "comune_rdp_users",
                    f"user {user.name!r}: endpoint {user.endpoint!r} is not a host of group "
                    "endpoints",
                )
            )
    gateway = settings.comune_rd_gateway_address
    if gateway is not None:
        for user in settings.comune_rdp_users:
            if not any(
                gateway in s.address and s.port == user.port and s.proto == "tcp"
                for s in settings.comune_vpn_allowed_services
            ):
                problems.append(
                    (
                        "comune_vpn_allowed_services",
                        f"user {user.name!r}: gateway port {gateway}:{user.port}/tcp is not "
                        "allowed through the VPN",
                    )
                )
    if settings.comune_rdp_users and gateway is None:
        problems.append(
            ("comune_rd_gateway_address", "missing: required when comune_rdp_users is set")
        )
    cert, key = settings.comune_rd_gateway_certificate, settings.comune_rd_gateway_private_key
    if bool(cert) != bool(key):
        field = "comune_rd_gateway_private_key" if cert else "comune_rd_gateway_certificate"
        problems.append((field, "the certificate and its private key go together"))
    if settings.comune_rd_gateway_ca_certificate and not cert:
        problems.append(
            (
                "comune_rd_gateway_ca_certificate",
                "a CA without comune_rd_gateway_certificate: the gateway's self-signed "
                "certificate would not verify against it",
            )
        )
    for field, value in (
        ("comune_rd_gateway_certificate", cert),
        ("comune_rd_gateway_private_key", key),
    ):
        if value and not (directory / value).is_file():
            problems.append((field, f"file not found: {directory / value}"))
    return problems


class Host(BaseModel):
    """One managed host and the groups it belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: HostName
    groups: tuple[str, ...]
    ansible_host: Address | None = None
    ansible_port: int | None = Field(default=None, ge=1, le=65535)
    vpn_client_address: ipaddress.IPv4Address | None = Field(
        default=None, description="tunnel address, allocated once by the tool (host_vars)"
    )
    provisioner_management: Management = Field(
        default="direct",
        description=(
            "how the controller reaches the host: direct (ansible_host) or tunnel (its tunnel "
            "address through the comune's VPN terminator); recorded by the tool after enrolment"
        ),
    )
    # A host may take another meeting mode or client than its comune (host_vars, role variables).
    meeting_client_mode: MeetingMode | None = None
    meeting_client_browser: MeetingBrowser | None = None
    meeting_client_url: HttpsUrl | None = None
    meeting_client_extra_origins: list[Origin] | None = None
    meeting_client_package_name: PackageName | None = None
    meeting_client_package_source: PackageSource | None = None
    meeting_client_package_url: HttpsUrl | None = None
    meeting_client_package_checksum: Sha256 | None = None
    meeting_client_ca_certificate: PemCertificate | None = None
    # An enrolment bundle's device (group bundles): what was issued, never the private key.
    bundle_user: UserName | None = Field(default=None, description="the user the bundle is for")
    bundle_desktop: HostName | None = Field(
        default=None, description="the office desktop its .rdp file leads to"
    )
    bundle_public_key: WireGuardKey | None = Field(
        default=None, description="the device's WireGuard public key (its peer on the terminator)"
    )
    bundle_created: datetime.datetime | None = Field(
        default=None, description="when the bundle was issued (UTC)"
    )
    bundle_expires: datetime.date | None = Field(
        default=None,
        description="last day the bundle works; the first run after it removes its peer",
    )
    source: str = Field(description="file the host is defined in")
    origins: dict[str, str] = Field(
        default_factory=dict, description="typed field -> file that sets it (host_vars)"
    )
    variables: dict[str, Any] = Field(default_factory=dict)

    @property
    def address(self) -> str:
        """Where Ansible connects (``ansible_host`` or the name)."""
        return self.ansible_host or self.name

    @property
    def is_bundle(self) -> bool:
        """A device of group ``bundles``: it gets a bundle, never a run."""
        return BUNDLES in self.groups

    @property
    def issued(self) -> bool:
        """A bundle's device whose bundle was issued (it has a public key and an address)."""
        return self.is_bundle and self.bundle_public_key is not None

    def expired(self, today: datetime.date) -> bool:
        """An issued bundle past its last day (``bundle_expires``): its peer goes at the next run.

        The same rule as ``vpn_peers`` in ``plugins/filter/comune.py`` (the controller's date).
        """
        return self.issued and self.bundle_expires is not None and self.bundle_expires < today


_BUNDLE_FIELDS = (
    "bundle_user",
    "bundle_desktop",
    "bundle_public_key",
    "bundle_created",
    "bundle_expires",
)


def bundle_problems(host: Host) -> list[tuple[str, str]]:
    """``(field, message)`` for each problem of a bundle's device (or of bundle fields elsewhere).

    A bundle's device is in no other group and has no connection variables: nothing reaches it
    over SSH. An issued bundle has its public key, tunnel address, user and creation time; one
    not issued yet (an imported Windows or macOS row) has no address.
    """
    set_fields = [f for f in _BUNDLE_FIELDS if getattr(host, f) is not None]
    if not host.is_bundle:
        return [(f, f"only a host of group {BUNDLES} has bundle fields") for f in set_fields]
    others = [g for g in host.groups if g in PLAY_GROUPS]
    if others:
        # The rest follows from this one (a managed host has connection variables).
        return [
            (
                "groups",
                f"a bundle's device is in no other group (also in {', '.join(others)}): "
                "it is not managed over SSH",
            )
        ]
    connection = [k for k in ("ansible_host", "ansible_port") if getattr(host, k) is not None]
    if host.provisioner_management != "direct":
        connection.append("provisioner_management")
    connection += sorted(k for k in host.variables if k.startswith("ansible_"))
    found = [(key, "a bundle's device is not managed over SSH: remove it") for key in connection]
    if host.bundle_public_key is None:
        if host.vpn_client_address is not None:
            found.append(
                ("vpn_client_address", "a tunnel address without bundle_public_key (not issued)")
            )
        return found
    for key in ("vpn_client_address", "bundle_user", "bundle_created"):
        if getattr(host, key) is None:
            found.append((key, "missing: an issued bundle records it (bundle create writes it)"))
    return found


def meeting_problems(settings: ComuneSettings, host: Host) -> list[tuple[str, str]]:
    """``(field, message)`` for a host whose meeting package (with comune defaults) is unchecked.

    Args:
        settings: The comune's settings (the defaults).
        host: The host, whose ``meeting_client_*`` variables override them.
    """
    mode = host.meeting_client_mode or settings.comune_meeting_mode
    source = host.meeting_client_package_source or settings.comune_meeting_package_source
    if mode != "package" or source != "url":
        return []
    url = host.meeting_client_package_url or settings.comune_meeting_package_url
    checksum = host.meeting_client_package_checksum or settings.comune_meeting_package_checksum
    try:
        _check_package_source(source, url, checksum, "meeting_client")
    except ValueError as exc:
        field = "meeting_client_package_url" if not url else "meeting_client_package_checksum"
        return [(field, str(exc))]
    return []


class Inventory(BaseModel):
    """A whole comune: settings plus hosts, cross-checked."""

    model_config = ConfigDict(frozen=True)

    comune: Slug
    directory: str
    settings: ComuneSettings
    hosts: dict[str, Host]
    vault_files: tuple[str, ...] = ()
    origins: dict[str, str] = Field(
        default_factory=dict, description="comune setting -> file that defines it"
    )
    kind: Literal["comune"] = "comune"

    @model_validator(mode="after")
    def _cross_checks(self) -> Inventory:
        if self.settings.comune_slug != self.comune:
            slug = self.settings.comune_slug
            raise ValueError(f"comune_slug {slug!r} does not match directory {self.comune!r}")
        return self

    def group(self, name: str) -> list[Host]:
        """Hosts in a group, in name order."""
        return sorted((h for h in self.hosts.values() if name in h.groups), key=lambda h: h.name)


def netgear_problems(host: Host) -> list[tuple[str, str]]:
    """(field, message) for each problem of a host in group ``network_devices``; empty when sound.

    Values may also come from ``group_vars/network_devices/`` (not read here): whatever the host
    sets is checked; what is missing everywhere is caught by the role's input check.
    """
    if "network_devices" not in host.groups:
        return []
    found: list[tuple[str, str]] = []
    device_type = host.variables.get("netgear_device_type")
    role = host.variables.get("netgear_role", "edge_nat")
    if device_type is not None and device_type not in DEVICE_TYPES:
        choices = ", ".join(DEVICE_TYPES)
        found.append(("netgear_device_type", f"{device_type!r} is not one of {choices}"))
    if role not in NETGEAR_ROLES:
        found.append(("netgear_role", f"{role!r} is not one of {', '.join(NETGEAR_ROLES)}"))
    elif role == "vpn_concentrator" and device_type in {"cisco_ios", "fortinet"}:
        found.append(
            ("netgear_role", "vpn_concentrator needs netgear_device_type mikrotik_routeros")
        )
    password = host.variables.get("netgear_password")
    # A !vault value is a str subclass; a plain str without a template is a password in clear.
    if type(password) is str and "{{" not in password:
        found.append(
            (
                "netgear_password",
                "must come from the vault ('{{ vault_... }}' or !vault), not plain text",
            )
        )
    return found
