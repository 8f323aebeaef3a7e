"""Host index: finds a host's comune, follows edits, survives a broken file or index."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from provisioner.adapters.host_index import HostIndex
from provisioner.config import StateLayout
from tests.unit.fakes import ComuneFiles


def _bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_finds_the_comune_of_a_host(
    make_comune: Callable[..., ComuneFiles], inventory_root: Path, state_dir: Path
) -> None:
    make_comune("asiago", hosts={"endpoints": {"laptop-a1": {}}})
    make_comune("bassano", hosts={"endpoints": {"laptop-b1": {}, "laptop-b2": {}}})

    found = HostIndex(inventory_root, StateLayout(state_dir).host_index).find("laptop-b2")

    assert found.comuni == ("bassano",)
    assert found.all_hosts == {"asiago": ("laptop-a1",), "bassano": ("laptop-b1", "laptop-b2")}
    assert (state_dir / "host-index.json").is_file()


def test_nested_groups_and_vault_tags_are_read(inventory_root: Path, state_dir: Path) -> None:
    comune = inventory_root / "cittadella"
    comune.mkdir()
    (comune / "hosts.yml").write_text(
        "all:\n  children:\n    endpoints:\n      children:\n        anagrafe:\n"
        "          hosts:\n            laptop-x:\n              secret: !vault |\n"
        "                $ANSIBLE_VAULT;1.1;AES256\n                3131\n",
        encoding="utf-8",
    )

    assert HostIndex(inventory_root, StateLayout(state_dir).host_index).find("laptop-x").comuni == (
        "cittadella",
    )


def test_follows_edits_and_rereads_only_changed_comuni(
    make_comune: Callable[..., ComuneFiles], inventory_root: Path, state_dir: Path
) -> None:
    a = make_comune("asiago", hosts={"endpoints": {"laptop-a1": {}}})
    make_comune("bassano", hosts={"endpoints": {"laptop-b1": {}}})
    index = HostIndex(inventory_root, StateLayout(state_dir).host_index)
    index.refresh()
    # A stale entry for bassano proves that unchanged comuni come from the index, not the files.
    data = json.loads(index.path.read_text())
    data["comuni"]["bassano"]["hosts"] = ["from-the-index"]
    index.path.write_text(json.dumps(data))

    a.hosts_file.write_text(
        a.hosts_file.read_text().replace("laptop-a1", "laptop-a9"), encoding="utf-8"
    )
    _bump(a.hosts_file)
    result = index.refresh()

    assert result["asiago"] == ("laptop-a9",)
    assert result["bassano"] == ("from-the-index",)
    make_comune("cartigliano", hosts={"endpoints": {"laptop-c1": {}}})
    assert index.find("laptop-c1").comuni == ("cartigliano",)


def test_a_deleted_comune_leaves_the_index(
    make_comune: Callable[..., ComuneFiles], inventory_root: Path, state_dir: Path
) -> None:
    a = make_comune("asiago", hosts={"endpoints": {"laptop-a1": {}}})
    index = HostIndex(inventory_root, StateLayout(state_dir).host_index)
    assert index.find("laptop-a1").comuni == ("asiago",)

    a.hosts_file.unlink()
    a.settings_file.unlink()

    assert index.find("laptop-a1").comuni == ()


def test_corrupt_index_and_broken_yaml_do_not_break_lookups(
    make_comune: Callable[..., ComuneFiles], inventory_root: Path, state_dir: Path
) -> None:
    make_comune("asiago", hosts={"endpoints": {"laptop-a1": {}}})
    broken = inventory_root / "broken"
    broken.mkdir()
    (broken / "hosts.yml").write_text("all: [unclosed\n", encoding="utf-8")
    state_dir.mkdir()
    (state_dir / "host-index.json").write_text("{not json", encoding="utf-8")

    found = HostIndex(inventory_root, StateLayout(state_dir).host_index).find("laptop-a1")

    assert found.comuni == ("asiago",)
    assert found.all_hosts["broken"] == ()


def test_same_name_in_two_comuni_is_reported_as_both(
    make_comune: Callable[..., ComuneFiles], inventory_root: Path, state_dir: Path
) -> None:
    make_comune("asiago", hosts={"endpoints": {"laptop-01": {}}})
    make_comune("bassano", hosts={"endpoints": {"laptop-01": {}}})

    assert HostIndex(inventory_root, StateLayout(state_dir).host_index).find(
        "laptop-01"
    ).comuni == ("asiago", "bassano")
