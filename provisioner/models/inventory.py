"""A comune's inventory as typed, validated models."""

from __future__ import annotations

import ipaddress
import re
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

GROUPS: tuple[str, ...] = ("endpoints", "office_desktops", "vpn_gateways", "rd_gateways", "netgear")
"""The groups a comune inventory may use at top level (children of ``all``)."""

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"


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
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
OptionalSha256 = Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{64})?$")]
# A Debian package name, or a winget id on Windows (e.g. Jitsi.Meet).
PackageName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9+._-]+$")]
MeetingMode = Literal["browser", "package"]
MeetingBrowser = Literal["chromium", "firefox-esr"]
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
    comune_office_networks: list[ipaddress.IPv4Network] = Field(min_length=1)
    comune_meeting_url: HttpsUrl
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
    comune_dns_servers: list[ipaddress.IPv4Address] = Field(default_factory=list)
    comune_vpn_allowed_services: list[AllowedService] = Field(default_factory=list)
    comune_vpn_readiness_service: str = Field(
        default="", description="name of the allowed service the readiness check connects to"
    )

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
    source: str = Field(description="file the host is defined in")
    origins: dict[str, str] = Field(
        default_factory=dict, description="typed field -> file that sets it (host_vars)"
    )
    variables: dict[str, Any] = Field(default_factory=dict)

    @property
    def address(self) -> str:
        """Where Ansible connects (``ansible_host`` or the name)."""
        return self.ansible_host or self.name


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
