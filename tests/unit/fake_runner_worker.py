"""Stands in for ``ansible-runner worker`` in the queue's unit tests (a real one needs hosts).

Usage: fake_runner_worker.py RECORD EVENTS MODE --private-data-dir DIR --delete

Reads the job stream on stdin like runner's worker (its kwargs line, the zipped private data
dir, eof), records what it got in RECORD (JSON), then answers like runner's worker: status
lines, the events of EVENTS (a JSON list), the artifacts zip (rc) and eof. MODE ``hang`` waits
for SIGTERM after the events (then says ``canceled``); ``die`` exits without ending the stream.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from ansible_runner.utils.streaming import stream_dir, unstream_dir


def main() -> None:
    record, events, mode = sys.argv[1:4]
    data_dir = Path(sys.argv[sys.argv.index("--private-data-dir") + 1])
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminated.set())
    source = sys.stdin.buffer
    kwargs = json.loads(source.readline())["kwargs"]
    files: list[str] = []
    while True:
        line = json.loads(source.readline())
        if "zipfile" in line:
            unstream_dir(source, line["zipfile"], str(data_dir))
            files = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())
        elif "eof" in line:
            break
    Path(record).write_text(json.dumps({"kwargs": kwargs, "files": files}), encoding="utf-8")
    out = sys.stdout.buffer

    def say(doc: dict[str, object]) -> None:
        out.write(json.dumps(doc).encode() + b"\n")
        out.flush()

    say({"status": "starting", "runner_ident": "ansible"})
    say({"status": "running", "runner_ident": "ansible"})
    for event in json.loads(Path(events).read_text(encoding="utf-8")):
        say(event)
    if mode == "die":
        sys.exit(3)
    status, rc = "successful", 0
    if mode == "hang":
        terminated.wait(30)
        status, rc = "canceled", 254
    artifacts = data_dir / "artifacts" / "ansible"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "rc").write_text(str(rc), encoding="utf-8")
    say({"status": status, "runner_ident": "ansible"})
    stream_dir(str(artifacts), out)
    out.flush()
    say({"eof": True})


if __name__ == "__main__":
    main()
