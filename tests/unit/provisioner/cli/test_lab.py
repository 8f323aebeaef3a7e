"""`provisioner lab image`: both lab images named, built or present."""

from __future__ import annotations

import pytest

from provisioner.core.lab import IMAGE, IMAGE_BOOKWORM, Lab
from tests.unit.provisioner.cli.conftest import Cli


def test_lab_image_names_each_image(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    built = {IMAGE: False, IMAGE_BOOKWORM: True}
    monkeypatch.setattr(Lab, "ensure_images", lambda _self: built)

    result = cli("lab", "image")

    assert result.exit_code == 0, result.output
    assert f"{IMAGE}: present" in result.output
    assert f"{IMAGE_BOOKWORM}: built" in result.output
