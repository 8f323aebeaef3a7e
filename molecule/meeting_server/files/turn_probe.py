#!/usr/bin/env python3
"""A TURN client (RFC 5766 over UDP, standard library only): allocate, ask permissions, release.

Reads one JSON object on stdin (credentials never go on a command line):
  {"server": "10.0.0.1", "port": 3478, "peers": ["10.0.0.1", "10.0.0.9"],
   "username": "...", "credential": "..."}           credentials as a browser got them
  or {"secret": "...", "expires_in": -60, ...}       mint REST credentials here (e.g. expired ones)
Prints {"allocate": {"ok", "error", "relayed"}, "permissions": {peer: {"ok", "error"}}} as JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time

MAGIC = 0x2112A442
ALLOCATE, REFRESH, CREATE_PERMISSION = 0x0003, 0x0004, 0x0008
SUCCESS, ERROR = 0x0100, 0x0110
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE = 0x0006, 0x0008, 0x0009
LIFETIME, XOR_PEER_ADDRESS, REALM, NONCE = 0x000D, 0x0012, 0x0014, 0x0015
XOR_RELAYED_ADDRESS, REQUESTED_TRANSPORT = 0x0016, 0x0019
UDP = 17


def attribute(kind: int, value: bytes) -> bytes:
    """One STUN attribute, padded to 4 bytes."""
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def xor_address(ip: str, port: int) -> bytes:
    """An XOR-PEER-ADDRESS value (IPv4)."""
    packed = struct.unpack("!I", socket.inet_aton(ip))[0] ^ MAGIC
    return struct.pack("!BBHI", 0, 1, port ^ (MAGIC >> 16), packed)


class Turn:
    """A TURN allocation's client side with long-term credentials."""

    def __init__(self, server: str, port: int, username: str, password: str) -> None:
        self.address = (server, port)
        self.username = username
        self.password = password
        self.realm = b""
        self.nonce = b""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2)

    def _message(self, method: int, attributes: bytes, *, auth: bool) -> tuple[bytes, bytes]:
        transaction = os.urandom(12)
        if auth:
            attributes += attribute(USERNAME, self.username.encode())
            attributes += attribute(REALM, self.realm) + attribute(NONCE, self.nonce)
            header = struct.pack("!HHI", method, len(attributes) + 24, MAGIC) + transaction
            key = hashlib.md5(
                self.username.encode() + b":" + self.realm + b":" + self.password.encode()
            ).digest()
            digest = hmac.new(key, header + attributes, hashlib.sha1).digest()
            attributes += attribute(MESSAGE_INTEGRITY, digest)
        header = struct.pack("!HHI", method, len(attributes), MAGIC) + transaction
        return header + attributes, transaction

    def request(self, method: int, attributes: bytes, *, auth: bool = True) -> tuple[int, dict[int, bytes]]:
        """Send a request (retransmitted like STUN does) and return (class, attributes)."""
        message, transaction = self._message(method, attributes, auth=auth)
        for _ in range(4):
            self.sock.sendto(message, self.address)
            try:
                while True:
                    data, _peer = self.sock.recvfrom(2048)
                    kind, length, _cookie = struct.unpack("!HHI", data[:8])
                    if data[8:20] == transaction:
                        break
            except TimeoutError:
                continue
            attrs: dict[int, bytes] = {}
            offset = 20
            while offset < 20 + length:
                atype, alen = struct.unpack("!HH", data[offset : offset + 4])
                attrs[atype] = data[offset + 4 : offset + 4 + alen]
                offset += 4 + alen + (-alen % 4)
            return kind & 0x0110, attrs
        raise TimeoutError(f"no answer from {self.address[0]}:{self.address[1]}")

    def authenticated(self, method: int, attributes: bytes) -> tuple[bool, int | None, dict[int, bytes]]:
        """A request with credentials; a 401 or 438 (stale nonce) answer first fetches realm and nonce."""
        for _ in range(2):
            klass, attrs = self.request(method, attributes, auth=bool(self.nonce))
            if klass == SUCCESS:
                return True, None, attrs
            code = error_code(attrs)
            if code in (401, 438) and REALM in attrs and NONCE in attrs and attrs[NONCE] != self.nonce:
                self.realm, self.nonce = attrs[REALM], attrs[NONCE]
                continue
            return False, code, attrs
        return False, error_code(attrs), attrs


def error_code(attrs: dict[int, bytes]) -> int | None:
    """The ERROR-CODE attribute as a number (e.g. 401)."""
    value = attrs.get(ERROR_CODE)
    return None if value is None else (value[2] & 0x7) * 100 + value[3]


def relayed(attrs: dict[int, bytes]) -> str:
    """The XOR-RELAYED-ADDRESS attribute as ip:port."""
    value = attrs[XOR_RELAYED_ADDRESS]
    port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC >> 16)
    ip = socket.inet_ntoa(struct.pack("!I", struct.unpack("!I", value[4:8])[0] ^ MAGIC))
    return f"{ip}:{port}"


def main() -> int:
    """Run the probe described on stdin."""
    spec = json.load(sys.stdin)
    username, password = spec.get("username"), spec.get("credential")
    if "secret" in spec:
        username = f"{int(time.time()) + int(spec['expires_in'])}:probe"
        password = base64.b64encode(
            hmac.new(spec["secret"].encode(), username.encode(), hashlib.sha1).digest()
        ).decode()
    turn = Turn(spec["server"], int(spec.get("port", 3478)), username, password)
    ok, code, attrs = turn.authenticated(ALLOCATE, attribute(REQUESTED_TRANSPORT, bytes([UDP, 0, 0, 0])))
    report: dict[str, object] = {
        "username_expiry": int(username.split(":")[0]),
        "allocate": {"ok": ok, "error": code, "relayed": relayed(attrs) if ok else None},
        "permissions": {},
    }
    if ok:
        permissions: dict[str, object] = {}
        for peer in spec.get("peers", []):
            granted, code, _ = turn.authenticated(CREATE_PERMISSION, attribute(XOR_PEER_ADDRESS, xor_address(peer, 9)))
            permissions[peer] = {"ok": granted, "error": code}
        report["permissions"] = permissions
        turn.authenticated(REFRESH, attribute(LIFETIME, struct.pack("!I", 0)))
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
