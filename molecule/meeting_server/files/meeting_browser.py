#!/usr/bin/env python3
"""Drive the meeting page in a running headless Chromium over the DevTools protocol.

Standard library only (the endpoint image has python3 and nothing else): a minimal WebSocket
client talks to Chromium's remote debugging port on 127.0.0.1 and evaluates JavaScript in the
page, the way a clerk's clicks and the browser's own WebRTC statistics would be seen.

  join   stdin {"display": ..., "pin": ...}: wait for the room page, type the name and the PIN,
         submit, wait until the page publishes (or is refused); print the page's state as JSON.
  stats  stdin {"feeds": 1, "wait": 30, "interval": 4}: wait until that many remote feeds receive
         video, then take getStats() of every peer connection twice, `interval` seconds apart;
         print both samples as JSON.

The PIN travels on stdin and over the loopback WebSocket only: never on a command line.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import sys
import urllib.request
from typing import Any
from urllib.parse import urlsplit

DEVTOOLS = "http://127.0.0.1:9222"
TIMEOUT_S = 90

JOIN = """
(async (display, pin) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const state = () => ({status: window.meeting ? window.meeting.status : "no page",
                        error: window.meeting ? window.meeting.error : null,
                        room: window.meeting ? window.meeting.room : null,
                        relayOnly: window.meeting ? window.meeting.relayOnly : null,
                        turnExpires: window.meeting ? window.meeting.turnExpires || null : null});
  for (let i = 0; i < 150 && !(window.meeting && window.meeting.status === "ready"); i++) {
    await sleep(200);
  }
  if (!(window.meeting && window.meeting.status === "ready")) {
    return state();
  }
  document.getElementById("display").value = display;
  document.getElementById("pin").value = pin;
  document.getElementById("join").requestSubmit();
  for (let i = 0; i < 300 && !["publishing", "refused", "error"].includes(window.meeting.status); i++) {
    await sleep(200);
  }
  return state();
})(%s, %s)
"""

STATS = """
(async (wanted, waitMs, intervalMs) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const pcOf = (handle) => handle && handle.webrtcStuff ? handle.webrtcStuff.pc : null;
  // The local candidate type of the pair the transport selected (host, srflx, relay).
  const candidateType = (stats) => {
    const byId = new Map();
    stats.forEach((s) => byId.set(s.id, s));
    let type = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) {
        const pair = byId.get(s.selectedCandidatePairId);
        const local = pair ? byId.get(pair.localCandidateId) : null;
        type = local ? local.candidateType : null;
      }
    });
    return type;
  };
  const sample = async () => {
    const feeds = {};
    for (const [id, feed] of Object.entries(window.meeting.feeds)) {
      const pc = pcOf(feed.handle);
      if (!pc) {
        continue;
      }
      const stats = await pc.getStats();
      const video = {display: feed.display, bytesReceived: 0, packetsReceived: 0, packetsLost: 0,
                     framesDecoded: 0, frameWidth: 0, frameHeight: 0};
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          video.bytesReceived += s.bytesReceived || 0;
          video.packetsReceived += s.packetsReceived || 0;
          video.packetsLost += s.packetsLost || 0;
          video.framesDecoded += s.framesDecoded || 0;
          video.frameWidth = s.frameWidth || 0;
          video.frameHeight = s.frameHeight || 0;
        }
      });
      video.candidateType = candidateType(stats);
      feeds[id] = video;
    }
    const publisher = {bytesSent: 0, framesEncoded: 0, candidateType: null};
    const pc = pcOf(window.meeting.publisher);
    if (pc) {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "video") {
          publisher.bytesSent += s.bytesSent || 0;
          publisher.framesEncoded += s.framesEncoded || 0;
        }
      });
      publisher.candidateType = candidateType(stats);
    }
    return {at: Date.now(), feeds: feeds, publisher: publisher};
  };
  let first = await sample();
  for (let waited = 0; waited < waitMs; waited += 500) {
    const receiving = Object.values(first.feeds).filter((f) => f.bytesReceived > 0 && f.framesDecoded > 0);
    if (receiving.length >= wanted) {
      break;
    }
    await sleep(500);
    first = await sample();
  }
  await sleep(intervalMs);
  const second = await sample();
  return {status: window.meeting.status, error: window.meeting.error, first: first, second: second};
})(%d, %d, %d)
"""


class WebSocket:
    """Just enough of RFC 6455 for a client: masked text frames out, text frames in."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=TIMEOUT_S)
        key = base64.b64encode(os.urandom(16)).decode()
        # No Origin header: Chromium accepts DevTools clients without one.
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the WebSocket handshake")
            response += chunk
        if b" 101 " not in response.split(b"\r\n", 1)[0]:
            raise ConnectionError(response.split(b"\r\n", 1)[0].decode(errors="replace"))
        self.buffer = response.split(b"\r\n\r\n", 1)[1]

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools closed the WebSocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def recv(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0x1, 0x0):
                message += payload
                if first & 0x80:
                    return message.decode()


def evaluate(expression: str) -> Any:
    """Evaluate an expression in the first page and return its (awaited) value."""
    with urllib.request.urlopen(f"{DEVTOOLS}/json/list", timeout=10) as response:
        targets = json.load(response)
    pages = [t for t in targets if t.get("type") == "page"]
    if not pages:
        raise RuntimeError("Chromium shows no page")
    ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
    ws.send(
        json.dumps(
            {
                "id": 1,
                "method": "Runtime.evaluate",
                "params": {"expression": expression, "awaitPromise": True, "returnByValue": True},
            }
        )
    )
    while True:
        reply = json.loads(ws.recv())
        if reply.get("id") == 1:
            break
    result = reply.get("result", {})
    if "exceptionDetails" in result:
        # The exception's description only: the expression (which may carry the PIN) stays out.
        details = result["exceptionDetails"]
        raise RuntimeError(details.get("exception", {}).get("description", details.get("text", "")))
    return result.get("result", {}).get("value")


def main() -> int:
    """Run the command named on the command line with its parameters from stdin."""
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    spec = json.load(sys.stdin)
    if command == "join":
        value = evaluate(JOIN % (json.dumps(spec["display"]), json.dumps(spec["pin"])))
    elif command == "stats":
        value = evaluate(
            STATS
            % (
                int(spec.get("feeds", 1)),
                int(spec.get("wait", 30)) * 1000,
                int(spec.get("interval", 4)) * 1000,
            )
        )
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(value, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
