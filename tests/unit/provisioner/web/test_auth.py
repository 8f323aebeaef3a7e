"""Logging in and out: cookies, CSRF on the login form, throttling, redirects."""

from __future__ import annotations

from fastapi.testclient import TestClient

from provisioner.config import Settings
from provisioner.core import accounts, audit
from provisioner.models.accounts import Grant, Role
from provisioner.web import deps
from tests.unit.provisioner.web.conftest import PASSWORD, Login, csrf


def _user(settings: Settings, name: str = "anna") -> None:
    accounts.add_user(settings, name, PASSWORD, [Grant(Role.VIEWER)])


def test_a_page_asks_for_the_login_first(anonymous: TestClient) -> None:
    response = anonymous.get("/comuni/comune-001")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcomuni%2Fcomune-001"


def test_login_sets_a_strict_host_only_session_cookie(
    anonymous: TestClient, settings: Settings
) -> None:
    _user(settings)
    token = csrf(anonymous.get("/login").text)

    response = anonymous.post(
        "/login",
        data={"username": "anna", "password": PASSWORD, "csrf_token": token, "next": "/runs"},
    )

    assert response.status_code == 303 and response.headers["location"] == "/runs"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(deps.SESSION_COOKIE)
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    assert not any(f.startswith("domain") for f in flags)
    assert anonymous.get("/runs").status_code == 200


def test_the_login_form_without_its_csrf_token_is_refused(
    anonymous: TestClient, settings: Settings
) -> None:
    _user(settings)
    anonymous.get("/login")

    response = anonymous.post("/login", data={"username": "anna", "password": PASSWORD})

    assert response.status_code == 403
    assert "CSRF token missing or wrong" in response.text
    assert deps.SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_five_wrong_passwords_throttle_the_login(anonymous: TestClient, settings: Settings) -> None:
    _user(settings)
    for _ in range(accounts.MAX_USER_FAILURES):
        token = csrf(anonymous.get("/login").text)
        wrong = anonymous.post(
            "/login", data={"username": "anna", "password": "not it at all", "csrf_token": token}
        )
        assert wrong.status_code == 401
        assert "Wrong user name or password." in wrong.text

    token = csrf(anonymous.get("/login").text)
    response = anonymous.post(
        "/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token}
    )

    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    outcomes = [e.outcome for e in audit.entries(settings, user="anna", action="login")]
    assert outcomes == ["throttled"] + ["failed"] * accounts.MAX_USER_FAILURES


def test_next_never_leaves_the_console(anonymous: TestClient, settings: Settings) -> None:
    _user(settings)
    token = csrf(anonymous.get("/login").text)

    response = anonymous.post(
        "/login",
        data={
            "username": "anna",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
    )

    assert response.headers["location"] == "/"


def test_logout_ends_the_session(login: Login) -> None:
    client = login(Role.VIEWER)
    token = csrf(client.get("/").text)
    old = client.cookies[deps.SESSION_COOKIE]

    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    client.cookies.clear()

    # the old cookie, sent again, names no session any more
    response = client.get("/", headers={"cookie": f"{deps.SESSION_COOKIE}={old}"})
    assert response.status_code == 303
