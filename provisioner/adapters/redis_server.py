"""A private Redis for the job queue on one machine: Debian's ``redis-server`` with the project's
own configuration, for the tests, the benchmarks and trying the queue (production: README).

It listens on 127.0.0.1 only, keeps nothing on disk, and lets in one ACL user whose password
comes from a file (mode 0600); the server's ACL file holds its SHA-256, never the password, and
no command line carries either.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from provisioner.adapters.files import atomic_write
from provisioner.errors import ControllerError

BINARY = "redis-server"
USER = "provisioner"
"""The ACL user of provisioner's controllers and workers (the default user is off)."""
# RQ's keys and channels (rq:*) and provisioner's (provisioner:*); no admin command
# (CONFIG, FLUSHALL, DEBUG, KEYS, MONITOR, ...: @dangerous).
ACL_RULES = "resetchannels &rq:* resetkeys ~rq:* ~provisioner:* +@all -@dangerous"
_CONF = """\
bind 127.0.0.1
port {port}
protected-mode yes
daemonize no
dir {directory}
logfile {directory}/redis.log
# A queue of runs: nothing worth keeping across a restart of this private server.
save ""
appendonly no
aclfile {directory}/users.acl
maxmemory-policy noeviction
"""


def acl(password: str) -> str:
    """The ACL file: the default user off, provisioner's user known by its password's hash."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return f"user default off\nuser {USER} on #{digest} {ACL_RULES}\n"


@dataclass
class LocalRedis:
    """A running private Redis."""

    directory: Path
    port: int
    password_file: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """Its URL for ``redis_url`` (the user name, never the password)."""
        return f"redis://{USER}@127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        """A connection as provisioner's user."""
        return Redis(
            host="127.0.0.1",
            port=self.port,
            username=USER,
            password=self.password_file.read_text(encoding="utf-8").strip(),
        )

    def stop(self) -> None:
        """Stop the server (nothing on disk to keep)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(directory: Path, port: int, password_file: Path | None = None) -> LocalRedis:
    """Start a private Redis on 127.0.0.1:``port`` with its files in ``directory``.

    The password is read from ``password_file`` (made with a random password if missing;
    default ``<directory>/password``).

    Raises:
        ControllerError: redis-server is not installed or did not answer (its log is named).
    """
    binary = shutil.which(BINARY) or "/usr/bin/redis-server"
    if not Path(binary).is_file():
        raise ControllerError("redis-server is not installed (run `make setup`)")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = password_file or directory / "password"
    if not secret.is_file():
        atomic_write(secret, secrets.token_urlsafe(24) + "\n", mode=0o600)
    password = secret.read_text(encoding="utf-8").strip()
    atomic_write(directory / "users.acl", acl(password), mode=0o600)
    conf = directory / "redis.conf"
    atomic_write(conf, _CONF.format(port=port, directory=directory), mode=0o600)
    process = subprocess.Popen(  # redis-server reads everything from its configuration file
        [binary, str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = LocalRedis(directory, port, secret, process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(RedisError):
            if server.client().ping():
                return server
        time.sleep(0.1)
    server.stop()
    raise ControllerError(
        f"redis-server did not answer on 127.0.0.1:{port}; see {directory / 'redis.log'}"
    )
