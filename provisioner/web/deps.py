"""What every route depends on: the console's state, the session, the user, roles, CSRF.

Authentication and authorisation are dependencies (``Depends(current_user)``,
``Depends(require(Action.REPROVISION))``), so a route cannot forget them by accident: a route
whose path names a ``comune`` is checked against the user's grants on that comune. Every unsafe
request (POST) must carry the CSRF token of its session (or, on the login form, of the login
cookie): that check is a dependency of the whole application.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from provisioner.config import Settings
from provisioner.core import accounts, audit
from provisioner.models.accounts import Action, Session, User
from provisioner.web.jobs import Jobs

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "__Host-provisioner-session"
"""``__Host-``: the browser accepts it only Secure, for this exact host, on path / (no
subdomain or plain-HTTP page can plant or overwrite it)."""
LOGIN_COOKIE = "__Host-provisioner-login"
"""A random value bound to the login form's CSRF token (login CSRF)."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Console:
    """The running console: its settings, templates, jobs and the key of its login tokens."""

    settings: Settings
    templates: Jinja2Templates
    jobs: Jobs
    login_key: bytes
    """Per process (never written anywhere): a restart only asks for the login form again."""


class LoginRequiredError(Exception):
    """No valid session: pages redirect to the login form."""


def console(request: Request) -> Console:
    """The console serving this request."""
    found = request.app.state.console
    assert isinstance(found, Console)
    return found


def source(request: Request) -> str:
    """The client's address as the server sees it (behind a trusted proxy: the forwarded one)."""
    return request.client.host if request.client else "unknown"


def session_of(request: Request) -> Session | None:
    """The request's live session, looked up once per request."""
    if not hasattr(request.state, "session"):
        token = request.cookies.get(SESSION_COOKIE, "")
        request.state.session = accounts.session(console(request).settings, token)
    found = request.state.session
    return found if isinstance(found, Session) else None


def current_user(request: Request) -> User:
    """The logged-in user, or a redirect to the login form."""
    found = session_of(request)
    if found is None:
        raise LoginRequiredError
    return found.user


def deny(request: Request, user: User, action: Action, target: str) -> HTTPException:
    """A 403 for ``user``, recorded in the audit trail."""
    audit.record(
        console(request).settings,
        user=user.name,
        source=source(request),
        action=str(action),
        target=target,
        outcome=audit.DENIED,
        detail=f"{request.method} {request.url.path}",
    )
    return HTTPException(status_code=403, detail=f"{user.name} may not {action} {target}".strip())


def require(action: Action) -> Callable[..., User]:
    """A dependency: the user may do ``action`` on the path's ``comune`` (on any comune when
    the path names none); else 403, audited."""

    def dependency(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
        comune = request.path_params.get("comune")
        if not user.can(action, comune):
            raise deny(request, user, action, comune or "")
        return user

    return dependency


def ensure(request: Request, user: User, action: Action, comune: str) -> None:
    """The same check where the comune is known only inside the route (a run, a job)."""
    if not user.can(action, comune):
        raise deny(request, user, action, comune)


def login_token(key: bytes, nonce: str) -> str:
    """The login form's CSRF token for a login cookie's value."""
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


async def csrf_protect(request: Request) -> None:
    """Every unsafe request carries its session's CSRF token (or the login form's); else 403.

    A cross-site form cannot know it; SameSite=Strict cookies and the Origin check below are
    further layers.
    """
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(status_code=403, detail="cross-origin request refused")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    expected = []
    found = session_of(request)
    if found is not None:
        expected.append(found.csrf)
    nonce = request.cookies.get(LOGIN_COOKIE)
    if nonce:
        expected.append(login_token(console(request).login_key, nonce))
    if not sent or not any(hmac.compare_digest(sent, e) for e in expected):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong: reload the page")


def when(epoch: float | None) -> str:
    """Local time of a timestamp (``-`` for none)."""
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


NAV: tuple[tuple[str, str, Action], ...] = (
    ("/", "Comuni", Action.VIEW),
    ("/hosts", "Hosts", Action.VIEW),
    ("/runs", "Runs", Action.VIEW),
    ("/schedules", "Schedules", Action.VIEW),
    ("/bundles", "Bundles", Action.BUNDLES),
    ("/admin/audit", "Audit", Action.ADMIN),
    ("/admin/users", "Users", Action.ADMIN),
)
"""Menu entries and the action that shows each."""


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with what every page needs: the user, the menu and the CSRF token."""
    found = session_of(request)
    user = found.user if found else None
    nav = [(href, label) for href, label, action in NAV if user is not None and user.can(action)]
    return console(request).templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf": found.csrf if found else context.pop("csrf", ""),
            "nav": nav,
            "Action": Action,
            **context,
        },
        status_code=status_code,
    )
