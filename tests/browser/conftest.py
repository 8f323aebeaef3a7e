"""A console on a synthetic provider (3 comuni, a week of history) and a real Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests import console_browser, synthetic

PASSWORD = "a long console password"
USERS = {
    "admin": ("--role", "admin", "--all-comuni"),
    "tecla": ("--role", "technician", "--all-comuni"),
    "hugo": ("--role", "helpdesk", "--comune", "comune-001"),
    "paola": ("--role", "viewer", "--all-comuni"),
}


@dataclass(frozen=True)
class Site:
    """The running console and where its state lives."""

    url: str
    state_dir: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`provisioner serve` on 127.0.0.1 with its users, for the module's tests."""
    base = tmp_path_factory.mktemp("console")
    tree = synthetic.inventory(base / "inventory", 3, 6)
    synthetic.history(base / "state", tree, days=7)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")},
        "PROVISIONER_STATE_DIR": str(base / "state"),
        "PROVISIONER_INVENTORY_DIR": str(base / "inventory"),
        "XDG_CONFIG_HOME": str(base / "config"),
        "ANSIBLE_CONFIG": str(console_browser.ROOT / "ansible.cfg"),
    }
    for name, grant in USERS.items():
        console_browser.add_user(env, name, PASSWORD, *grant)
    with console_browser.serve(env, base / "serve.log") as console:
        yield Site(console.url, base / "state")


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    """A fresh Chromium per test; its last page is kept as a screenshot."""
    with console_browser.chromium() as driver:
        yield driver
        console_browser.screenshot(driver, f"{request.node.name}-end")
