"""Write requirements.lock: every pinned package of constraints.txt with its SHA-256 hash.

Run by `make lock` after constraints.txt changed. It asks pip itself which files it would
install here (`pip install --dry-run --report`, resolved against constraints.txt) and takes the
hash of each from that report. The lock is for this project's platform: CPython 3.11 on
x86_64 Linux (manylinux wheels); another platform picks other wheels and needs its own lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Installed by the lock too (the editable install builds with setuptools from the venv).
TOOLS = ("pip", "setuptools", "wheel")


def main() -> int:
    pins = {
        line.split("==")[0].lower(): line.strip()
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    tools = [pins.get(name, name) for name in TOOLS]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
                "--ignore-installed", "--report", str(report),
                "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[dev,bench]", *tools,
            ],
            check=True,
        )  # fmt: skip
        resolved = json.loads(report.read_text(encoding="utf-8"))["install"]
    lines = [
        "# Written by `make lock` (tools/lock.py) from constraints.txt: exact files, by SHA-256,",
        "# for CPython 3.11 on x86_64 Linux. Installed with pip install --require-hashes.",
    ]
    for item in sorted(resolved, key=lambda i: str(i["metadata"]["name"]).lower()):
        info = item["download_info"]
        if info.get("dir_info", {}).get("editable"):
            continue  # the project itself
        hashes = info.get("archive_info", {}).get("hashes") or {}
        if "sha256" not in hashes:
            print(f"lock: no sha256 for {info.get('url')}", file=sys.stderr)
            return 1
        meta = item["metadata"]
        lines.append(f"{meta['name']}=={meta['version']} \\")
        lines.append(f"    --hash=sha256:{hashes['sha256']}")
    (ROOT / "requirements.lock").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"requirements.lock: {len(resolved) - 1} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
