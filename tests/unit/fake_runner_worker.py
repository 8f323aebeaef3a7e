"""Stands in for ``ansible-runner worker`` in the queue's unit tests (a real one needs hosts).

Usage: fake_runner_worker.py RECORD EVENTS MODE --private-data-dir DIR --delete

Reads the job stream on stdin like runner's worker (its kwargs line, the zipped private data
dir, eof), records what it got in RECORD (JSON), then answers like runner's worker: status
lines, the events of EVENTS (a JSON list), the artifacts zip (rc) and eof. MODE ``hang`` waits
after the events for what stops a real one: the run's cancel file (``PROVISIONER_CANCEL_FILE``
of its envvars; then it prints the strategy's stop line and fails, as Ansible does) or SIGTERM
(then says ``canceled``, as runner does); ``die`` exits without ending the stream.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from ansible_runner.utils.streaming import stream_dir, unstream_dir

# What plugins/strategy/provisioner_linear.py prints when it stops (written out, not imported).
STOP_LINE = "provisioner: cancel requested: no new task starts"


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
        cancel_file = Path(kwargs["envvars"]["PROVISIONER_CANCEL_FILE"])
        for _ in range(600):
            if terminated.wait(0.05) or cancel_file.exists():
                break
        if terminated.is_set():
            status, rc = "canceled", 254
        elif cancel_file.exists():
            say({"event": "verbose", "counter": 900, "uuid": "stop", "stdout": STOP_LINE})
            status, rc = "failed", 2
    artifacts = data_dir / "artifacts" / "ansible"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "rc").write_text(str(rc), encoding="utf-8")
    say({"status": status, "runner_ident": "ansible"})
    stream_dir(str(artifacts), out)
    out.flush()
    say({"eof": True})


if __name__ == "__main__":
    main()
