"""Log in (throttled after failures) and log out."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from provisioner.core import accounts, audit
from provisioner.web import deps

router = APIRouter()

LOGIN_COOKIE_AGE = 3600


def _next(target: str | None) -> str:
    """Where to go after logging in: a path of this console only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _form(request: Request, status_code: int, message: str, name: str, target: str) -> Response:
    nonce = request.cookies.get(deps.LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = deps.page(
        request,
        "login.html",
        status_code=status_code,
        csrf=deps.login_token(deps.console(request).login_key, nonce),
        message=message,
        name=name,
        next=_next(target),
    )
    response.set_cookie(
        deps.LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_COOKIE_AGE,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The login form (with its CSRF token bound to a login cookie)."""
    if deps.session_of(request) is not None:
        return RedirectResponse(_next(next), status_code=303)
    return _form(request, 200, "", "", next)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password (unless throttled) and open a session."""
    console = deps.console(request)
    name = username.strip().lower()
    where = deps.source(request)
    attempt = accounts.login(console.settings, name, password, where)
    if attempt.throttled:
        minutes = math.ceil(attempt.retry_after / 60)
        audit.record(
            console.settings,
            user=name,
            source=where,
            action="login",
            target="console",
            outcome="throttled",
        )
        return _form(
            request,
            429,
            f"Too many failed logins for this user or from this address: try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}.",
            name,
            next,
        )
    if not attempt.ok:
        audit.record(
            console.settings,
            user=name,
            source=where,
            action="login",
            target="console",
            outcome=audit.FAILED,
        )
        return _form(request, 401, "Wrong user name or password.", name, next)
    audit.record(
        console.settings, user=name, source=where, action="login", target="console", outcome="ok"
    )
    response = RedirectResponse(_next(next), status_code=303)
    response.set_cookie(
        deps.SESSION_COOKIE,
        attempt.token,
        max_age=console.settings.console_session_max,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(deps.LOGIN_COOKIE, path="/", secure=True, httponly=True)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session."""
    console = deps.console(request)
    found = deps.session_of(request)
    if found is not None:
        accounts.logout(console.settings, request.cookies.get(deps.SESSION_COOKIE, ""))
        audit.record(
            console.settings,
            user=found.user.name,
            source=deps.source(request),
            action="logout",
            target="console",
            outcome="ok",
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(deps.SESSION_COOKIE, path="/", secure=True, httponly=True)
    return response
