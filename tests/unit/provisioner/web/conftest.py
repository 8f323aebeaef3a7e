"""A console on synthetic state, a browser-like client per user (FastAPI's TestClient)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from provisioner.config import Settings
from provisioner.core import accounts
from provisioner.models.accounts import Grant, Role
from provisioner.web.app import create_app
from tests import synthetic

PASSWORD = "a long console password"
# https: the session cookie is Secure, a cookie jar sends it over https only (as browsers do,
# except on localhost).
BASE = "https://127.0.0.1"


def csrf(page: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


@pytest.fixture
def tree(inventory_root: Path, state_dir: Path) -> synthetic.Tree:
    """Three comuni of 6 hosts with a week of comply history."""
    made = synthetic.inventory(inventory_root, 3, 6)
    synthetic.history(state_dir, made, days=7)
    return made


Login = Callable[..., TestClient]


@pytest.fixture
def login(settings: Settings, tree: synthetic.Tree, fast_hashes: None) -> Iterator[Login]:
    """``login(role, comuni=None)``: a client logged in as a new user with that one grant."""
    app = create_app(settings)
    clients: list[TestClient] = []

    def make(role: Role, comuni: list[str] | None = None, name: str | None = None) -> TestClient:
        name = name or f"{role.value}{len(clients)}"
        scope = None if comuni is None else frozenset(comuni)
        accounts.add_user(settings, name, PASSWORD, [Grant(role, scope)])
        client = TestClient(app, base_url=BASE, follow_redirects=False)
        clients.append(client)
        page = client.get("/login").text
        response = client.post(
            "/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf(page)}
        )
        assert response.status_code == 303, response.text
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def anonymous(settings: Settings, tree: synthetic.Tree, fast_hashes: None) -> TestClient:
    """A client with no session."""
    return TestClient(create_app(settings), base_url=BASE, follow_redirects=False)
