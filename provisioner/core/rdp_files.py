"""Per-user ``.rdp`` connection files: the user's fixed listener on the comune's RD gateway."""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from pathlib import Path

from provisioner.models.inventory import ComuneSettings, RdpUser

FOLDER = "rdp"
"""Sub-folder of the run directory that receives the files."""


def render(gateway: ipaddress.IPv4Address, user: RdpUser) -> str:
    """The ``.rdp`` text of one user (CRLF, as mstsc writes it).

    The FreeRDP proxy is not a Microsoft RD Gateway (no RDG/TSGU protocol): the file points the
    client straight at the user's listener on it, which always leads to the user's desktop.
    NLA is off because it works at neither hop through the proxy (TLS protects both).
    """
    lines = [
        f"full address:s:{gateway}:{user.port}",
        f"username:s:{user.name}",
        "prompt for credentials:i:1",
        "enablecredsspsupport:i:0",
        "authentication level:i:2",
        "negotiate security layer:i:1",
        "screen mode id:i:2",
        "use multimon:i:0",
        "redirectclipboard:i:1",
        "redirectprinters:i:0",
        "redirectdrives:i:0",
        "audiomode:i:0",
        "autoreconnection enabled:i:1",
        "gatewayusagemethod:i:0",
    ]
    return "\r\n".join(lines) + "\r\n"


def write(settings: ComuneSettings, run_dir: Path) -> list[Path]:
    """Write one ``<user>.rdp`` per mapped user into ``run_dir/rdp``; all of them or none.

    Args:
        settings: The comune's validated settings (users, gateway address).
        run_dir: The run's output folder.

    Returns:
        The files written, in user order (empty when the comune maps no user).
    """
    gateway = settings.comune_rd_gateway_address
    if not settings.comune_rdp_users or gateway is None:
        return []
    target = run_dir / FOLDER
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-", dir=run_dir))
    try:
        for user in settings.comune_rdp_users:
            path = staging / f"{user.name}.rdp"
            path.write_bytes(render(gateway, user).encode("ascii"))
            path.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / f"{u.name}.rdp" for u in settings.comune_rdp_users]
