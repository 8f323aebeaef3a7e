"""Enrolment bundles: a device the tool never manages (Windows, macOS, a phone, a personal PC) gets
its tunnel, its desktop and the meeting in one sealed file.

``create`` checks everything first (user, desktop, name, expiry, pool, output file): bad input
writes nothing and adds no peer. Then, under the comune's lock, the device enters the inventory
(group ``bundles``: public key, address, user, dates; never the private key) and a run limited
to the peer holders adds its peer, as the helpdesk's runs do; the terminator publishes its public
key in that run. Only then is the bundle sealed and written, once: the private key was made in
memory on the controller and exists nowhere but inside the sealed page.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
import json
import threading
from pathlib import Path

import jinja2
from pydantic import TypeAdapter, ValidationError

from provisioner.adapters import sealing
from provisioner.adapters.files import atomic_write
from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import InventoryWriter, quoted, remove_host
from provisioner.config import Settings
from provisioner.core import presence, rdp_files, vpn
from provisioner.core.enable import PLAYBOOK
from provisioner.core.runs import executor, history, run_playbook
from provisioner.core.secrets import require_vault_password
from provisioner.errors import ExitCode, InputError
from provisioner.models.bundle import BundleCreated, BundleFile, BundleList, BundleRevoked
from provisioner.models.inventory import (
    BUNDLES,
    ComuneSettings,
    Host,
    HostName,
    Inventory,
    RdpUser,
)
from provisioner.models.run import PlaybookRequest, Probe, RunReport
from provisioner.names import did_you_mean
from provisioner.ports import EventSink, Executor

USE_CASE = "bundle"
REVOKE = "bundle-revoke"
PUBLIC_KEY_PROBE = "public key"
"""The terminator's ``Presence: public key`` task (roles vpn_gateway and netgear, of groups
vpn_gateways and network_devices)."""
INSTRUCTIONS = "istruzioni.html"
"""The one-page instruction sheet inside the bundle (printable; its body shows in the page)."""
KEEPALIVE = 25
"""Seconds: a device behind NAT keeps its tunnel open (and its handshakes fresh)."""
_HOST_NAME: TypeAdapter[str] = TypeAdapter(HostName)
_NOTE = (
    "a bundle's device: its peer on the VPN terminator (written by `provisioner bundle create`; "
    "the private key is only in the bundle)"
)


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("provisioner", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def tunnel_name(comune: str) -> str:
    """The tunnel's name, from the ``.conf`` file's name: at most 15 characters, as Linux and
    the WireGuard apps want it (``vpn-castelnuovo``)."""
    return f"vpn-{comune}"[:15].rstrip("-")


def wireguard_conf(
    settings: ComuneSettings,
    *,
    name: str,
    user: str,
    private_key: str,
    address: ipaddress.IPv4Address,
    gateway_key: str,
    expires: datetime.date | None,
) -> str:
    """The device's WireGuard configuration, as the official apps import it (file or QR code).

    Split tunnel: only the office networks go through it; DNS when the comune names servers;
    a keepalive for devices behind NAT.
    """
    validity = f", valid through {expires.isoformat()}" if expires else ""
    lines = [
        "[Interface]",
        # ASCII only (the slug, not the comune's name): every app reads it, the QR code too.
        f"# {settings.comune_slug}: {name} ({user}){validity}",
        f"PrivateKey = {private_key}",
        f"Address = {address}/32",
    ]
    if settings.comune_dns_servers:
        lines.append("DNS = " + ", ".join(str(a) for a in settings.comune_dns_servers))
    lines += [
        "",
        "[Peer]",
        f"PublicKey = {gateway_key}",
        f"Endpoint = {settings.comune_vpn_public_endpoint}",
        "AllowedIPs = " + ", ".join(str(n) for n in settings.comune_office_networks),
        f"PersistentKeepalive = {KEEPALIVE}",
    ]
    return "\n".join(lines) + "\n"


def _user(settings: ComuneSettings, user: str, desktop: str | None) -> RdpUser:
    """The comune's user (comune_rdp_users) and the desktop their .rdp file leads to.

    Raises:
        InputError: unknown user, or a desktop not mapped to that user.
    """
    users = {u.name: u for u in settings.comune_rdp_users}
    found = users.get(user)
    if found is None:
        hint = did_you_mean(user, users)
        known = ", ".join(sorted(users)) or "none"
        raise InputError(
            f"--user: {user!r} is not a user of comune {settings.comune_slug!r} "
            f"(comune_rdp_users: {known}){hint}"
        )
    if desktop is not None and desktop != found.desktop:
        raise InputError(
            f"--desktop: {desktop!r} is not mapped to user {user!r}, whose desktop is "
            f"{found.desktop!r} (comune_rdp_users); the RD gateway leads each user to their own"
        )
    return found


def _name(inventory: Inventory, retired: set[str], user: str, name: str | None) -> str:
    """The device's inventory name: the one asked for, or ``bundle-<user>[-N]``.

    Raises:
        InputError: the name is revoked, a managed host's, or already has a bundle.
    """
    if name is None:
        name = f"bundle-{user.replace('_', '-').replace('.', '-')}".lower()
        base, n = name, 1
        while name in inventory.hosts or name in retired:
            n += 1
            name = f"{base}-{n}"
        return name
    try:
        _HOST_NAME.validate_python(name)
    except ValidationError:
        raise InputError(
            f"--name: {name!r} is not a valid host name (letters, digits, '-' and '.')"
        ) from None
    host = inventory.hosts.get(name)
    if name in retired:
        raise InputError(
            f"--name: {name!r} was revoked or retired in comune {inventory.comune!r}; a name is "
            "never given twice (its history stays with it): choose another"
        )
    if host is not None and not host.is_bundle:
        raise InputError(
            f"--name: {name!r} is a managed host of comune {inventory.comune!r} "
            f"({', '.join(host.groups)}): choose another"
        )
    if host is not None and host.issued:
        raise InputError(
            f"--name: {name!r} already has a bundle (issued {host.bundle_created}); revoke it "
            f"first (`provisioner bundle revoke {inventory.comune} {name}`)"
        )
    return name


def _probe(report: RunReport, host: str | None, check: str) -> Probe | None:
    return next(
        (p for p in report.outcome.probes if p.host == host and p.check == check and p.ok), None
    )


def create(
    settings: Settings,
    comune: str,
    user: str,
    *,
    name: str | None = None,
    desktop: str | None = None,
    expires: datetime.date | None = None,
    output_dir: Path | None = None,
    today: datetime.date | None = None,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
) -> BundleCreated:
    """Issue an enrolment bundle for ``user`` of ``comune``.

    Raises:
        InputError: unknown user or comune, a desktop not mapped to the user, a revoked or taken
            name, an expiry in the past, an output file that exists, no managed terminator.
        InventoryError: the comune's inventory is invalid, or its pool is full.
    """
    day = today or datetime.date.today()
    source = YamlDirectorySource(settings.inventory_dir)
    inventory = source.load(comune)
    comune_settings = inventory.settings
    rdp_user = _user(comune_settings, user, desktop)
    if expires is not None and expires < day:
        raise InputError(f"--expires: {expires.isoformat()} is in the past (today is {day})")
    retired = {r.host for r in history(settings).retired(comune)}
    device = _name(inventory, retired, user, name)
    holders = vpn.peer_holders(inventory)
    terminator = vpn.terminator(inventory)
    if not holders or terminator is None:
        raise InputError(
            f"comune {comune!r}: its VPN terminator {comune_settings.comune_vpn_terminator!r} is "
            "not a host of the inventory: no peer can be added"
        )
    vpn.check(inventory, source.vpn_pools(exclude=comune))
    address = vpn.free_address(inventory, device, day)
    target = (output_dir or Path.cwd()) / f"bundle-{comune}-{device}.html"
    if target.exists():
        raise InputError(f"{target}: exists; a bundle is written once (move it, or use --output)")
    if not target.parent.is_dir():
        raise InputError(f"--output: {target.parent} is not a directory")
    keys = sealing.wireguard_keypair()
    recorded: list[bool] = []
    created: list[Path] = []

    def record() -> list[str]:
        """Under the comune's lock: the device and its address, from the inventory as it is now."""
        nonlocal address
        fresh = source.load(comune)
        _name(fresh, retired, user, device)
        address = vpn.free_address(fresh, device, day)
        writer = InventoryWriter(settings.comune_dir(comune))
        writer.set_host(device, BUNDLES, {})
        # Quoted: a user or host called "no" or "null" stays a string for every YAML reader.
        values: dict[str, object] = {
            vpn.ADDRESS_VAR: str(address),
            "bundle_user": quoted(user),
            "bundle_desktop": quoted(rdp_user.desktop),
            "bundle_public_key": quoted(keys.public),
            "bundle_created": quoted(_now().isoformat(timespec="seconds")),
        }
        if expires is not None:
            values["bundle_expires"] = quoted(expires.isoformat())
        path = writer.set_host_vars(device, values, _NOTE)
        created.extend(p for p in writer.pending() if not p.exists())
        writer.commit()
        recorded.append(True)
        return [f"{device}: bundle device for {user}, VPN address {address}, recorded in {path}"]

    # The RD gateways too: each user's listener answers only that user's tunnel addresses,
    # this bundle's among them from this run on (roles/rd_gateway, filter rdp_listeners).
    updated = [*holders, *_rd_gateways(inventory, holders)]
    request = PlaybookRequest(
        use_case=USE_CASE,
        comune=comune,
        playbook=PLAYBOOK,
        inventory=settings.comune_dir(comune),
        limit=",".join(updated),
        extravars={"provisioner_peer_only": updated},
    )

    def undo() -> str:
        if recorded:
            remove_host(settings.comune_dir(comune), device)
            # A hosts file this bundle started (bundles.yml) goes too, when it holds no host.
            for path in created:
                if path.is_file() and not InventoryWriter(path.parent).hosts_of(path):
                    path.unlink()
        return (
            f"nothing issued: {device} left the inventory again; a peer a holder may have "
            "added is removed by the comune's next run"
        )

    try:
        report = run_playbook(
            settings,
            request,
            inventory,
            on_event=on_event,
            cancel=cancel,
            runner=runner,
            prepare=record,
        )
    except BaseException:
        undo()
        raise
    failed = BundleCreated(comune, device, user, str(address), report)
    if report.exit_code != ExitCode.OK:
        return _with_note(failed, undo())
    probe = _probe(report, terminator, PUBLIC_KEY_PROBE)
    gateway_key = probe.lines[0].strip() if probe and probe.lines else ""
    if not gateway_key:
        return _with_note(
            failed, f"{terminator} published no WireGuard public key in the run; " + undo()
        )
    phrase = sealing.passphrase()
    files, notes = _files(
        comune_settings,
        device=device,
        rdp_user=rdp_user,
        conf=wireguard_conf(
            comune_settings,
            name=device,
            user=user,
            private_key=keys.private,
            address=address,
            gateway_key=gateway_key,
            expires=expires,
        ),
        expires=expires,
    )
    atomic_write(
        target, _sealed_page(comune_settings, device, user, expires, files, phrase), mode=0o600
    )
    return BundleCreated(
        comune,
        device,
        user,
        str(address),
        report,
        path=target,
        passphrase=phrase,
        files=tuple(f.name for f in files),
        notes=(*report.notes, *notes),
    )


def _with_note(failed: BundleCreated, note: str) -> BundleCreated:
    return dataclasses.replace(failed, notes=(*failed.report.notes, note))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _files(
    settings: ComuneSettings,
    *,
    device: str,
    rdp_user: RdpUser,
    conf: str,
    expires: datetime.date | None,
) -> tuple[list[BundleFile], list[str]]:
    """The bundle's files and notes for the technician (what the bundle cannot carry)."""
    tunnel = tunnel_name(settings.comune_slug)
    files = [
        BundleFile(f"{tunnel}.conf", "text/plain", conf.encode("ascii")),
        BundleFile(f"{tunnel}-qr.png", "image/png", sealing.qr_png(conf)),
    ]
    notes: list[str] = []
    gateway = settings.comune_rd_gateway_address
    if gateway is not None:
        files.append(
            BundleFile(
                f"{rdp_user.name}.rdp",
                "application/x-rdp",
                rdp_files.render(gateway, rdp_user).encode("ascii"),
            )
        )
    ca = settings.comune_rd_gateway_ca_certificate.strip()
    if ca:
        files.append(
            BundleFile(
                f"ca-{settings.comune_slug}.crt",
                "application/x-x509-ca-cert",
                (ca + "\n").encode("ascii"),
            )
        )
    elif gateway is not None:
        notes.append(
            "the RD gateway's certificate cannot be verified by the user's client (no "
            "comune_rd_gateway_ca_certificate): it will ask to accept an unknown certificate"
        )
    page = _templates().get_template("bundle_instructions.html.j2")
    context = {
        "s": settings,
        "device": device,
        "user": rdp_user.name,
        "expires": expires,
        "tunnel": tunnel,
        "files": [*(f.name for f in files), INSTRUCTIONS],
        "rdp": f"{rdp_user.name}.rdp" if gateway is not None else "",
        "ca": f"ca-{settings.comune_slug}.crt" if ca else "",
        "qr_src": "data:image/png;base64," + base64.b64encode(files[1].data).decode("ascii"),
        "gateway": f"{gateway}:{rdp_user.port}" if gateway is not None else "",
    }
    files.append(
        BundleFile(
            INSTRUCTIONS,
            "text/html",
            page.render(**context, standalone=True).encode("utf-8"),
        )
    )
    return files, notes


def _sealed_page(
    settings: ComuneSettings,
    device: str,
    user: str,
    expires: datetime.date | None,
    files: list[BundleFile],
    phrase: str,
) -> str:
    """The bundle: one HTML page that opens in any browser with the passphrase (WebCrypto)."""
    instructions = next(f for f in files if f.name == INSTRUCTIONS)
    payload = {
        "html": _fragment(instructions.data.decode("utf-8")),
        "files": [
            {"name": f.name, "type": f.media_type, "data": base64.b64encode(f.data).decode()}
            for f in files
        ],
    }
    box = sealing.seal(json.dumps(payload).encode("utf-8"), phrase)
    return (
        _templates()
        .get_template("bundle.html.j2")
        .render(
            s=settings,
            device=device,
            user=user,
            expires=expires,
            # Base64 and numbers only: safe inside <script type="application/json">.
            sealed=json.dumps(box.as_dict()),
        )
    )


def _fragment(page: str) -> str:
    """The instructions' body (between the markers), shown inside the opened bundle page."""
    start, end = "<!-- istruzioni -->", "<!-- /istruzioni -->"
    return page[page.index(start) + len(start) : page.index(end)]


def list_bundles(
    settings: Settings,
    comune: str,
    *,
    refresh: bool = True,
    today: datetime.date | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
) -> BundleList:
    """The comune's bundles' devices: user, address, created, expires, state and last seen.

    With ``refresh``, the terminator's peers are read now (a read-only run: a Linux gateway's
    ``wg show``, a RouterOS device's peer table); otherwise, or when it cannot be read, last
    seen is what history remembers.
    """
    inventory = YamlDirectorySource(settings.inventory_dir).load(comune)
    terminator = inventory.settings.comune_vpn_terminator
    if refresh and any(h.issued for h in inventory.group(BUNDLES)):
        reading = presence.read(
            settings,
            inventory,
            runner or executor(settings),
            vault_password=require_vault_password(settings, inventory),
            cancel=cancel,
        )
    else:
        reading = presence.Presence(terminator, 0.0, error="--no-refresh")
    note = reading.error or reading.down
    reading = presence.recalled(settings, inventory, reading)
    statuses = presence.bundle_statuses(inventory, reading, today or datetime.date.today())
    return BundleList(comune, terminator, statuses, note)


def revoke(
    settings: Settings,
    comune: str,
    name: str,
    *,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
) -> BundleRevoked:
    """Remove a bundle's peer from every holder, then the device from the inventory.

    The inventory is edited, the name marked retired (never given again) and the address freed
    only after the run succeeded; a failed run leaves everything as it was. A device that never
    had a bundle (an imported row) just leaves the inventory.

    Raises:
        InputError: unknown comune or name, or a host that is not a bundle's device.
    """
    inventory = YamlDirectorySource(settings.inventory_dir).load(comune)
    host = _bundle_host(inventory, name)
    address = str(host.vpn_client_address) if host.vpn_client_address else None
    report: RunReport | None = None
    holders = vpn.peer_holders(inventory)
    # The RD gateways' listeners too: the revoked address leaves its user's listener.
    updated = [*holders, *_rd_gateways(inventory, holders)]
    if host.issued and holders:
        request = PlaybookRequest(
            use_case=REVOKE,
            comune=comune,
            playbook=PLAYBOOK,
            inventory=settings.comune_dir(comune),
            limit=",".join(updated),
            extravars={
                "provisioner_peer_only": updated,
                "provisioner_retired": [name],
            },
        )
        report = run_playbook(
            settings, request, inventory, on_event=on_event, cancel=cancel, runner=runner
        )
        if report.exit_code != ExitCode.OK:
            return BundleRevoked(comune, name, address, report, removed=False)
    remove_host(settings.comune_dir(comune), name)
    if host.issued:
        history(settings).retire(comune, name, address, report.run_id if report else None)
    return BundleRevoked(comune, name, address, report, removed=True)


def _bundle_host(inventory: Inventory, name: str) -> Host:
    host = inventory.hosts.get(name)
    if host is None:
        bundles = [h.name for h in inventory.group(BUNDLES)]
        hint = did_you_mean(name, bundles)
        raise InputError(
            f"{name!r} is no bundle's device of comune {inventory.comune!r} "
            f"(bundles: {', '.join(bundles) or 'none'}){hint}"
        )
    if not host.is_bundle:
        raise InputError(
            f"{name!r} is a managed host of comune {inventory.comune!r} "
            f"({', '.join(host.groups)}), not a bundle's device: see `provisioner decommission`"
        )
    return host


def _rd_gateways(inventory: Inventory, holders: list[str]) -> list[str]:
    """The comune's RD gateways not among the peer holders: their per-user listeners follow the
    bundles issued and revoked (only their listeners change; no baseline, no other role)."""
    return [h.name for h in inventory.group("rd_gateways") if h.name not in holders]
