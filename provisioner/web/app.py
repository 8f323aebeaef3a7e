"""The web console: one FastAPI application over the same core functions as the CLI."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from provisioner.config import Settings
from provisioner.errors import BusyError, ProvisionerError
from provisioner.web import deps
from provisioner.web.jobs import Jobs
from provisioner.web.routes import (
    admin,
    auth,
    bundles,
    comuni,
    hosts,
    jobs,
    runs,
    schedules,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Scripts and styles only from the console's own files: no inline script can run, even if some
# text slipped through escaping; no frame, no form to elsewhere, no external request.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


class ResponseHeaders:
    """Adds the console's security headers and the server's time (``Server-Timing``, seen in
    the browser's developer tools and by `bench/console`) to every response (pure ASGI: event
    streams pass untouched)."""

    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if tls:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode()))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in self.headers if h[0] not in names]
                if not static and b"cache-control" not in names:
                    # Pages carry names, results and CSRF tokens: never kept by a cache.
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def allowed_hosts(settings: Settings) -> list[str]:
    """Host header values the console answers (DNS rebinding: any other is refused)."""
    hosts = ["127.0.0.1", "localhost", *settings.console_allowed_hosts]
    try:
        bind = ipaddress.ip_address(settings.console_bind)
    except ValueError:
        hosts.append(settings.console_bind)  # a host name
    else:
        if bind.version == 4 and not bind.is_unspecified:
            hosts.append(str(bind))
    return hosts


def create_app(settings: Settings, *, jobs_runner: Jobs | None = None) -> FastAPI:
    """The console application for these settings."""
    state = deps.Console(
        settings=settings,
        templates=Jinja2Templates(directory=deps.TEMPLATES),
        jobs=jobs_runner or Jobs(settings.console_max_jobs),
        login_key=secrets.token_bytes(32),
    )
    state.templates.env.filters["when"] = deps.when

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Runs still going are canceled (recorded canceled in history), not cut off.
        state.jobs.shutdown()

    app = FastAPI(
        title="provisioner console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        dependencies=[Depends(deps.csrf_protect)],
    )
    app.state.console = state
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))
    app.add_middleware(ResponseHeaders, tls=settings.console_tls_cert is not None)
    app.mount("/static", StaticFiles(directory=deps.STATIC), name="static")
    for module in (auth, comuni, hosts, jobs, runs, schedules, bundles, admin):
        app.include_router(module.router)

    @app.exception_handler(deps.LoginRequiredError)
    async def to_login(request: Request, exc: deps.LoginRequiredError) -> Response:
        if request.method != "GET":
            return Response("login required", status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return deps.page(
            request,
            "error.html",
            status_code=exc.status_code,
            title="Forbidden" if exc.status_code == 403 else "Error",
            lines=[str(exc.detail)],
        )

    @app.exception_handler(ProvisionerError)
    async def provisioner_error(request: Request, exc: ProvisionerError) -> Response:
        status = 409 if isinstance(exc, BusyError) else 400
        return deps.page(
            request, "error.html", status_code=status, title="Error", lines=exc.lines()
        )

    return app
