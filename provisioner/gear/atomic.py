"""All-or-nothing pushes with what each vendor offers, over an open netmiko connection.

A push opens the vendor's own safety net, sends the remediation, and closes it:

- RouterOS: **safe mode** (Ctrl-X). Changes apply at once; Ctrl-X again keeps them. A rejected
  line: Ctrl-D, which logs out and undoes them. A lost connection: RouterOS undoes them itself when
  it notices the session is gone (at once on a closed TCP connection, at its 9-minute TCP timeout
  on a silent loss); the same run reconnects and unrolls them at once by taking safe mode over
  ("Hijacking Safe Mode ... [u/r/d]": u). Safe mode's history holds 100 actions, so a push is
  sent in batches of at most 100 commands, each all or nothing.
- Cisco IOS: **Configuration Rollback Confirmed Change**. ``configure terminal revert timer 1``
  archives the running configuration; ``configure confirm`` keeps the change; a rejected line or
  a lost connection: ``configure revert now`` (from a new session if need be) puts the archive
  back; with no session at all the device does so when the minute is over. Needs ``archive`` /
  ``path`` on the device; a revert timer already pending (an interrupted push, or another
  administrator's unconfirmed change) is left alone and the device refused for this run.
- FortiOS: **workspace mode** (``execute config-transaction start``). Nothing applies until
  ``execute config-transaction commit``; a rejected line: ``abort``; a lost connection: the
  transaction never applied, FortiOS discards it at its idle timeout (1 minute here), until then
  its objects stay locked for other sessions.

Each strategy also knows how to notice, on the way in, what an interrupted push left behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from provisioner.gear.errors import ConflictError

REVERT_MINUTES = 1
TRANSACTION_MINUTES = 1


@dataclass(frozen=True)
class Rejected(Exception):  # noqa: N818 - a device's verdict, not a program error
    """The device refused a line: its message."""

    message: str


class Atomic(Protocol):
    """One vendor's way of making a push all or nothing."""

    name: ClassVar[str]
    batch: ClassVar[int | None]

    def preflight(self, conn: Any, running: str) -> None:
        """Refuse (ConflictError) when the device cannot take an all-or-nothing push now."""

    def send(self, conn: Any, commands: list[str], error_pattern: str) -> None:
        """Open the safety net and send ``commands``; Rejected on a refused line."""

    def commit(self, conn: Any) -> None:
        """Keep what was sent."""

    def undo(self, conn: Any) -> tuple[list[str], bool]:
        """After a rejected line: put everything back; (what was sent, connection still usable)."""

    def recover(self, conn: Any) -> list[str]:
        """On a new connection after a lost one: put back what the lost session applied."""


def _send_config(conn: Any, commands: list[str], error_pattern: str, **options: Any) -> None:
    from netmiko.exceptions import ConfigInvalidException  # noqa: PLC0415 - heavy import

    try:
        conn.send_config_set(commands, error_pattern=error_pattern, **options)
    except ConfigInvalidException as exc:
        raise Rejected(str(exc).split("matched error: ", 1)[-1].strip()) from None


class RouterOsSafeMode:
    """RouterOS safe mode (Ctrl-X take / Ctrl-X release / Ctrl-D undo and leave)."""

    name: ClassVar[str] = "safe mode"
    batch: ClassVar[int | None] = 100
    _TAKEN = r"\[Safe Mode taken\]|Hijacking Safe Mode"

    def preflight(self, conn: Any, running: str) -> None:
        """Nothing to check before: safe mode is taken at the start of each batch."""

    def _take(self, conn: Any, hijack_answer: str) -> str:
        conn.write_channel("\x18")
        output = str(conn.read_until_pattern(pattern=self._TAKEN))
        if "Hijacking" in output:
            conn.write_channel(hijack_answer)
            output += str(conn.read_until_pattern(pattern=r"\] (?:<SAFE>|>)"))
        else:
            output += str(conn.read_until_pattern(pattern=r"<SAFE>"))
        return output

    def send(self, conn: Any, commands: list[str], error_pattern: str) -> None:
        output = self._take(conn, "d")
        if "Safe Mode taken" not in output:
            raise ConflictError(
                "another session holds RouterOS safe mode (an administrator at work, or a push "
                "of ours whose connection died: RouterOS undoes it when its TCP session times "
                "out, 9 minutes at most); run again later"
            )
        _send_config(conn, commands, error_pattern)

    def commit(self, conn: Any) -> None:
        conn.write_channel("\x18")
        conn.read_until_pattern(pattern=r"\[Safe Mode released")
        conn.read_until_pattern(pattern=r"\] >")

    def undo(self, conn: Any) -> tuple[list[str], bool]:
        conn.write_channel("\x04")  # Ctrl-D in safe mode: log out and undo
        return ["Ctrl-D (safe mode: undo and log out)"], False

    def recover(self, conn: Any) -> list[str]:
        # The lost session may still hold safe mode (RouterOS has not noticed yet): take it over
        # and unroll it; it is ours, lost moments ago. Then release an empty safe mode.
        output = self._take(conn, "u")
        self.commit(conn)
        if "Hijacking" in output:
            return ["Ctrl-X", "u (unroll the lost session's changes)", "Ctrl-X"]
        return ["Ctrl-X", "Ctrl-X (nothing left to unroll)"]


class IosConfirmedChange:
    """IOS ``configure terminal revert timer``, ``configure confirm``, ``configure revert now``."""

    name: ClassVar[str] = "configure terminal revert timer"
    batch: ClassVar[int | None] = None

    def preflight(self, conn: Any, running: str) -> None:
        if not re.search(r"^archive\n(?: .*\n)*? path \S+", running + "\n", flags=re.M):
            raise ConflictError(
                "the device has no configuration archive ('archive' / ' path flash:archive'), "
                "which IOS needs to revert an unconfirmed change: configure it once"
            )
        pending = str(conn.send_command("show archive config rollback timer"))
        if "No Rollback" not in pending and re.search(r"Time|Timer", pending):
            raise ConflictError(
                "a configuration revert timer is pending on the device (an interrupted push, or "
                "another administrator's unconfirmed change); IOS puts the archived "
                "configuration back when it runs out: run again after that"
            )

    def send(self, conn: Any, commands: list[str], error_pattern: str) -> None:
        _send_config(
            conn,
            commands,
            error_pattern,
            config_mode_command=f"configure terminal revert timer {REVERT_MINUTES}",
        )

    def commit(self, conn: Any) -> None:
        conn.send_command("configure confirm")
        conn.save_config()

    def undo(self, conn: Any) -> tuple[list[str], bool]:
        conn.exit_config_mode()
        conn.send_command("configure revert now")
        return ["end", "configure revert now"], True

    def recover(self, conn: Any) -> list[str]:
        conn.send_command("configure revert now")
        return ["configure revert now"]


class FortiOsTransaction:
    """FortiOS workspace mode: ``execute config-transaction start|commit|abort``."""

    name: ClassVar[str] = "config-transaction"
    batch: ClassVar[int | None] = None

    def preflight(self, conn: Any, running: str) -> None:
        """Nothing to check before: a lock held by a lost transaction shows as a refused line."""

    def send(self, conn: Any, commands: list[str], error_pattern: str) -> None:
        output = str(conn.send_command(f"execute config-transaction start {TRANSACTION_MINUTES}"))
        if re.search(error_pattern, output, flags=re.M):
            raise ConflictError(f"FortiOS refused a config transaction: {output.strip()}")
        _send_config(conn, commands, error_pattern)

    def commit(self, conn: Any) -> None:
        output = str(conn.send_command("execute config-transaction commit"))
        if "Command fail" in output:
            raise Rejected(output.strip())

    def undo(self, conn: Any) -> tuple[list[str], bool]:
        conn.send_command_timing("end")
        conn.send_command("execute config-transaction abort")
        return ["end", "execute config-transaction abort"], True

    def recover(self, conn: Any) -> list[str]:
        # The lost transaction was never committed: nothing of it is applied.
        return []


ATOMIC: dict[str, Atomic] = {
    "mikrotik_routeros": RouterOsSafeMode(),
    "cisco_ios": IosConfirmedChange(),
    "fortinet": FortiOsTransaction(),
}
"""The all-or-nothing strategy of each device type."""
