"""The console in a real browser: `provisioner serve` in a subprocess, Debian's Chromium driven by
Selenium through Debian's chromedriver (nothing downloaded), screenshots kept as artifacts.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "provisioner"
ARTIFACTS = ROOT / ".artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# A closed network: Chromium must not try to reach the internet (LAB_NOTES); root needs
# --no-sandbox.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--no-first-run",
    "--window-size=1400,1000",
)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Console:
    """A running `provisioner serve`."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def add_user(env: dict[str, str], name: str, password: str, *grant: str) -> None:
    """`provisioner users add` with the password on stdin."""
    done = subprocess.run(
        [str(CLI), "users", "add", name, *grant],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[Console]:
    """`provisioner serve` on a free port of 127.0.0.1 until the block ends (SIGTERM)."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CLI), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/login", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"console did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield Console(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def chromium() -> Iterator[WebDriver]:
    """Headless Chromium through chromedriver, both from Debian."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    # Selenium Manager stays idle: the driver's path is given and it may not go online.
    os.environ.setdefault("SE_OFFLINE", "true")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> Path:
    """Save the page as ``.artifacts/browser/<name>.png`` (kept after the test)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    driver.save_screenshot(str(path))
    return path


def log_in(driver: WebDriver, url: str, name: str, password: str) -> None:
    """Fill in and send the login form (logging out first, if someone is logged in)."""
    driver.get(url + "/login")
    if not driver.find_elements(By.ID, "username"):
        click_and_load(driver, By.CSS_SELECTOR, "form.who button")
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    click_and_load(driver, By.ID, "login")


def click_and_load(driver: WebDriver, by: str, value: str, seconds: float = 60) -> None:
    """Click what submits a form or follows a link, and wait until the next page replaced this
    one.

    The old page is marked on its ``window`` (every new document has a window of its own), not
    watched through an element handle: Chromium's driver may answer a handle of a page being
    replaced with "Node with given id does not belong to the document", which Selenium's
    ``staleness_of`` does not take for stale (seen once in CI).
    """
    driver.execute_script("window.__provisionerOldPage = true;")
    driver.find_element(by, value).click()
    WebDriverWait(
        driver, seconds, poll_frequency=0.1, ignored_exceptions=(WebDriverException,)
    ).until(
        lambda d: d.execute_script(
            "return window.__provisionerOldPage === undefined"
            ' && document.readyState === "complete";'
        )
    )


def wait_for(driver: WebDriver, seconds: float, css: str) -> None:
    """Until an element matching ``css`` is on the page."""
    WebDriverWait(driver, seconds, poll_frequency=0.2).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, css)
    )


def text(driver: WebDriver, css: str = "body") -> str:
    """The visible text of the first element matching ``css``."""
    return str(driver.find_element(By.CSS_SELECTOR, css).text)
