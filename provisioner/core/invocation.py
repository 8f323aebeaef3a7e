"""Who starts a run, from where, with which command line: recorded with every run."""

from __future__ import annotations

import os
import pwd
import shlex
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from provisioner.adapters.redaction import redact
from provisioner.models.history import Invocation


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command line (program name without its path), secrets masked."""
    args = list(sys.argv if argv is None else argv)
    if args:
        args[0] = Path(args[0]).name
    return redact(shlex.join(args))


def origin(env: Mapping[str, str] | None = None, tty: str | None = None) -> str:
    """Where the command came from: an SSH client's address, a terminal, systemd, or none."""
    env = os.environ if env is None else env
    if env.get("SSH_CLIENT"):
        return f"ssh from {env['SSH_CLIENT'].split()[0]}"
    if tty is None:
        try:
            tty = os.ttyname(sys.stdin.fileno())
        except (OSError, ValueError, AttributeError):
            tty = ""
    if tty:
        return f"tty {tty}"
    if env.get("INVOCATION_ID"):
        return "systemd"
    return "no terminal"


def os_user(env: Mapping[str, str] | None = None) -> str:
    """This process's user; under sudo, who ran sudo too."""
    env = os.environ if env is None else env
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    sudo = env.get("SUDO_USER")
    return f"{user} (sudo from {sudo})" if sudo and sudo != user else user


def current(console_user: str | None = None) -> Invocation:
    """This process's invocation (the console will pass its own user)."""
    return Invocation(
        user=os_user(),
        host=socket.gethostname(),
        origin=origin(),
        command=command_line(),
        console_user=console_user,
    )
