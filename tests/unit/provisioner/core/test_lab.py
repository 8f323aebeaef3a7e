"""Lab sizing: laptops, their ports and addresses never collide; the size is remembered."""

from __future__ import annotations

import pytest

from provisioner.config import Settings
from provisioner.core.lab import LAB_HOSTS, MAX_LAPTOPS, UNMANAGED, Lab, lab_hosts
from provisioner.errors import InputError
from provisioner.fakegear.lab import LAB_GEAR


def test_default_lab_has_two_laptops() -> None:
    assert [h.name for h in LAB_HOSTS if h.group == "endpoints"] == ["laptop-01", "laptop-02"]


def test_ports_and_addresses_are_unique_up_to_the_maximum() -> None:
    hosts = (*lab_hosts(MAX_LAPTOPS), *UNMANAGED)
    # The simulated devices listen on port base + 41, 42, 43.
    offsets = [h.port_offset for h in hosts] + [41 + i for i in range(len(LAB_GEAR))]
    addresses = [a for h in hosts for a in h.networks.values()]
    assert len(set(offsets)) == len(offsets)
    assert len(set(addresses)) == len(addresses)
    assert lab_hosts(3)[-1].port_offset == 13


def test_size_is_validated_and_remembered(settings: Settings) -> None:
    with pytest.raises(InputError, match="--laptops: 0 is not between 1"):
        Lab(settings, 0)
    assert Lab(settings).laptops == 2
    lab = Lab(settings, 3)
    lab.dir.mkdir(parents=True)
    lab.size_file.write_text("3\n")
    assert [h.name for h in Lab(settings).hosts][-1] == "laptop-03"
