"""The web console in real Chromium against `provisioner serve` on a synthetic provider.

Screenshots go to .artifacts/browser/. The lab test (a real reprovision and real drift from the
page) is tests/integration/test_helpdesk_lab_console.py.
"""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import PASSWORD, Site
from tests.console_browser import click_and_load, log_in, screenshot, text, wait_for


def test_log_in_and_filter_the_comuni(site: Site, browser: WebDriver) -> None:
    log_in(browser, site.url, "admin", PASSWORD)

    assert text(browser, "h1") == "Comuni 3 of 3"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#comuni tbody tr")) == 3
    screenshot(browser, "overview")
    Select(browser.find_element(By.ID, "province")).select_by_value("PD")
    click_and_load(browser, By.CSS_SELECTOR, ".filters button")
    rows = browser.find_elements(By.CSS_SELECTOR, "#comuni tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["Comune 1"]


def test_the_helpdesk_sees_no_enable_button_and_a_forged_post_gets_403(
    site: Site, browser: WebDriver
) -> None:
    log_in(browser, site.url, "hugo", PASSWORD)
    browser.get(site.url + "/comuni/comune-001")

    assert browser.find_elements(By.ID, "enable") == []
    assert browser.find_elements(By.ID, "comply") == []
    screenshot(browser, "helpdesk-comune")
    # the same browser, its own session and CSRF token: only the role is missing
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const token = document.querySelector("input[name=csrf_token]").value;
        fetch("/comuni/comune-001/enable", {
          method: "POST", credentials: "same-origin",
          body: new URLSearchParams({csrf_token: token}),
        }).then((r) => done(r.status));
        """
    )
    assert status == 403
    browser.get(site.url + "/comuni/comune-002")
    assert text(browser, "h1") == "Forbidden"

    log_in(browser, site.url, "admin", PASSWORD)
    browser.get(site.url + "/admin/audit?who=hugo&action=enable")
    assert "denied" in text(browser, "#audit tbody")
    screenshot(browser, "audit-denied")


def test_five_wrong_passwords_throttle_the_login(site: Site, browser: WebDriver) -> None:
    for _ in range(5):
        log_in(browser, site.url, "paola", "not the password")
        assert text(browser, "#login-message") == "Wrong user name or password."

    log_in(browser, site.url, "paola", PASSWORD)

    assert "Too many failed logins" in text(browser, "#login-message")
    assert "/login" in browser.current_url
    screenshot(browser, "throttled")


def test_a_form_without_its_csrf_token_gets_403(site: Site, browser: WebDriver) -> None:
    log_in(browser, site.url, "tecla", PASSWORD)
    browser.get(site.url + "/comuni/comune-002")
    browser.execute_script(
        'document.querySelector("#comply").form.querySelector("[name=csrf_token]").remove();'
    )

    click_and_load(browser, By.ID, "comply")

    assert text(browser, "h1") == "Forbidden"
    assert "CSRF token missing or wrong" in text(browser)
    screenshot(browser, "csrf-refused")
    browser.get(site.url + "/runs?comune=comune-002")
    assert "comply" in text(browser, "#runs") and "running" not in text(browser, "#runs")


def test_a_dry_run_from_the_page_shows_live_progress_then_the_result(
    site: Site, browser: WebDriver
) -> None:
    log_in(browser, site.url, "hugo", PASSWORD)
    browser.get(site.url + "/hosts")
    browser.find_element(By.ID, "q").send_keys("comune-001-laptop-01")
    click_and_load(browser, By.ID, "search")
    assert text(browser, "h1").startswith("comune-001-laptop-01")

    click_and_load(browser, By.ID, "reprovision-check")

    wait_for(browser, 60, "#events li.task")
    screenshot(browser, "dry-run-progress")
    wait_for(browser, 180, "#result-title")
    # the synthetic hosts point at a closed port: unreachable, exit 4, nothing changed
    assert "exit 4" in text(browser, "#result-title")
    assert "UNREACHABLE: nothing was changed" in text(browser, "#roles")
    assert text(browser, "#job-state") == "finished"
    screenshot(browser, "dry-run-result")
