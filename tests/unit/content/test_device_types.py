"""One vendor list: every place that names the network device vendors derives from, or is held
to, ``provisioner.models.inventory.DEVICE_TYPES``."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from provisioner.gear import PLATFORMS
from provisioner.models.inventory import DEVICE_TYPES

ROOT = Path(__file__).resolve().parents[3]
MODULE = ROOT / "plugins" / "modules" / "netgear_config.py"
ROLE_SPEC = ROOT / "roles" / "netgear" / "meta" / "argument_specs.yml"


def _module_documentation() -> dict[str, object]:
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            doc: dict[str, object] = yaml.safe_load(value)
            return doc
    raise AssertionError("no DOCUMENTATION in the module")


def test_the_gear_platforms_are_the_vendor_list() -> None:
    assert set(PLATFORMS) == set(DEVICE_TYPES)


def test_the_module_documents_exactly_the_vendor_list() -> None:
    options = _module_documentation()["options"]
    assert isinstance(options, dict)
    assert options["device_type"]["choices"] == list(DEVICE_TYPES)


def test_the_role_argument_spec_offers_exactly_the_vendor_list() -> None:
    spec = yaml.safe_load(ROLE_SPEC.read_text(encoding="utf-8"))
    device_type = spec["argument_specs"]["main"]["options"]["netgear_device_type"]
    assert device_type["choices"] == list(DEVICE_TYPES)


def test_the_simulated_devices_cover_exactly_the_vendor_list() -> None:
    from provisioner.fakegear.devices import DEVICE_CLASSES  # noqa: PLC0415

    assert set(DEVICE_CLASSES) == set(DEVICE_TYPES)
