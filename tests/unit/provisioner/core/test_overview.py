"""Read-only views across comuni: overview, a comune's hosts, host search."""

from __future__ import annotations

import json
import time
from pathlib import Path

from provisioner.config import Settings
from provisioner.core import overview
from provisioner.core.runs import history
from provisioner.models.run import RunOutcome, RunStatus
from tests import synthetic


def _tree(settings: Settings, days: int = 3) -> synthetic.Tree:
    tree = synthetic.inventory(settings.inventory_dir, 4, 6)
    synthetic.history(settings.state_dir, tree, days=days)
    return tree


def test_each_comune_shows_its_newest_comply_with_its_counts(settings: Settings) -> None:
    _tree(settings)
    store = history(settings)

    statuses = {s.slug: s for s in overview.comuni(settings)}

    assert list(statuses) == ["comune-000", "comune-001", "comune-002", "comune-003"]
    for slug, status in statuses.items():
        newest = next(r for r in store.list_runs(slug, 10) if r.use_case == "comply")
        assert status.comply is not None and status.comply.run.id == newest.id
        assert status.comply.run.drift == len(store.drift_of(newest.id))
        assert status.comply.offline == len(store.offline_of(newest.id))
    assert statuses["comune-001"].province == "PD"


def test_a_comune_never_checked_has_no_comply(settings: Settings) -> None:
    synthetic.inventory(settings.inventory_dir, 2, 5)

    statuses = overview.in_province(overview.comuni(settings), "ve")
    assert [(s.slug, s.comply) for s in statuses] == [("comune-000", None)]


def test_the_overview_sees_a_renamed_comune(settings: Settings) -> None:
    _tree(settings, days=1)
    assert overview.comuni(settings, only=["comune-002"])[0].name == "Comune 2"
    path = settings.inventory_dir / "comune-002/group_vars/all/comune.yml"
    path.write_text(path.read_text().replace('"Comune 2"', '"Comune di Due"'))

    assert overview.comuni(settings, only=["comune-002"])[0].name == "Comune di Due"


def test_a_comunes_hosts_carry_readiness_last_seen_and_last_result(
    settings: Settings, state_dir: Path
) -> None:
    _tree(settings, days=1)
    store = history(settings)
    run_dir = store.start(
        "20990101-000000-abcd",
        use_case="reprovision",
        comune="comune-000",
        host_limit="comune-000-laptop-00",
        check_mode=False,
        tags=(),
        started=time.time(),
    )
    store.finish("20990101-000000-abcd", RunOutcome(RunStatus.SUCCESSFUL, 0, (), (), 1.0, 2.0))
    readiness = [{"host": "comune-000-laptop-00", "check": "vpn", "ok": True, "reason": ""}]
    (run_dir / "summary.json").write_text(json.dumps({"readiness": readiness}))

    view = overview.comune(settings, "comune-000")

    laptop = next(h for h in view.hosts if h.host.name == "comune-000-laptop-00")
    assert [str(r) for r in laptop.readiness] == ["vpn: ok"]
    assert laptop.last_seen is not None
    assert laptop.last is not None and laptop.last.use_case == "comply"


def test_host_search_crosses_comuni_exact_name_first(settings: Settings) -> None:
    _tree(settings, days=1)

    found = overview.find_hosts(settings, "PC-1")
    assert [(m.host, m.comune) for m in found][:2] == [
        ("comune-000-pc-1", "comune-000"),
        ("comune-001-pc-1", "comune-001"),
    ]
    assert overview.find_hosts(settings, "comune-003-pc-1")[0].comune == "comune-003"
    assert overview.find_hosts(settings, "pc-1", only={"comune-002"})[0].comune == "comune-002"
    assert overview.find_hosts(settings, " ") == []
