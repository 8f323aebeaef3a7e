"""The web console against the real lab, in real Chromium: a change made by hand shows on the
drift page after a comply started from the page, then the helpdesk reprovisions the laptop from
the page, watching its live progress and the result, and the change is undone.

Runs on the converged lab (fixture `converged_lab`) and leaves it converged. Screenshots go to
.artifacts/browser/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from provisioner.adapters.history import History
from provisioner.config import Settings, StateLayout
from provisioner.core import audit
from tests.console_browser import (
    Console,
    add_user,
    chromium,
    click_and_load,
    log_in,
    screenshot,
    serve,
    text,
    wait_for,
)
from tests.integration.conftest import LabEnv

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]

LAPTOP = "laptop-02"
ADMIN_KEYS = "/home/provadmin/.ssh/authorized_keys"
KEYS_TASK = "Install the admin's SSH public keys"
PASSWORD = "a long console password"
RUN_MINUTES = 15 * 60


@pytest.fixture(scope="module")
def console(converged_lab: LabEnv) -> Iterator[Console]:
    """The lab converged, two console users of comune lab, `provisioner serve` on its state."""
    lab = converged_lab
    env = {k: v for k, v in lab.env.items() if k != "COLUMNS"}
    add_user(env, "tecla", PASSWORD, "--role", "technician", "--comune", "lab")
    add_user(env, "hugo", PASSWORD, "--role", "helpdesk", "--comune", "lab")
    with serve(env, lab.state_dir / "console.log") as running:
        yield running


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Chromium; its last page is kept as a screenshot (the evidence when something failed)."""
    with chromium() as driver:
        yield driver
        screenshot(driver, "lab-console-end")


def test_a_change_by_hand_shows_on_the_drift_page_and_reprovision_undoes_it(
    lab: LabEnv, console: Console, browser: WebDriver
) -> None:
    assert lab.podman("exec", f"prov-lab-{LAPTOP}", "rm", "-f", ADMIN_KEYS).returncode == 0

    # the technician checks the comune from its page
    log_in(browser, console.url, "tecla", PASSWORD)
    browser.get(console.url + "/comuni/lab")
    click_and_load(browser, By.ID, "comply")
    wait_for(browser, 120, "#events li.task")
    screenshot(browser, "lab-comply-progress")
    wait_for(browser, RUN_MINUTES, "#result-title")
    assert "exit 7" in text(browser, "#result-title"), text(browser, "#result")
    click_and_load(browser, By.ID, "drift-link")
    rows = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")[:3]]
        for row in browser.find_elements(By.CSS_SELECTOR, "#drift tbody tr")
    ]
    assert [LAPTOP, "baseline", KEYS_TASK] in rows
    screenshot(browser, "lab-drift")

    # the helpdesk finds the laptop and reprovisions it from the page
    log_in(browser, console.url, "hugo", PASSWORD)
    browser.get(console.url + "/hosts")
    browser.find_element(By.ID, "q").send_keys(LAPTOP)
    click_and_load(browser, By.ID, "search")
    click_and_load(browser, By.ID, "reprovision")
    # progress arrives while the run goes on, not only at its end: tasks, then hosts' results
    wait_for(browser, 120, "#events li.task")
    wait_for(browser, 120, "#progress-hosts tbody tr")
    assert text(browser, "#job-state") == "running"
    screenshot(browser, "lab-reprovision-progress")
    wait_for(browser, RUN_MINUTES, "#result-title")
    screenshot(browser, "lab-reprovision-result")
    assert "exit 0" in text(browser, "#result-title"), text(browser, "#result")
    roles = {
        cells[0].text: (cells[1].text, cells[2].text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#roles tbody tr")
        if (cells := row.find_elements(By.TAG_NAME, "td"))
    }
    assert roles["baseline"] == (KEYS_TASK, "converged (1 change(s))")
    assert lab.podman("exec", f"prov-lab-{LAPTOP}", "test", "-s", ADMIN_KEYS).returncode == 0

    # the run is in history as the CLI's would be, with the console's user; audited
    run = History(StateLayout(lab.state_dir)).list_runs("lab", 1)[0]
    assert (run.use_case, run.status) == ("reprovision", "successful")
    assert (run.host_limit or "").split(",")[0] == LAPTOP
    assert run.invocation is not None and run.invocation.console_user == "hugo"
    settings = Settings(state_dir=lab.state_dir, inventory_dir=lab.inventory_dir)
    entry = audit.entries(settings, user="hugo", action="reprovision")[0]
    assert (entry.target, entry.outcome, entry.detail) == (
        f"lab/{LAPTOP}",
        "exit 0",
        f"run {run.id}",
    )
