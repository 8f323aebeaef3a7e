"""One device, one netmiko session: trust its host key, read, compare, push all or nothing.

The device's SSH host key is checked against a known_hosts file before anything else: an unknown
or changed key ends the connection during the key exchange, before the password is sent. The
push itself uses the vendor's own safety net (:mod:`provisioner.gear.atomic`): a rejected line or
a connection lost halfway leaves the device as it was before the run, restored in the same run
when the device can be reached again, or by the device itself otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.gear import (
    PLATFORMS,
    GearPlatform,
    Remediation,
    remediate,
    render_intended,
    routeros,
)
from provisioner.gear.atomic import ATOMIC, Rejected
from provisioner.gear.errors import ConflictError, GearError, HostKeyError

__all__ = ["GearError", "Login", "Outcome", "Status", "converge", "status"]


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
    known_hosts: str | None = None
    """The known_hosts file holding the device's key (default: the user's ~/.ssh/known_hosts)."""
    name: str = ""
    """The device's inventory name, for messages."""

    @property
    def who(self) -> str:
        """How messages name the device: ``name at host:port``."""
        where = f"{self.host}:{self.port}"
        return f"{self.name} at {where}" if self.name else where


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
    wireguard_public_key: str = ""


@dataclass(frozen=True)
class Status:
    """What a RouterOS concentrator reports: its key and its peers' last handshakes."""

    wireguard_public_key: str
    handshakes: dict[str, int | None] = field(default_factory=dict)
    """Public key -> seconds since its last handshake (None: never)."""
    peers: tuple[dict[str, Any], ...] = ()


def _known_hosts(login: Login) -> Path:
    path = Path(login.known_hosts or Path.home() / ".ssh" / "known_hosts").expanduser()
    if not path.is_file():
        raise HostKeyError(
            f"{login.who}: known_hosts file {path} does not exist; record the device's host key "
            "first (ssh-keyscan, checked against the key the device shows on its console)"
        )
    return path


def _host_key_problem(login: Login, known: Path, exc: BaseException) -> str:
    import paramiko  # type: ignore[import-untyped]  # noqa: PLC0415

    cause = exc.__context__
    if isinstance(cause, paramiko.BadHostKeyException):
        return (
            f"{login.who}: HOST KEY CHANGED - the device offered {cause.key.get_name()} "
            f"{cause.key.fingerprint}, {known} records {cause.expected_key.fingerprint}; "
            "refused before logging in (no password sent). If the device was replaced, check "
            f"its key on its console and update {known}"
        )
    if isinstance(cause, paramiko.SSHException) and "not found in known_hosts" in str(cause):
        return (
            f"{login.who}: its host key is not in {known}; refused before logging in (no "
            "password sent). Record it after checking it against the device's console"
        )
    return ""


def _connect(login: Login, platform: GearPlatform) -> Any:
    from netmiko import ConnectHandler  # noqa: PLC0415 - heavy import, only when a device is used
    from netmiko.exceptions import (  # noqa: PLC0415
        NetmikoAuthenticationException,
        NetmikoTimeoutException,
    )

    known = _known_hosts(login)
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
            # Strict: only the key recorded for this host:port is accepted.
            ssh_strict=True,
            system_host_keys=False,
            alt_host_keys=True,
            alt_key_file=str(known),
            **dict(platform.connect_options),
        )
    except NetmikoAuthenticationException:
        raise GearError(f"{login.who}: authentication failed for user {login.username!r}") from None
    except NetmikoTimeoutException as exc:
        problem = _host_key_problem(login, known, exc)
        if problem:
            raise HostKeyError(problem) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "timed out"
        raise GearError(f"{login.who}: cannot connect ({first})") from None
    except (OSError, EOFError, ValueError) as exc:
        raise GearError(f"{login.who}: {type(exc).__name__}: {exc or 'connection lost'}") from None


def _drop(conn: Any) -> None:
    """Close the connection without logging out: an unfinished push must not be kept.

    netmiko's disconnect() types the vendor's exit command first - on RouterOS ``/quit``, which
    keeps what safe mode holds. Closing the SSH transport is what a lost connection looks like.
    """
    with contextlib.suppress(Exception):
        conn.remote_conn_pre.close()


def _read(conn: Any, platform: GearPlatform) -> str:
    return "\n".join(str(conn.send_command(cmd)) for cmd in platform.read_commands) + "\n"


def _kept_peers(device_type: str, intent: Mapping[str, Any], tag: str) -> set[str]:
    """Comments of the peers to leave as they are (endpoints without a key in this run)."""
    if device_type != "mikrotik_routeros":
        return set()
    names = (intent.get("wireguard") or {}).get("keep_peers") or []
    return {f"{tag}:peer:{name}" for name in names}


def _batches(commands: tuple[str, ...], size: int | None) -> Iterator[list[str]]:
    step = size or len(commands) or 1
    for start in range(0, len(commands), step):
        yield list(commands[start : start + step])


def _lost_errors() -> tuple[type[BaseException], ...]:
    import paramiko  # noqa: PLC0415
    from netmiko.exceptions import ReadException  # noqa: PLC0415

    return (OSError, EOFError, ReadException, paramiko.SSHException)


def _wireguard_key(conn: Any, tag: str) -> str:
    rows = routeros.parse_print(str(conn.send_command(routeros.interface_key_command(tag))))
    return rows[0].get("public-key", "") if rows else ""


class _Session:
    """A connection to one device that may be lost and opened again."""

    def __init__(self, login: Login) -> None:
        self.login = login
        self.platform = PLATFORMS[login.device_type]
        self.conn: Any = _connect(login, self.platform)

    def reopen(self) -> None:
        _drop(self.conn)
        self.conn = _connect(self.login, self.platform)

    def read(self) -> str:
        return _read(self.conn, self.platform)

    def close(self) -> None:
        with contextlib.suppress(*_lost_errors()):
            self.conn.disconnect()


def converge(login: Login, intent: Mapping[str, Any], tag: str, *, check: bool) -> Outcome:
    """Bring the tool's part of a device to the intent, all or nothing.

    Check mode reads and compares only. Otherwise the remediation is pushed inside the vendor's
    safety net and kept only when every line was accepted; a rejected line or a lost connection
    puts the device back as it was, and the outcome says whether that was verified.

    Raises:
        IntentError: the intent is malformed (nothing was contacted).
        HostKeyError: the device's host key is unknown or changed (no password was sent).
        ConflictError: the device cannot take the push now (a lock, a foreign ACL).
        GearError: the device could not be reached, logged into or read.
    """
    intended = render_intended(login.device_type, intent)  # validates before any connection
    concentrator = intent.get("role") == "vpn_concentrator"
    session = _Session(login)
    clean = False
    try:
        before = session.read()
        keep = _kept_peers(login.device_type, intent, tag)
        if keep:
            intended = routeros.carry_over(before, intended, tag, keep)
        plan: Remediation = remediate(login.device_type, before, intended, tag)
        diff = "\n".join(plan.commands)
        if check or not plan.changed:
            key = _wireguard_key(session.conn, tag) if concentrator else ""
            clean = True
            return Outcome(plan.changed, plan.commands, diff, wireguard_public_key=key)
        outcome = _push(session, plan, before, intended, tag)
        if not outcome.failed and concentrator:
            key = _wireguard_key(session.conn, tag)
            outcome = dataclasses.replace(outcome, wireguard_public_key=key)
        clean = not outcome.failed or outcome.restored
        return outcome
    except ConflictError as exc:
        clean = True
        raise ConflictError(f"{login.who}: {exc}") from None
    except _lost_errors() as exc:
        raise GearError(f"{login.who}: connection lost: {exc}") from None
    finally:
        if clean:
            session.close()
        else:
            _drop(session.conn)


def _push(session: _Session, plan: Remediation, before: str, intended: str, tag: str) -> Outcome:
    login, platform = session.login, session.platform
    atomic = ATOMIC[login.device_type]
    diff = "\n".join(plan.commands)
    atomic.preflight(session.conn, before)
    start = before
    batches = list(_batches(plan.commands, atomic.batch))
    for number, batch in enumerate(batches, start=1):
        # What a failed batch is restored to: the run's start, or the end of the batch before.
        since = (
            "before the run"
            if number == 1
            else (f"before batch {number} of {len(batches)} (the {number - 1} before it are kept)")
        )
        try:
            atomic.send(session.conn, batch, platform.error_pattern)
            atomic.commit(session.conn)
        except Rejected as rejected:
            undo, usable = atomic.undo(session.conn)
            if not usable:
                session.reopen()
            why = f"device rejected the change: {rejected.message}"
            if login.device_type == "fortinet":
                why += (
                    " (objects still locked by an interrupted push's transaction are free again "
                    "when FortiOS discards it at its 1-minute idle timeout)"
                )
            return _restored(session, plan, (start, since), tag, undo, why, rejected.message)
        except _lost_errors() as exc:
            _drop(session.conn)
            try:
                session.reopen()
                undo = atomic.recover(session.conn)
            except GearError as again:
                return Outcome(
                    changed=True,
                    commands=plan.commands,
                    diff=diff,
                    failed=True,
                    msg=(
                        f"connection lost mid-push ({type(exc).__name__}) and the device cannot "
                        f"be reached again ({again}); {_self_restore(login.device_type)}"
                    ),
                )
            why = f"connection lost mid-push ({type(exc).__name__})"
            return _restored(session, plan, (start, since), tag, undo, why, "")
        start = session.read()
    after = start
    left = remediate(login.device_type, after, intended, tag)
    if left.changed:
        return Outcome(
            changed=True,
            commands=plan.commands,
            diff=diff,
            failed=True,
            msg="the push was accepted but the device does not hold the intended configuration; "
            "still to do: " + " | ".join(left.commands),
        )
    return Outcome(changed=True, commands=plan.commands, diff=diff)


def _self_restore(device_type: str) -> str:
    return {
        "mikrotik_routeros": "RouterOS undoes a safe-mode session's changes when it notices the "
        "session is gone (at most its 9-minute TCP timeout)",
        "cisco_ios": "IOS puts the archived configuration back when the 1-minute revert timer "
        "runs out",
        "fortinet": "FortiOS never applied the uncommitted transaction and discards it at its "
        "1-minute idle timeout",
    }[device_type]


def _restored(
    session: _Session,
    plan: Remediation,
    start: tuple[str, str],
    tag: str,
    undo: list[str],
    why: str,
    error: str,
) -> Outcome:
    """Check the device is back where the batch started; the outcome of a failed push."""
    platform = session.platform
    config, since = start
    after = session.read()
    restored = platform.managed_part(after, tag) == platform.managed_part(config, tag)
    state = (
        f"the configuration is as {since}"
        if restored
        else f"ROLLBACK INCOMPLETE (the configuration differs from {since})"
    )
    return Outcome(
        changed=not restored,
        commands=plan.commands,
        diff="\n".join(plan.commands),
        failed=True,
        msg=f"{why}; rolled back ({ATOMIC[session.login.device_type].name}), {state}",
        device_error=error,
        rollback=tuple(undo),
        restored=restored,
    )


def status(login: Login, tag: str, interface: str) -> Status:
    """Read-only: a RouterOS concentrator's WireGuard public key and its peers' handshakes.

    Raises:
        GearError: not a RouterOS device, or it could not be reached or read.
    """
    if login.device_type != "mikrotik_routeros":
        raise GearError(f"{login.who}: only a RouterOS concentrator reports WireGuard peers")
    session = _Session(login)
    try:
        key = _wireguard_key(session.conn, tag)
        rows = routeros.parse_print(
            str(session.conn.send_command(routeros.peers_command(interface)))
        )
    except _lost_errors() as exc:
        raise GearError(f"{login.who}: connection lost: {exc}") from None
    finally:
        session.close()
    handshakes: dict[str, int | None] = {}
    peers = []
    for row in rows:
        age = routeros.parse_duration(row["last-handshake"]) if row.get("last-handshake") else None
        handshakes[row.get("public-key", "")] = age
        name = row.get("comment", "").removeprefix(f"{tag}:peer:")
        peers.append(
            {
                "name": name,
                "public_key": row.get("public-key", ""),
                "allowed_address": row.get("allowed-address", ""),
                "last_handshake": age,
            }
        )
    return Status(key, handshakes, tuple(peers))
