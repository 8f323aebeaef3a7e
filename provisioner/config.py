"""Settings: config file, then environment, then command-line flags (last wins)."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provisioner.errors import InputError

CONTENT_DIR = Path(__file__).resolve().parent.parent
"""Repository root holding playbooks/, roles/, inventory/, lab/ and ansible.cfg."""

ENV_PREFIX = "PROVISIONER_"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def default_state_dir() -> Path:
    """$XDG_STATE_HOME/provisioner (~/.local/state/provisioner)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "provisioner"


def default_config_dir() -> Path:
    """$XDG_CONFIG_HOME/provisioner (~/.config/provisioner)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "provisioner"


@dataclass(frozen=True)
class StateLayout:
    """Where everything lives in the state directory: the one place that knows its layout."""

    root: Path

    @property
    def history_db(self) -> Path:
        """SQLite run history."""
        return self.root / "history.sqlite3"

    def runs(self, comune: str) -> Path:
        """Run directories of one comune."""
        return self.root / "runs" / comune

    def run_dir(self, comune: str, run_id: str) -> Path:
        """The private_data_dir of one run."""
        return self.runs(comune) / run_id

    @property
    def locks(self) -> Path:
        """Per-comune and per-schedule lock files."""
        return self.root / "locks"

    def lock_file(self, name: str) -> Path:
        """The lock file of a comune or a schedule."""
        return self.locks / f"{name}.lock"

    @property
    def reports(self) -> Path:
        """HTML/JSON/JUnit reports, per comune and run (unless --report-dir says otherwise)."""
        return self.root / "reports"

    @property
    def facts(self) -> Path:
        """Root of the per-comune jsonfile fact caches."""
        return self.root / "facts"

    @property
    def host_index(self) -> Path:
        """Host names per comune (a cache of the inventory's hosts files)."""
        return self.root / "host-index.json"

    @property
    def lab(self) -> Path:
        """The lab's SSH key, known_hosts, CA, device server files."""
        return self.root / "lab"

    @property
    def logs(self) -> Path:
        """Logs with the details of unexpected errors."""
        return self.root / "logs"

    @property
    def worker_jobs(self) -> Path:
        """A queue worker's private data dirs of the jobs it runs (removed when each ends)."""
        return self.root / "worker"


class Settings(BaseModel):
    """Where things live and how runs behave; validated once at the edge."""

    # Errors never repeat a value: some settings are credentials (the webhook URL).
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    content_dir: Path = CONTENT_DIR
    inventory_dir: Path = CONTENT_DIR / "inventory"
    state_dir: Path = Field(default_factory=default_state_dir)
    config_dir: Path = Field(default_factory=default_config_dir)
    keep_runs: int = Field(default=20, ge=1, description="run directories kept per comune")
    keep_history_runs: int = Field(
        default=1000, ge=1, description="history rows (runs with their hosts and tasks) per comune"
    )
    keep_history_days: float = Field(default=400, gt=0, description="history rows older go")
    keep_reports: int = Field(default=60, ge=1, description="report directories per comune")
    keep_reports_days: float = Field(default=90, gt=0, description="report directories older go")
    executor: Literal["local", "queue"] = Field(
        default="local",
        description="how runs execute: local (ansible-runner on this machine) or queue "
        "(one RQ job per comune run, executed by `provisioner worker` processes through Redis)",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        pattern=r"^rediss?://",
        description="Redis of the job queue (rediss:// for TLS; a user name may be in it, "
        "the password never: redis_password_file or PROVISIONER_REDIS_PASSWORD)",
    )
    redis_password_file: Path | None = None
    redis_ca_file: Path | None = Field(
        default=None, description="CA that signed the Redis server's certificate (rediss://)"
    )
    queue_checks: str = Field(
        default="provisioner-checks",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="queue of read-only runs (comply, --check, presence): retried once",
    )
    queue_changes: str = Field(
        default="provisioner-changes",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="queue of runs that change hosts (enable, remediate, helpdesk): never "
        "re-run by the queue; workers take these first",
    )
    queue_wait: int = Field(
        default=3600, ge=1, description="seconds a job may wait for a free worker"
    )
    queue_job_timeout: int = Field(
        default=4 * 3600, ge=60, description="seconds one run may take on a worker"
    )
    accel: bool = Field(
        default=True,
        description="Mitogen acceleration when installed and compatible (false: plain Ansible)",
    )
    vault_password_file: Path | None = None
    vpn_address_plan: ipaddress.IPv4Network = Field(
        # 10.64.0.0/12 in /24 pools: 4,096 comuni (a provider runs ~800; Veneto alone has 560).
        default=ipaddress.IPv4Network("10.64.0.0/12"),
        description="provider's block that every comune's VPN pool is carved from",
    )
    vpn_pool_prefix: int = Field(default=24, ge=8, le=30, description="size of one comune's pool")
    provider_domain: str = Field(
        default="comuni.example.it", description="default DNS zone for new comuni's endpoints"
    )
    istat_file: Path | None = Field(
        default=None, description="ISTAT 'Elenco comuni italiani' CSV for new-comune"
    )
    notify_webhook_url: str | None = Field(default=None, repr=False)
    """POSTed a JSON document when a comply run finds drift or failures (docs: README). A
    credential for many chat services: never logged, never shown; https (http only to this
    machine)."""
    notify_webhook_secret_file: Path | None = Field(
        default=None, description="file holding the webhook's HMAC secret (else the environment)"
    )
    notify_webhook_timeout: float = Field(default=10.0, gt=0)
    notify_webhook_retries: int = Field(default=3, ge=0, le=10)
    notify_webhook_backoff: float = Field(default=2.0, ge=0)
    notify_email_to: list[str] = Field(default_factory=list)
    notify_email_from: str = "provisioner@localhost"
    notify_smtp_host: str = "localhost"
    notify_smtp_port: int = Field(default=25, ge=1, le=65535)
    console_bind: str = Field(
        default="127.0.0.1",
        description="address `provisioner serve` listens on (another than loopback needs TLS)",
    )
    console_port: int = Field(default=8080, ge=1, le=65535)
    console_tls_cert: Path | None = Field(default=None, description="PEM certificate (chain)")
    console_tls_key: Path | None = Field(default=None, description="PEM private key")
    console_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host names the console answers to besides the bind address and localhost",
    )
    console_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="reverse proxies whose X-Forwarded-For names the client (audit source)",
    )
    console_session_idle: int = Field(
        default=1800, ge=60, description="seconds a session lives without a request"
    )
    console_session_max: int = Field(
        default=12 * 3600, ge=300, description="seconds a session lives at most"
    )
    console_max_jobs: int = Field(
        default=2, ge=1, le=16, description="runs the console executes at once (others queue)"
    )
    notify_smtp_security: Literal["auto", "starttls", "tls", "none"] = Field(
        default="auto",
        description="starttls, tls (implicit, port 465), none (only to this machine); auto: none "
        "to this machine, else starttls",
    )
    notify_smtp_user: str | None = Field(default=None, description="SMTP login (with a password)")
    notify_smtp_password_file: Path | None = Field(
        default=None, description="file holding the SMTP password (else the environment)"
    )

    @field_validator("notify_webhook_url")
    @classmethod
    def _webhook_is_https(cls, value: str | None) -> str | None:
        # The message never repeats the URL: it is a credential.
        if value:
            problem = webhook_url_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("redis_url")
    @classmethod
    def _no_password_in_url(cls, value: str) -> str:
        if urlsplit(value).password is not None:
            raise ValueError(
                "carries a password: a URL ends up in process lists and logs; put the password "
                "in redis_password_file or PROVISIONER_REDIS_PASSWORD"
            )
        return value

    @property
    def ansible_cfg(self) -> Path:
        """The project's ansible.cfg, used by every run."""
        return self.content_dir / "ansible.cfg"

    @property
    def state(self) -> StateLayout:
        """The layout of the state directory."""
        return StateLayout(self.state_dir)

    @property
    def fact_cache_dir(self) -> Path:
        """Root of the per-comune fact caches (jsonfile), kept in the state dir."""
        return self.state.facts

    @property
    def playbooks_dir(self) -> Path:
        """Directory of the playbooks the use cases run."""
        return self.content_dir / "playbooks"

    @property
    def default_vault_password_file(self) -> Path:
        """Vault password file used when nothing else names one."""
        return self.config_dir / "vault-password"

    def comune_dir(self, comune: str) -> Path:
        """Inventory directory of one comune."""
        return self.inventory_dir / comune


_ENV_KEYS = {
    "inventory_dir": "INVENTORY_DIR",
    "state_dir": "STATE_DIR",
    "keep_runs": "KEEP_RUNS",
    "keep_history_runs": "KEEP_HISTORY_RUNS",
    "keep_history_days": "KEEP_HISTORY_DAYS",
    "keep_reports": "KEEP_REPORTS",
    "keep_reports_days": "KEEP_REPORTS_DAYS",
    "accel": "ACCEL",
    "executor": "EXECUTOR",
    "vault_password_file": "VAULT_PASSWORD_FILE",
    "content_dir": "CONTENT_DIR",
    "vpn_address_plan": "VPN_ADDRESS_PLAN",
    "vpn_pool_prefix": "VPN_POOL_PREFIX",
    "provider_domain": "PROVIDER_DOMAIN",
    "istat_file": "ISTAT_FILE",
    "notify_webhook_url": "NOTIFY_WEBHOOK_URL",
    "console_bind": "CONSOLE_BIND",
    "console_port": "CONSOLE_PORT",
    "console_tls_cert": "CONSOLE_TLS_CERT",
    "console_tls_key": "CONSOLE_TLS_KEY",
    "notify_webhook_secret_file": "NOTIFY_WEBHOOK_SECRET_FILE",
    "notify_smtp_password_file": "NOTIFY_SMTP_PASSWORD_FILE",
    "redis_url": "REDIS_URL",
    "redis_password_file": "REDIS_PASSWORD_FILE",
    "redis_ca_file": "REDIS_CA_FILE",
}


def is_loopback(host: str) -> bool:
    """``localhost`` or an address of 127.0.0.0/8 or ::1: this machine."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def webhook_url_problem(url: str) -> str:
    """Why a webhook URL is refused ("" when fine): https, or http to this machine only.

    The message never repeats the URL: it is a credential.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and host:
        return ""
    if parts.scheme == "http" and is_loopback(host):
        return ""
    return "must be https:// (http:// only to this machine: 127.0.0.1, ::1, localhost)"


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build settings from the config file, the environment and flag overrides.

    Args:
        config_file: TOML file; defaults to $XDG_CONFIG_HOME/provisioner/config.toml if present.
        overrides: values from command-line flags; ``None`` values are ignored.

    Raises:
        InputError: the config file or a value is invalid (the message names it).
    """
    values: dict[str, Any] = {}
    path = config_file or (default_config_dir() / "config.toml")
    origin = {}
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"{path}: cannot read config: {exc}") from exc
        origin = dict.fromkeys(values, str(path))
    elif config_file is not None:
        raise InputError(f"{config_file}: config file not found")
    for key, suffix in _ENV_KEYS.items():
        env_value = os.environ.get(ENV_PREFIX + suffix)
        if env_value:
            values[key] = env_value
            origin[key] = f"environment {ENV_PREFIX}{suffix}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
            origin[key] = f"option --{key.replace('_', '-')}"
    if "content_dir" in values and "inventory_dir" not in values:
        values["inventory_dir"] = Path(values["content_dir"]) / "inventory"
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "?"
        where = origin.get(key, str(path))
        raise InputError(f"{where}: {key}: {err['msg']}") from exc
