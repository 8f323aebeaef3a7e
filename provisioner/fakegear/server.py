"""FakeNOS's paramiko SSH server, with each device's own host key, its CLI and injected faults.

FakeNOS serves every host with one built-in RSA key and a line-buffered tap; a device here has
its own Ed25519 host key (recorded in a known_hosts file by the lab), records the user names of
password attempts (so a test can prove a refused host key sent no password), reacts to control
keys at once as a real console does (RouterOS safe mode is Ctrl-X), and can lose a connection
abruptly in the middle of a push. FakeNOS's listener, thread handling, shell loop and tap for the
output are used as they are.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from typing import Any

import paramiko  # type: ignore[import-untyped]
from fakenos.plugins.servers.ssh_server_paramiko import (  # type: ignore[import-untyped]
    ParamikoSshServer,
    ParamikoSshServerInterface,
    TapIO,
    shell_to_channel_tap,
)
from fakenos.plugins.shell.cmd_shell import CMDShell  # type: ignore[import-untyped]

from provisioner.fakegear.base import FakeDevice, Session

log = logging.getLogger(__name__)

CONTROL_KEYS = (b"\x03", b"\x04", b"\x18")
"""Ctrl-C, Ctrl-D, Ctrl-X: a console acts on them when pressed, without waiting for Enter."""


class GearShell(CMDShell):  # type: ignore[misc]
    """FakeNOS shell whose every line goes to the session's stateful device."""

    def __init__(self, *args: Any, session: Session, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device: FakeDevice = self.nos.device
        self.session = session
        self.prompt = self.device.prompt(self.session)
        self.stopping = False

    def stop(self) -> None:
        """The client is gone (watchdog or end of input): whatever the CLI mode, the shell ends."""
        self.stopping = True
        super().stop()

    def onecmd(self, line: str) -> bool:
        """Every line, including ``exit``/``help``, is the device's to interpret."""
        if line == "EOF" or self.stopping or not self.is_running.is_set():
            return True
        output = self.device.handle(self.session, line)
        if self.session.cut:
            # The connection dies after the device applied the line, before the client hears
            # anything back: the worst moment for a push.
            if self.session.drop is not None:
                self.session.drop()
            return True
        if output:
            self.writeline(output)
        self.prompt = self.device.prompt(self.session)
        return self.session.closed


class _Auth(ParamikoSshServerInterface):  # type: ignore[misc]
    """Password check that records who tried (never the password)."""

    def __init__(self, device: FakeDevice, username: str, password: str) -> None:
        super().__init__(username=username, password=password)
        self.device = device

    def check_auth_password(self, username: str, password: str) -> int:
        self.device.auth_attempts.append(username)
        return int(super().check_auth_password(username, password))


def _channel_to_shell_tap(
    channel_stdio: Any, shell: GearShell, shell_replied: threading.Event, run_srv: threading.Event
) -> None:
    """Bytes from the client to lines for the shell.

    Unlike FakeNOS's tap: no 10 ms pause per byte (a 150-character line took 1.5 s), control keys
    go to the device at once, and the end of the client's input stops the shell at once (a real
    device notices a closed TCP connection immediately; a silent loss only at its TCP timeout).
    """
    buffer = io.BytesIO()
    while run_srv.is_set():
        byte: bytes = channel_stdio.read(1)
        shell_replied.wait(10)
        if byte == b"" or not channel_stdio.channel.active:
            shell.stop()
            break
        try:
            # Control keys act at once; so does the answer to a one-key question (RouterOS's
            # "Hijacking Safe Mode ... [u/r/d]").
            one_key = shell.session.vendor.get("hijack") and byte.isalpha()
            if (byte in CONTROL_KEYS or one_key) and not buffer.getvalue():
                shell.stdin.write(byte.decode() + "\n")
                shell_replied.clear()
            elif byte in (b"\r", b"\n"):
                channel_stdio.write(b"\r\n")
                buffer.write(byte)
                line = buffer.getvalue().decode("utf-8", errors="replace")
                buffer.seek(0)
                buffer.truncate()
                shell.stdin.write(line)
                shell_replied.clear()
            else:
                channel_stdio.write(byte)
                if byte != b"\x00":
                    buffer.write(byte)
        except (OSError, EOFError):
            shell.stop()
            break


class GearSshServer(ParamikoSshServer):  # type: ignore[misc]
    """One device's SSH service: its host key, its shell, its session faults."""

    def connection_function(self, client: socket.socket, is_running: threading.Event) -> None:
        """Serve one TCP connection until the client leaves or the connection is cut."""
        device: FakeDevice = self.nos.device
        run_srv = threading.Event()
        run_srv.set()
        shell_replied = threading.Event()
        transport = paramiko.Transport(client)
        with self._active_sessions_lock:
            self._active_sessions.add(transport)
        helpers: list[threading.Thread] = []
        session = Session(drop=transport.close)
        shell: GearShell | None = None
        try:
            transport.add_server_key(device.host_key)
            try:
                transport.start_server(server=_Auth(device, self.username, self.password))
            except (paramiko.SSHException, EOFError, OSError):
                return  # the client refused our host key or went away during key exchange
            channel = self._accept(transport, is_running)
            if channel is None:
                return  # authentication failed or no shell was asked for
            channel_stdio = channel.makefile("rw")
            stdin, stdout = TapIO(run_srv), TapIO(run_srv)
            shell = GearShell(
                stdin=stdin,
                stdout=stdout,
                nos=self.nos,
                nos_inventory_config=self.nos_inventory_config,
                is_running=is_running,
                session=session,
                **self.shell_configuration,
            )
            for target, args in (
                (_channel_to_shell_tap, (channel_stdio, shell, shell_replied, run_srv)),
                (shell_to_channel_tap, (channel_stdio, stdout, shell_replied, run_srv)),
                (self._watch, (is_running, run_srv, transport, shell)),
            ):
                thread = threading.Thread(target=target, args=args, daemon=True)
                thread.start()
                helpers.append(thread)
            shell.start()
        finally:
            run_srv.clear()
            if shell is not None and session.cut and device.silent_loss:
                device.lingering.append(session)
            elif shell is not None:
                device.session_ended(session)
            transport.close()
            with self._active_sessions_lock:
                self._active_sessions.discard(transport)
            for thread in helpers:
                thread.join(timeout=1)

    def _watch(
        self,
        is_running: threading.Event,
        run_srv: threading.Event,
        transport: paramiko.Transport,
        shell: GearShell,
    ) -> None:
        """Stop the shell when the server stops or the transport dies (FakeNOS's watchdog)."""
        while run_srv.is_set():
            if not transport.is_active() or not is_running.is_set():
                shell.stop()
                return
            time.sleep(0.2)

    @staticmethod
    def _accept(transport: paramiko.Transport, is_running: threading.Event) -> Any:
        """The session channel, or None once the client left (e.g. after a failed login)."""
        deadline = time.monotonic() + 30
        while transport.is_active() and is_running.is_set() and time.monotonic() < deadline:
            channel = transport.accept(timeout=0.2)
            if channel is not None:
                return channel
        return None
