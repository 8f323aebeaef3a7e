#!/usr/bin/env python3
"""Open an enrolment bundle page as its user would: in Chromium, type the passphrase (read from
standard input), press the button, then download every file the page offers into DIR.

Runs inside the lab's personal-PC container (standard library only). Chromium is driven over the
DevTools protocol on a pipe (--remote-debugging-pipe: commands on fd 3, replies on fd 4, JSON
messages ending in NUL), so nothing listens on a port. Prints the downloaded names as JSON.

usage: open_bundle.py PAGE DIR < passphrase
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEADLINE = 60.0


class Chromium:
    """Headless Chromium on a page, with a DevTools session on a pipe."""

    def __init__(self, page: Path, profile: str) -> None:
        commands_r, self._out = os.pipe()
        self._in, replies_w = os.pipe()
        # The child's ends go above 10 first, so that placing them on 3 and 4 cannot clobber.
        high_r = fcntl.fcntl(commands_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(replies_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(commands_r)
        os.close(replies_w)

        def place() -> None:
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                page.resolve().as_uri(),
            ],
            preexec_fn=place,  # noqa: PLW1509 - dup2 only, before exec
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(high_r)
        os.close(high_w)
        self._buffer = b""
        self._id = 0

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 65536)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        data: dict[str, Any] = json.loads(message)
        return data

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> int:
    page, target = Path(sys.argv[1]), Path(sys.argv[2])
    passphrase = sys.stdin.readline().strip()
    target.mkdir(parents=True, exist_ok=True)
    end = time.monotonic() + DEADLINE
    browser = Chromium(page, tempfile.mkdtemp(prefix="bundle-profile-"))
    try:
        browser.call(
            "Browser.setDownloadBehavior",
            behavior="allow",
            downloadPath=str(target.resolve()),
            eventsEnabled=True,
        )
        pages: list[dict[str, Any]] = []
        while not pages:
            infos = browser.call("Target.getTargets")["targetInfos"]
            pages = [t for t in infos if t["type"] == "page"]
            if time.monotonic() > end:
                raise RuntimeError("no page")
            time.sleep(0.2)
        session = browser.call("Target.attachToTarget", targetId=pages[0]["targetId"], flatten=True)

        def js(expression: str) -> Any:
            result = browser.call(
                "Runtime.evaluate",
                session["sessionId"],
                expression=expression,
                returnByValue=True,
                awaitPromise=True,
            )
            if "exceptionDetails" in result:
                raise RuntimeError(str(result["exceptionDetails"]))
            return result["result"].get("value")

        while js("document.readyState") != "complete":
            time.sleep(0.1)
        # Typed into the field as keystrokes would be, then the button pressed.
        js("document.getElementById('frase').focus()")
        browser.call("Input.insertText", session["sessionId"], text=passphrase)
        js("document.getElementById('apri').click()")
        while js("document.getElementById('contenuto').hidden"):
            error = js("document.getElementById('errore').textContent")
            if error:
                print(json.dumps({"error": error}))
                return 1
            if time.monotonic() > end:
                raise RuntimeError("the page did not open")
            time.sleep(0.2)
        names = js(
            "[...new Set(Array.from(document.querySelectorAll('a[data-file]'),"
            " a => a.dataset.file))]"
        )
        for name in names:
            js(f"document.querySelector('a[data-file={json.dumps(name)}]').click()")
        while not all((target / name).is_file() for name in names):
            if time.monotonic() > end:
                raise RuntimeError(f"downloads missing: {names}")
            time.sleep(0.2)
        print(json.dumps({"files": names}))
        return 0
    finally:
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
