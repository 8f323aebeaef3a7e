"""One device, one netmiko session: read, compare, push the remediation, roll back on rejection."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.gear import (
    PLATFORMS,
    GearPlatform,
    Remediation,
    remediate,
    render_intended,
    rollback,
    routeros,
)


@dataclass(frozen=True)
class Login:
    """Where and how to log in (the password is never part of any result)."""

    device_type: str
    host: str
    port: int
    username: str
    password: str
    timeout: float = 30
    session_log: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What happened on the device."""

    changed: bool
    commands: tuple[str, ...]
    diff: str
    failed: bool = False
    msg: str = ""
    device_error: str = ""
    rollback: tuple[str, ...] = ()
    restored: bool = False


class GearError(Exception):
    """The device could not be reached, logged into, or read."""


def _connect(login: Login, platform: GearPlatform) -> Any:
    from netmiko import ConnectHandler  # noqa: PLC0415 - heavy import, only when a device is used
    from netmiko.exceptions import (  # noqa: PLC0415
        NetmikoAuthenticationException,
        NetmikoTimeoutException,
    )

    where = f"{login.host}:{login.port}"
    try:
        return ConnectHandler(
            device_type=login.device_type,
            host=login.host,
            port=login.port,
            username=login.username,
            password=login.password,
            conn_timeout=login.timeout,
            auth_timeout=login.timeout,
            banner_timeout=login.timeout,
            read_timeout_override=login.timeout,
            session_log=login.session_log,
            allow_auto_change=False,
            **dict(platform.connect_options),
        )
    except NetmikoAuthenticationException:
        raise GearError(f"{where}: authentication failed for user {login.username!r}") from None
    except NetmikoTimeoutException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "timed out"
        raise GearError(f"{where}: cannot connect ({first})") from None
    except (OSError, EOFError, ValueError) as exc:
        raise GearError(f"{where}: {type(exc).__name__}: {exc or 'connection lost'}") from None


def _read(conn: Any, platform: GearPlatform) -> str:
    return "\n".join(str(conn.send_command(cmd)) for cmd in platform.read_commands) + "\n"


def _push(conn: Any, platform: GearPlatform, commands: tuple[str, ...]) -> str:
    """Send commands; return the device's error line ('' when all were accepted)."""
    from netmiko.exceptions import ConfigInvalidException  # noqa: PLC0415

    if not commands:
        return ""
    try:
        conn.send_config_set(list(commands), error_pattern=platform.error_pattern)
    except ConfigInvalidException as exc:
        conn.exit_config_mode()
        for line in platform.abort_commands:
            conn.send_command_timing(line)
        return str(exc).split("matched error: ", 1)[-1].strip()
    return ""


def _kept_peers(device_type: str, intent: Mapping[str, Any], tag: str) -> set[str]:
    """Comments of the peers to leave as they are (endpoints without a key in this run)."""
    if device_type != "mikrotik_routeros":
        return set()
    names = (intent.get("wireguard") or {}).get("keep_peers") or []
    return {f"{tag}:peer:{name}" for name in names}


def converge(login: Login, intent: Mapping[str, Any], tag: str, *, check: bool) -> Outcome:
    """Bring the tool's part of a device to the intent.

    Check mode reads and compares only. Otherwise the remediation is pushed; if the device rejects
    a line, the remediation from the now-running configuration back to the one read before the
    push is applied, so the device ends as it was.

    Raises:
        GearError: the device could not be reached, logged into or read.
    """
    platform = PLATFORMS[login.device_type]
    intended = render_intended(login.device_type, intent)
    conn = _connect(login, platform)
    try:
        before = _read(conn, platform)
        keep = _kept_peers(login.device_type, intent, tag)
        if keep:
            intended = routeros.carry_over(before, intended, tag, keep)
        plan: Remediation = remediate(login.device_type, before, intended, tag)
        diff = "\n".join(plan.commands)
        if check or not plan.changed:
            return Outcome(changed=plan.changed, commands=plan.commands, diff=diff)
        error = _push(conn, platform, plan.commands)
        if not error:
            if platform.save:
                conn.save_config()
            return Outcome(changed=True, commands=plan.commands, diff=diff)
        now = _read(conn, platform)
        back = rollback(login.device_type, now, before, plan.commands, tag)
        rollback_error = _push(conn, platform, back)
        after = _read(conn, platform)
        restored = platform.scoped(after, tag) == platform.scoped(before, tag)
        state = (
            "the configuration is as before the run"
            if restored
            else f"ROLLBACK INCOMPLETE ({rollback_error or 'configuration differs'})"
        )
        return Outcome(
            changed=bool(back) and not restored,
            commands=plan.commands,
            diff=diff,
            failed=True,
            msg=f"device rejected the change: {error}; rolled back, {state}",
            device_error=error,
            rollback=back,
            restored=restored,
        )
    except (OSError, EOFError) as exc:
        raise GearError(f"{login.host}:{login.port}: connection lost: {exc}") from None
    finally:
        # A session already gone has nothing left to close.
        with contextlib.suppress(OSError, EOFError):
            conn.disconnect()
