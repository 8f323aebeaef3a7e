#!/usr/bin/env python3
"""Make sure the Debian 12 image for the meeting server exists: the lab image's recipe, bookworm.

Janus is packaged by Debian 12 only; the lab's own image (Debian 13) is left alone. Prints
"present" or "built". Run with the project's Python (it imports provisioner).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from provisioner.adapters.podman import Podman

IMAGE = "localhost/provisioner-lab:bookworm"


def main() -> int:
    """Build the image unless it exists and was built by the current recipe."""
    podman = Podman(Path(os.environ["CONTAINERS_CONF"]))
    if podman.image_exists(IMAGE):
        print("present")
        return 0
    podman.build_image(IMAGE, Path(sys.argv[1]), suite="bookworm")
    print("built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
