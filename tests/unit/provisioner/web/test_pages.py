"""Pages, roles per comune, CSRF on every form, security headers."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from provisioner.config import Settings
from provisioner.core import audit
from provisioner.models.accounts import Role
from tests.unit.provisioner.web.conftest import Login, csrf


def test_the_overview_shows_each_comunes_latest_comply(login: Login) -> None:
    page = login(Role.VIEWER).get("/").text

    assert len(re.findall(r'<a href="/comuni/comune-\d+">', page)) == 3
    assert "never checked" not in page
    assert re.search(r'href="/runs/\d{8}-\d{6}-0001"', page)  # comune-001's newest run


def test_the_overview_filters_by_province(login: Login) -> None:
    page = login(Role.VIEWER).get("/?province=pd").text

    assert re.findall(r'<a href="/comuni/(comune-\d+)">', page) == ["comune-001"]


def test_a_scoped_user_sees_only_its_comuni(login: Login) -> None:
    client = login(Role.HELPDESK, ["comune-001"])

    overview = client.get("/").text
    assert "comune-001" in overview and "comune-002" not in overview
    assert client.get("/comuni/comune-002").status_code == 403
    assert "comune-002" not in client.get("/hosts?q=laptop").text


def test_the_helpdesk_gets_no_enable_button_and_a_forged_post_is_refused(
    login: Login, settings: Settings
) -> None:
    client = login(Role.HELPDESK, name="hugo")
    page = client.get("/comuni/comune-001").text
    assert 'id="enable"' not in page and 'id="comply"' not in page

    response = client.post("/comuni/comune-001/enable", data={"csrf_token": csrf(page)})

    assert response.status_code == 403
    denied = audit.entries(settings, user="hugo", action="enable")
    assert [(e.target, e.outcome) for e in denied] == [("comune-001", "denied")]


def test_a_technician_gets_enable_and_comply_but_no_reprovision(login: Login) -> None:
    client = login(Role.TECHNICIAN)
    page = client.get("/comuni/comune-001").text
    assert 'id="enable"' in page and 'id="comply"' in page

    host = client.get("/comuni/comune-001/hosts/comune-001-laptop-00").text
    assert 'id="reprovision"' not in host
    forged = client.post(
        "/comuni/comune-001/hosts/comune-001-laptop-00/reprovision",
        data={"csrf_token": csrf(host)},
    )
    assert forged.status_code == 403


def test_a_form_without_its_csrf_token_is_refused(login: Login) -> None:
    client = login(Role.ADMIN)

    response = client.post("/comuni/comune-001/enable", data={"check": "true"})

    assert response.status_code == 403
    assert "CSRF token missing or wrong" in response.text


def test_another_sessions_token_or_origin_is_refused(login: Login) -> None:
    admin = login(Role.ADMIN)
    other = login(Role.ADMIN)
    foreign = csrf(other.get("/").text)

    assert admin.post("/logout", data={"csrf_token": foreign}).status_code == 403
    own = csrf(admin.get("/").text)
    response = admin.post(
        "/logout", data={"csrf_token": own}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403


def test_pages_carry_the_security_headers(login: Login) -> None:
    response = login(Role.VIEWER).get("/")

    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["server-timing"].startswith("app;dur=")


def test_another_host_name_is_refused(anonymous: TestClient) -> None:
    # DNS rebinding: a name pointing at 127.0.0.1 must not reach the console
    assert anonymous.get("/login", headers={"host": "evil.example"}).status_code == 400


def test_drift_runs_and_one_run(login: Login) -> None:
    client = login(Role.VIEWER)

    assert "drift item" in client.get("/comuni/comune-002/drift").text
    runs = client.get("/runs?comune=comune-002").text
    run_id = re.findall(r'href="/runs/([\w-]+)"', runs)[0]
    page = client.get(f"/runs/{run_id}").text
    assert f"Run {run_id}" in page and "comune-002-gw" in page


def test_a_host_found_by_its_exact_name_opens(login: Login) -> None:
    client = login(Role.HELPDESK)

    response = client.get("/hosts?q=comune-002-pc-1")
    assert response.headers["location"] == "/comuni/comune-002/hosts/comune-002-pc-1"
    assert client.get("/hosts?q=pc-1").text.count("-pc-1</a>") == 3


def test_admin_pages_are_for_admins(login: Login) -> None:
    assert login(Role.TECHNICIAN).get("/admin/audit").status_code == 403
    admin = login(Role.ADMIN, name="root2")
    assert "root2" in admin.get("/admin/users").text
    assert ">login<" in admin.get("/admin/audit").text


def test_schedules_and_the_bundles_seam(login: Login) -> None:
    client = login(Role.HELPDESK)

    assert "No schedule on this machine." in client.get("/schedules").text
    assert "issue 20" in client.get("/bundles").text
    assert login(Role.VIEWER).get("/bundles").status_code == 403


def test_runs_of_a_scoped_user_are_those_of_its_comuni(login: Login) -> None:
    page = login(Role.VIEWER, ["comune-002"]).get("/runs").text

    comuni = set(re.findall(r'<a href="/comuni/(comune-\d+)">', page))
    assert comuni == {"comune-002"}
