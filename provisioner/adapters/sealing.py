"""Enrolment bundles' cryptography: a WireGuard key pair made in memory, a one-time passphrase,
the sealed box a bundle page opens in the browser (PBKDF2-SHA256 and AES-256-GCM: WebCrypto's own
algorithms) and the QR code of a WireGuard configuration.

Nothing here writes a file: keys, passphrases and plaintexts live in memory only.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
from dataclasses import dataclass, field

import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ITERATIONS = 600_000
"""PBKDF2-HMAC-SHA256 rounds (OWASP's figure for SHA-256): about half a second in a browser."""
PASSPHRASE_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
"""Crockford's base32 in lower case: no i, l, o or u to mistake when read over the phone."""
PASSPHRASE_GROUPS = 4
PASSPHRASE_GROUP_LENGTH = 5
"""Four groups of five characters: 100 bits, beyond guessing even without the slow KDF."""
_SALT_BYTES = 16
_IV_BYTES = 12
_NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]")


class SealError(Exception):
    """A sealed box that this passphrase does not open (or that was altered)."""


@dataclass(frozen=True)
class KeyPair:
    """A WireGuard key pair, base64 as ``wg genkey`` and ``wg pubkey`` print them."""

    private: str = field(repr=False)
    public: str


@dataclass(frozen=True)
class SealedBox:
    """What the bundle page carries: everything but the passphrase, base64."""

    salt: str
    iv: str
    data: str
    iterations: int = ITERATIONS

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, as the page's script reads it."""
        return {
            "v": 1,
            "kdf": "PBKDF2-SHA256",
            "cipher": "AES-256-GCM",
            "iterations": self.iterations,
            "salt": self.salt,
            "iv": self.iv,
            "data": self.data,
        }


def wireguard_keypair() -> KeyPair:
    """A new X25519 key pair (what ``wg genkey | wg pubkey`` makes), in memory only."""
    key = X25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KeyPair(_b64(private), _b64(public))


def passphrase() -> str:
    """A one-time passphrase: ``k7m2q-9xw4r-tb3hv-n8p6c`` (groups for reading it aloud)."""
    return "-".join(
        "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(PASSPHRASE_GROUP_LENGTH))
        for _ in range(PASSPHRASE_GROUPS)
    )


def canonical(text: str) -> str:
    """The passphrase as the key is derived from it: lower case, letters and digits only.

    The page does the same, so ``K7M2Q 9XW4R ...`` typed on a phone opens it too.
    """
    return _NOT_ALPHANUMERIC.sub("", text.lower())


def _key(phrase: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", canonical(phrase).encode("ascii"), salt, iterations, 32)


def seal(plaintext: bytes, phrase: str, *, iterations: int = ITERATIONS) -> SealedBox:
    """Encrypt ``plaintext`` with a key derived from ``phrase`` (random salt and IV)."""
    salt, iv = secrets.token_bytes(_SALT_BYTES), secrets.token_bytes(_IV_BYTES)
    data = AESGCM(_key(phrase, salt, iterations)).encrypt(iv, plaintext, None)
    return SealedBox(_b64(salt), _b64(iv), _b64(data), iterations)


def unseal(box: SealedBox, phrase: str) -> bytes:
    """The plaintext of a box (what the page does in the browser).

    Raises:
        SealError: wrong passphrase, or the box was altered.
    """
    salt, iv, data = (base64.b64decode(v) for v in (box.salt, box.iv, box.data))
    try:
        return AESGCM(_key(phrase, salt, box.iterations)).decrypt(iv, data, None)
    except InvalidTag:
        raise SealError("wrong passphrase, or the bundle was altered") from None


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` as PNG, sized for a phone's camera from a screen or paper."""
    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=6, border=4)
    return out.getvalue()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
