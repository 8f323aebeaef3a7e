"""Loading a comune's YAML inventory directory: the valid case and every broken case."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner.adapters.inventory_files import VaultValue, YamlDirectorySource
from provisioner.core.lab import LAB_HOSTS
from provisioner.errors import ExitCode, InputError, InventoryError, InventoryProblem
from provisioner.models.inventory import Inventory
from tests.unit.fakes import (
    ALL_HOSTS,
    DROP,
    GROUP_HOSTS,
    SLUG,
    VAULT_DOCUMENT,
    ComuneFiles,
    write_comune,
)

MakeComune = Callable[..., ComuneFiles]


def _load(files: ComuneFiles) -> Inventory:
    return YamlDirectorySource(files.root).load(files.slug)


def _problems(files: ComuneFiles) -> list[InventoryProblem]:
    with pytest.raises(InventoryError) as info:
        _load(files)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert info.value.lines() == [str(p) for p in info.value.problems]
    return info.value.problems


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _only(problems: list[InventoryProblem], field: str) -> InventoryProblem:
    matching = [p for p in problems if p.field == field]
    assert len(matching) == 1, f"expected one problem on {field}: {problems}"
    return matching[0]


# --- the valid case ---------------------------------------------------------------------------


def test_valid_inventory_loads_typed(comune: ComuneFiles) -> None:
    inv = _load(comune)

    assert inv.comune == SLUG
    assert inv.directory == str(comune.dir)
    assert inv.vault_files == ()
    assert sorted(inv.hosts) == ALL_HOSTS
    gw = inv.hosts["gw-vpn-01"]
    assert gw.groups == ("vpn_gateways",)
    assert gw.ansible_host == "203.0.113.10"
    assert gw.ansible_port == 22
    assert gw.source == f"inventory/{SLUG}/hosts.yml"
    laptop = inv.hosts["laptop-sindaco"]
    assert laptop.address == "laptop-sindaco.castelnuovo.example.it"
    assert laptop.ansible_port == 2222
    assert [h.name for h in inv.group("office_desktops")] == ["pc-anagrafe-01", "pc-tributi-01"]
    s = inv.settings
    assert s.comune_name == "Comune di Castelnuovo"
    assert s.comune_istat_code == "024058"
    assert s.comune_vpn_pool == ipaddress.IPv4Network("10.77.0.0/24")
    assert s.comune_office_networks == [ipaddress.IPv4Network("192.168.10.0/24")]
    assert s.comune_dns_servers == [ipaddress.IPv4Address("192.168.10.1")]
    assert s.comune_vpn_terminator == "gw-vpn-01"


def test_committed_lab_settings_validate(inventory_root: Path) -> None:
    # hosts.yml of the lab is machine-specific (written by `lab up`): rebuild it from LAB_HOSTS.
    committed = Path(__file__).resolve().parents[4] / "inventory/lab/group_vars/all/comune.yml"
    lab_hosts: dict[str, dict[str, Any]] = {}
    for h in LAB_HOSTS:
        lab_hosts.setdefault(h.group, {})[h.name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": 22400 + h.port_offset,
        }
    files = write_comune(inventory_root, "lab", hosts=lab_hosts)
    files.settings_file.write_text(committed.read_text(encoding="utf-8"), encoding="utf-8")

    inv = _load(files)

    assert inv.settings.comune_slug == "lab"
    assert sorted(inv.hosts) == sorted(h.name for h in LAB_HOSTS)
    assert inv.hosts[inv.settings.comune_vpn_terminator].groups == ("vpn_gateways",)


def test_other_variables_are_kept_and_nested_groups_recorded(make_comune: MakeComune) -> None:
    files = make_comune()
    files.hosts_file.write_text(
        """\
all:
  children:
    vpn_gateways:
      hosts:
        gw-vpn-01:
          ansible_host: 203.0.113.10
          wireguard_mtu: 1380
    endpoints:
      vars:
        endpoint_kind: laptop
      children:
        laptops_giunta:
          hosts:
            laptop-sindaco:
""",
        encoding="utf-8",
    )
    (files.settings_file.parent / "ansible.yml").write_text(
        "ansible_user: admin\ncomune_province: VI\n", encoding="utf-8"
    )

    inv = _load(files)

    assert inv.hosts["gw-vpn-01"].variables == {"wireguard_mtu": 1380}
    assert inv.hosts["gw-vpn-01"].ansible_port is None
    assert inv.hosts["laptop-sindaco"].groups == ("endpoints", "laptops_giunta")


def test_comunes_lists_directories(make_comune: MakeComune, inventory_root: Path) -> None:
    make_comune("montebello")
    make_comune()
    (inventory_root / ".git").mkdir()
    (inventory_root / "README.md").write_text("x", encoding="utf-8")

    assert YamlDirectorySource(inventory_root).comunes() == [SLUG, "montebello"]
    assert YamlDirectorySource(inventory_root / "missing").comunes() == []


def test_unknown_comune_suggests_close_names(comune: ComuneFiles) -> None:
    with pytest.raises(InputError) as info:
        YamlDirectorySource(comune.root).load("castelnovo")

    assert not isinstance(info.value, InventoryError)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert "no inventory for comune 'castelnovo'" in str(info.value)
    assert str(info.value).endswith(f"did you mean {SLUG}?")


def test_unknown_comune_without_close_names(comune: ComuneFiles) -> None:
    with pytest.raises(InputError) as info:
        YamlDirectorySource(comune.root).load("zzz")

    assert "did you mean" not in str(info.value)


# --- broken hosts ------------------------------------------------------------------------------


def test_bad_ip_names_file_host_and_field(make_comune: MakeComune) -> None:
    hosts = {**GROUP_HOSTS, "rd_gateways": {"gw-rd-01": {"ansible_host": "10.0.0.300"}}}
    files = make_comune(hosts=hosts)

    problem = _only(_problems(files), "ansible_host")

    assert problem.file == f"inventory/{SLUG}/hosts.yml"
    assert problem.host == "gw-rd-01"
    assert "'10.0.0.300' is not a valid IP address or DNS name" in problem.message
    assert str(problem).startswith(f"inventory/{SLUG}/hosts.yml: host gw-rd-01: ansible_host: ")


def test_bad_port_and_bad_host_name(make_comune: MakeComune) -> None:
    hosts = {
        **GROUP_HOSTS,
        "office_desktops": {
            "pc_anagrafe": {"ansible_host": "192.168.10.21"},
            "pc-tributi-01": {"ansible_port": 70000},
        },
    }

    problems = _problems(make_comune(hosts=hosts))

    name = _only(problems, "name")
    assert name.host == "pc_anagrafe"
    assert "invalid host name" in name.message
    port = _only(problems, "ansible_port")
    assert port.host == "pc-tributi-01"
    assert "(got 70000)" in port.message


def test_unknown_top_level_group_suggests(make_comune: MakeComune) -> None:
    hosts = {**GROUP_HOSTS, "vpn_gateway": {"gw-2": {}}}

    problem = _only(_problems(make_comune(hosts=hosts)), "all.children.vpn_gateway")

    assert problem.file == f"inventory/{SLUG}/hosts.yml"
    assert "unknown group 'vpn_gateway' (did you mean vpn_gateways?)" in problem.message
    assert (
        "allowed: endpoints, office_desktops, vpn_gateways, rd_gateways, meeting_servers, "
        "network_devices" in problem.message
    )


def test_the_former_group_name_netgear_is_refused_with_the_new_one(make_comune: MakeComune) -> None:
    devices = GROUP_HOSTS["network_devices"]
    hosts = {k: v for k, v in GROUP_HOSTS.items() if k != "network_devices"} | {"netgear": devices}
    files = make_comune(hosts=hosts)
    (files.dir / "group_vars" / "netgear").mkdir()

    problems = _problems(files)

    group = _only(problems, "all.children.netgear")
    assert group.file == f"inventory/{SLUG}/hosts.yml"
    assert "group 'netgear' is now called 'network_devices'" in group.message
    assert any(
        p.file.endswith("group_vars/netgear")
        and "rename this to group_vars/network_devices" in p.message
        for p in problems
    )


def test_yaml_syntax_error_gives_line_number(comune: ComuneFiles) -> None:
    comune.hosts_file.write_text(
        "all:\n  children:\n    endpoints:\n      hosts:\n        laptop-01: {ansible_port: 22\n",
        encoding="utf-8",
    )

    problems = _problems(comune)

    syntax = [p for p in problems if "YAML syntax error" in p.message]
    assert len(syntax) == 1
    assert syntax[0].file == f"inventory/{SLUG}/hosts.yml"
    assert "line 6 column 1" in syntax[0].message


def test_yaml_syntax_error_in_group_vars(comune: ComuneFiles) -> None:
    comune.settings_file.write_text('comune_name: "Castelnuovo\ncomune_slug: x\n', encoding="utf-8")

    problems = _problems(comune)

    assert problems[0].file == comune.rel(comune.settings_file)
    assert problems[0].message.startswith("YAML syntax error: line ")


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        ("children: {}\n", "", "single top-level key 'all'"),
        ("all: [a, b]\n", "all", "must be a mapping"),
        ("all:\n  childs: {}\n", "all", "unknown key 'childs'"),
        ("all:\n  vars:\n    comune_name: X\n", "all.vars", "group_vars/all/"),
        ("all:\n  children: [endpoints]\n", "all.children", "mapping of groups"),
        (
            "all:\n  children:\n    endpoints: [a]\n",
            "all.children.endpoints",
            "group must be a mapping",
        ),
        (
            "all:\n  children:\n    endpoints:\n      host: {}\n",
            "all.children.endpoints",
            "unknown key 'host'",
        ),
        (
            "all:\n  children:\n    endpoints:\n      hosts: [a]\n",
            "all.children.endpoints.hosts",
            "mapping",
        ),
    ],
)
def test_malformed_hosts_file(comune: ComuneFiles, text: str, field: str, needle: str) -> None:
    comune.hosts_file.write_text(text, encoding="utf-8")

    problems = [p for p in _problems(comune) if p.file == f"inventory/{SLUG}/hosts.yml"]

    assert len(problems) == 1, problems
    assert problems[0].field == field
    assert needle in problems[0].message


def test_host_directly_under_all_must_be_in_a_group(comune: ComuneFiles) -> None:
    comune.hosts_file.write_text(
        "all:\n  hosts:\n    stray-pc: {}\n"
        "  children:\n    vpn_gateways:\n      hosts:\n        gw-vpn-01:\n",
        encoding="utf-8",
    )

    problems = _problems(comune)

    assert [(p.host, p.file) for p in problems] == [("stray-pc", f"inventory/{SLUG}/hosts.yml")]
    assert "must belong to one of the groups" in problems[0].message


def test_host_variables_must_be_a_mapping(comune: ComuneFiles) -> None:
    comune.hosts_file.write_text(
        "all:\n  children:\n    vpn_gateways:\n      hosts:\n        gw-vpn-01: 203.0.113.10\n",
        encoding="utf-8",
    )

    problems = _problems(comune)

    hvars = [p for p in problems if p.host == "gw-vpn-01"]
    assert len(hvars) == 1
    assert hvars[0].message == "host variables must be a mapping"


def test_nested_children_as_list_is_an_inventory_error(comune: ComuneFiles) -> None:
    comune.hosts_file.write_text(
        "all:\n  children:\n    endpoints:\n      children:\n        - laptops\n", encoding="utf-8"
    )

    problem = _only(_problems(comune), "all.children.endpoints.children")

    assert problem.file == f"inventory/{SLUG}/hosts.yml"


def test_no_hosts_file(comune: ComuneFiles) -> None:
    comune.hosts_file.unlink()

    problems = _problems(comune)

    assert problems[0].file == f"inventory/{SLUG}"
    assert "no hosts file" in problems[0].message


def test_group_vars_and_host_vars_for_unknown_names(comune: ComuneFiles) -> None:
    (comune.dir / "group_vars" / "laptops.yml").write_text("x: 1\n", encoding="utf-8")
    (comune.dir / "host_vars").mkdir()
    (comune.dir / "host_vars" / "pc-fantasma.yml").write_text("x: 1\n", encoding="utf-8")
    (comune.dir / "host_vars" / "gw-vpn-01.yml").write_text("x: 1\n", encoding="utf-8")

    problems = _problems(comune)

    assert [(p.file, p.host) for p in problems] == [
        (f"inventory/{SLUG}/group_vars/laptops.yml", ""),
        (f"inventory/{SLUG}/host_vars/pc-fantasma.yml", "pc-fantasma"),
    ]


# --- broken settings ---------------------------------------------------------------------------


def test_missing_istat_code_names_file_and_field(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_istat_code": DROP})

    problems = _problems(files)

    assert [str(p) for p in problems] == [
        f"inventory/{SLUG}/group_vars/all/comune.yml: comune_istat_code: missing (required)"
    ]


@pytest.mark.parametrize(("yaml_value", "number"), [("999001", 999001), ("001272", 0o1272)])
def test_istat_as_unquoted_number(comune: ComuneFiles, yaml_value: str, number: int) -> None:
    # 001272 is read by YAML 1.1 as an octal number: exactly why the code must be quoted.
    _replace(
        comune.settings_file, 'comune_istat_code: "024058"', f"comune_istat_code: {yaml_value}"
    )

    problem = _only(_problems(comune), "comune_istat_code")

    assert problem.file == comune.rel(comune.settings_file)
    assert "must be a quoted 6-digit string" in problem.message
    assert f"(got {number})" in problem.message


def test_settings_problem_names_the_file_defining_the_key(comune: ComuneFiles) -> None:
    (comune.settings_file.parent / "rete.yml").write_text(
        "comune_dns_servers: [192.168.10.300]\n", encoding="utf-8"
    )

    problem = _only(_problems(comune), "comune_dns_servers")

    assert problem.file == f"inventory/{SLUG}/group_vars/all/rete.yml"


def test_settings_in_group_vars_all_yml(comune: ComuneFiles) -> None:
    text = comune.settings_file.read_text(encoding="utf-8")
    comune.settings_file.unlink()
    comune.settings_file.parent.rmdir()
    (comune.dir / "group_vars" / "all.yml").write_text(text, encoding="utf-8")

    assert _load(comune).settings.comune_slug == SLUG


def test_no_settings_at_all(comune: ComuneFiles) -> None:
    comune.settings_file.unlink()

    problems = _problems(comune)

    assert len(problems) == 1
    assert problems[0].file == f"inventory/{SLUG}/group_vars/all"
    assert "missing: comune settings" in problems[0].message


def test_group_vars_must_be_a_mapping(comune: ComuneFiles) -> None:
    (comune.settings_file.parent / "extra.yml").write_text("- a\n- b\n", encoding="utf-8")

    problems = _problems(comune)

    assert [(p.file, p.message) for p in problems] == [
        (f"inventory/{SLUG}/group_vars/all/extra.yml", "group variables must be a mapping")
    ]


def test_terminator_not_in_inventory(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_vpn_terminator": "gw-vpn-99"})

    problem = _only(_problems(files), "comune_vpn_terminator")

    assert problem.file == files.rel(files.settings_file)
    assert problem.message == "'gw-vpn-99' is not a host of this inventory"


@pytest.mark.parametrize("group", ["vpn_gateways", "network_devices"])
def test_terminator_in_vpn_gateways_or_netgear_is_valid(
    make_comune: MakeComune, group: str
) -> None:
    files = make_comune(
        settings={"comune_vpn_terminator": "router-01"},
        hosts={group: {"router-01": {"ansible_host": "192.168.10.1"}}},
    )

    assert _load(files).settings.comune_vpn_terminator == "router-01"


def test_terminator_in_wrong_group(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_vpn_terminator": "gw-rd-01"})

    problem = _only(_problems(files), "comune_vpn_terminator")

    assert problem.file == files.rel(files.settings_file)
    assert problem.message == "'gw-rd-01' must be in group vpn_gateways or network_devices"


def test_office_network_overlapping_vpn_pool(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_office_networks": ["192.168.10.0/24", "10.77.0.128/25"]})

    problem = _only(_problems(files), "comune_office_networks")

    assert problem.file == files.rel(files.settings_file)
    assert problem.message == "office network 10.77.0.128/25 overlaps the VPN pool 10.77.0.0/24"


def test_cross_check_names_the_file_defining_the_key(comune: ComuneFiles) -> None:
    # ansible.yml sorts before comune.yml: the error must still point at comune.yml.
    (comune.settings_file.parent / "ansible.yml").write_text(
        "ansible_user: admin\n", encoding="utf-8"
    )
    _replace(comune.settings_file, '"gw-vpn-01"', '"gw-vpn-99"')

    problem = _only(_problems(comune), "comune_vpn_terminator")

    assert problem.file == comune.rel(comune.settings_file)


@pytest.mark.parametrize(
    ("endpoint", "needle"),
    [
        ("vpn.example.it", "'vpn.example.it' must be host:port"),
        ("vpn.example.it:70000", "invalid port '70000' (1-65535)"),
    ],
)
def test_malformed_vpn_public_endpoint(make_comune: MakeComune, endpoint: str, needle: str) -> None:
    files = make_comune(settings={"comune_vpn_public_endpoint": endpoint})

    problem = _only(_problems(files), "comune_vpn_public_endpoint")

    assert problem.file == files.rel(files.settings_file)
    assert needle in problem.message
    assert f"(got '{endpoint}')" in problem.message


def test_meeting_url_not_https(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_meeting_url": "http://meet.castelnuovo.example.it"})

    problem = _only(_problems(files), "comune_meeting_url")

    assert problem.file == files.rel(files.settings_file)
    assert "https://" in problem.message
    assert "(got 'http://meet.castelnuovo.example.it')" in problem.message


def test_unknown_comune_key(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_meeting_urll": "https://meet.example.it"})

    problems = _problems(files)

    assert [str(p) for p in problems] == [
        f"inventory/{SLUG}/group_vars/all/comune.yml: comune_meeting_urll: unknown comune setting"
    ]


def test_comune_slug_not_matching_directory(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_slug": "montebello"})

    problems = _problems(files)

    assert len(problems) == 1
    line = str(problems[0])
    assert line.startswith(f"inventory/{SLUG}/group_vars/all/comune.yml: ")
    assert "comune_slug: 'montebello' does not match the directory name 'castelnuovo'" in line


def test_comune_slug_mismatch_names_the_field(make_comune: MakeComune) -> None:
    problem = _problems(make_comune(settings={"comune_slug": "montebello"}))[0]

    assert problem.field == "comune_slug"
    assert not problem.message.startswith("Value error")


def test_all_problems_are_reported_at_once(make_comune: MakeComune) -> None:
    hosts = {**GROUP_HOSTS, "rd_gateways": {"gw-rd-01": {"ansible_host": "10.0.0.300"}}}
    files = make_comune(
        hosts=hosts,
        settings={"comune_istat_code": DROP, "comune_meeting_url": "http://x.example.it"},
    )

    fields = sorted(p.field for p in _problems(files))

    assert fields == ["ansible_host", "comune_istat_code", "comune_meeting_url"]


# --- vault --------------------------------------------------------------------------------------


def test_vault_encrypted_file_is_recorded_not_parsed(comune: ComuneFiles) -> None:
    (comune.settings_file.parent / "vault.yml").write_text(VAULT_DOCUMENT, encoding="utf-8")

    inv = _load(comune)

    assert inv.vault_files == (f"inventory/{SLUG}/group_vars/all/vault.yml",)
    assert inv.settings.comune_slug == SLUG


def test_inline_vault_tag_is_accepted(comune: ComuneFiles) -> None:
    (comune.settings_file.parent / "secrets.yml").write_text(
        "baseline_admin_password: !vault |\n"
        "  $ANSIBLE_VAULT;1.1;AES256\n"
        "  39616366333838376465646335616166616236396632363735303461353838623135613262656230\n",
        encoding="utf-8",
    )
    _replace(
        comune.hosts_file,
        "ansible_host: 192.168.10.11",
        "ansible_host: 192.168.10.11\n          ansible_become_password: !vault |\n"
        "            $ANSIBLE_VAULT;1.1;AES256\n            3961\n"
        "          note: !unsafe '{{ not a template }}'",
    )

    inv = _load(comune)

    secret = inv.hosts["gw-rd-01"].variables["ansible_become_password"]
    assert isinstance(secret, VaultValue)
    assert secret.startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert inv.hosts["gw-rd-01"].variables["note"] == "{{ not a template }}"
    assert inv.vault_files == ()


def test_only_vault_encrypted_settings_reports_missing_keys(comune: ComuneFiles) -> None:
    comune.settings_file.write_text(VAULT_DOCUMENT, encoding="utf-8")

    with pytest.raises(InventoryError) as info:
        _load(comune)

    missing = {p.field for p in info.value.problems if p.message == "missing (required)"}
    assert {"comune_name", "comune_slug", "comune_istat_code"} <= missing


# --- meeting software -------------------------------------------------------------------------


def test_meeting_origin_with_a_path(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_meeting_extra_origins": ["https://media.example.it/x"]})

    problem = _only(_problems(files), "comune_meeting_extra_origins")

    assert problem.file == files.rel(files.settings_file)
    assert "'https://media.example.it/x' must be an origin https://host[:port]" in problem.message


def test_unknown_meeting_mode(make_comune: MakeComune) -> None:
    files = make_comune(settings={"comune_meeting_mode": "webapp"})

    problem = _only(_problems(files), "comune_meeting_mode")

    assert "'browser' or 'package'" in problem.message
    assert "(got 'webapp')" in problem.message


def test_host_meeting_mode_is_typed_from_host_vars(comune: ComuneFiles) -> None:
    (comune.dir / "host_vars").mkdir()
    (comune.dir / "host_vars" / "laptop-sindaco.yml").write_text(
        "meeting_client_mode: package\nmeeting_client_package_name: baresip\n", encoding="utf-8"
    )

    host = _load(comune).hosts["laptop-sindaco"]

    assert host.meeting_client_mode == "package"
    assert host.origins["meeting_client_mode"] == f"inventory/{SLUG}/host_vars/laptop-sindaco.yml"


def test_host_unknown_meeting_mode_names_file_host_field(comune: ComuneFiles) -> None:
    (comune.dir / "host_vars").mkdir()
    (comune.dir / "host_vars" / "laptop-sindaco.yml").write_text(
        "meeting_client_mode: zoom\n", encoding="utf-8"
    )

    problem = _only(_problems(comune), "meeting_client_mode")

    assert problem.host == "laptop-sindaco"
    assert problem.file == f"inventory/{SLUG}/host_vars/laptop-sindaco.yml"
    assert "(got 'zoom')" in problem.message


def test_host_package_url_without_checksum(comune: ComuneFiles) -> None:
    (comune.dir / "host_vars").mkdir()
    (comune.dir / "host_vars" / "laptop-sindaco.yml").write_text(
        "meeting_client_mode: package\nmeeting_client_package_source: url\n"
        "meeting_client_package_url: https://pkg.example.it/client.deb\n",
        encoding="utf-8",
    )

    problem = _only(_problems(comune), "meeting_client_package_checksum")

    assert problem.host == "laptop-sindaco"
    assert problem.file == f"inventory/{SLUG}/host_vars/laptop-sindaco.yml"
    assert "SHA-256" in problem.message


def test_the_management_host_must_be_a_linux_office_host(make_comune: MakeComune) -> None:
    problem = _only(
        _problems(make_comune(settings={"comune_management_host": "laptop-sindaco"})),
        "comune_management_host",
    )

    assert "'laptop-sindaco' must be a Linux office host of this inventory" in problem.message


def test_an_office_host_may_be_the_management_host(make_comune: MakeComune) -> None:
    inventory = _load(make_comune(settings={"comune_management_host": "gw-rd-01"}))

    assert inventory.settings.comune_management_host == "gw-rd-01"
