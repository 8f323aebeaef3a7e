"""Runs from the console: the same use case as the CLI, live events over SSE, the result."""

from __future__ import annotations

import json
import re
import time

from fastapi.testclient import TestClient

from provisioner.config import Settings
from provisioner.core import audit
from provisioner.core.runs import history
from provisioner.models.accounts import Role
from tests.unit.fakes import FakeAnsibleRunner, on_ok, play_start, stats, task_start
from tests.unit.provisioner.web.conftest import Login, csrf

COMUNE = "comune-001"
HOST = "comune-001-laptop-00"
GATEWAY = "comune-001-gw"


def _events(client: TestClient, job: str) -> list[tuple[str, dict[str, str]]]:
    """Every event of the job's stream, until ``done``."""
    found = []
    kind = ""
    with client.stream("GET", f"/jobs/{job}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                found.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == "done":
                    break
    return found


def _wait_done(client: TestClient, job: str) -> str:
    for _ in range(200):
        page = client.get(f"/jobs/{job}").text
        if 'data-done="true"' in page:
            return page
        time.sleep(0.05)
    raise AssertionError("the job did not end")


def test_reprovision_from_the_page_streams_the_run_and_shows_before_after(
    login: Login, settings: Settings, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        play_start("Endpoints"),
        task_start("Install the admin's SSH public keys", role="baseline"),
        on_ok(HOST, "Install the admin's SSH public keys", role="baseline", changed=True),
        task_start("Configure the tunnel", role="vpn_client"),
        on_ok(HOST, "Configure the tunnel", role="vpn_client"),
        stats(**{HOST: {"ok": 2, "changed": 1}, GATEWAY: {"ok": 1}}),
    ]
    client = login(Role.HELPDESK, [COMUNE], name="hugo")
    page = client.get(f"/comuni/{COMUNE}/hosts/{HOST}").text

    response = client.post(
        f"/comuni/{COMUNE}/hosts/{HOST}/reprovision", data={"csrf_token": csrf(page)}
    )

    assert response.status_code == 303
    job = response.headers["location"].removeprefix("/jobs/")
    events = _events(client, job)
    kinds = [k for k, _ in events]
    assert kinds[0] == "state" and kinds[-1] == "done"
    assert ("task", "Install the admin's SSH public keys") in [
        (k, d.get("task")) for k, d in events
    ]
    assert ("changed", HOST) in [(k, d.get("host")) for k, d in events]
    assert events[-1][1] == {"state": "finished", "exit_code": "0"}
    # the same use case as `provisioner reprovision`: the host and its gateway peer
    assert fake_ansible.kwargs["limit"] == f"{HOST},{GATEWAY}"

    result = client.get(f"/jobs/{job}/result").text
    assert "before / after, per role" in result
    assert re.search(r"<td>baseline</td><td>Install the admin&#39;s SSH public keys</td>", result)
    assert "converged (1 change(s))" in result
    run = history(settings).list_runs(COMUNE, 1)[0]
    assert run.use_case == "reprovision" and f"/runs/{run.id}" in result
    # Who started it, recorded with the run in history: the console's user, in this process.
    assert run.invocation is not None and run.invocation.console_user == "hugo"
    entry = audit.entries(settings, user="hugo", action="reprovision")[0]
    assert (entry.target, entry.outcome, entry.detail) == (
        f"{COMUNE}/{HOST}",
        "exit 0",
        f"run {run.id}",
    )


def test_a_late_browser_gets_only_what_it_missed(
    login: Login, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [task_start("One"), task_start("Two"), stats(**{HOST: {"ok": 2}})]
    client = login(Role.HELPDESK)
    page = client.get(f"/comuni/{COMUNE}/hosts/{HOST}").text
    job = client.post(
        f"/comuni/{COMUNE}/hosts/{HOST}/reprovision",
        data={"csrf_token": csrf(page), "check": "true"},
    ).headers["location"]
    _wait_done(client, job.removeprefix("/jobs/"))

    with client.stream("GET", job + "/events", headers={"last-event-id": "3"}) as stream:
        ids = [int(line[4:]) for line in stream.iter_lines() if line.startswith("id: ")]

    assert ids and min(ids) == 4


def test_another_users_job_needs_the_comune(login: Login, fake_ansible: FakeAnsibleRunner) -> None:
    client = login(Role.HELPDESK, [COMUNE])
    page = client.get(f"/comuni/{COMUNE}/hosts/{HOST}").text
    job = client.post(
        f"/comuni/{COMUNE}/hosts/{HOST}/reprovision", data={"csrf_token": csrf(page)}
    ).headers["location"]

    assert login(Role.VIEWER, ["comune-002"]).get(job).status_code == 403
    assert login(Role.VIEWER, [COMUNE]).get(job).status_code == 200


def test_an_unknown_host_starts_no_job(login: Login, fake_ansible: FakeAnsibleRunner) -> None:
    client = login(Role.HELPDESK)
    token = csrf(client.get("/").text)

    response = client.post(
        f"/comuni/{COMUNE}/hosts/laptop-99/reprovision", data={"csrf_token": token}
    )

    assert response.status_code == 400 and "is not in comune" in response.text
    assert fake_ansible.calls == []


def test_a_busy_comune_ends_the_job_with_the_clis_message(
    login: Login, settings: Settings, fake_ansible: FakeAnsibleRunner
) -> None:
    client = login(Role.TECHNICIAN)
    token = csrf(client.get(f"/comuni/{COMUNE}").text)
    with history(settings).lock(COMUNE):
        job = client.post(f"/comuni/{COMUNE}/comply", data={"csrf_token": token}).headers[
            "location"
        ]
        page = _wait_done(client, job.removeprefix("/jobs/"))

    assert "busy: another run is in progress" in page
    assert fake_ansible.calls == []


def test_rotate_keys_is_the_clis_rotate_keys(login: Login, fake_ansible: FakeAnsibleRunner) -> None:
    client = login(Role.HELPDESK)
    page = client.get(f"/comuni/{COMUNE}/hosts/{HOST}").text
    assert 'id="rotate-keys"' in page

    job = client.post(
        f"/comuni/{COMUNE}/hosts/{HOST}/rotate-keys", data={"csrf_token": csrf(page)}
    ).headers["location"]
    _wait_done(client, job.removeprefix("/jobs/"))

    assert fake_ansible.kwargs["extravars"] == {
        "provisioner_peer_only": [GATEWAY],
        "provisioner_rotate_keys": True,
    }


def test_a_decommission_needs_the_name_typed_again(
    login: Login, fake_ansible: FakeAnsibleRunner
) -> None:
    client = login(Role.HELPDESK)
    page = client.get(f"/comuni/{COMUNE}/hosts/{HOST}").text

    response = client.post(
        f"/comuni/{COMUNE}/hosts/{HOST}/decommission",
        data={"csrf_token": csrf(page), "confirm": "comune-001-laptop-0"},
    )

    assert response.status_code == 400 and "to confirm the decommission" in response.text
    assert fake_ansible.calls == []
