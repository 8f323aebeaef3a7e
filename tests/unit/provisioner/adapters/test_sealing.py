"""Bundles' cryptography: key pairs in memory, passphrases, the sealed box, the QR code."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from provisioner.adapters import sealing


def test_a_key_pair_is_wireguards_and_its_private_half_is_never_shown() -> None:
    keys = sealing.wireguard_keypair()

    private = X25519PrivateKey.from_private_bytes(base64.b64decode(keys.private))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b64encode(public).decode() == keys.public
    assert keys.private not in repr(keys)
    assert sealing.wireguard_keypair().private != keys.private


def test_passphrases_are_100_bits_in_groups_and_read_in_any_case() -> None:
    phrase = sealing.passphrase()

    groups = phrase.split("-")
    assert len(groups) == 4 and all(len(g) == 5 for g in groups)
    assert set(phrase.replace("-", "")) <= set(sealing.PASSPHRASE_ALPHABET)
    assert sealing.canonical(f" {phrase.upper().replace('-', ' ')} ") == phrase.replace("-", "")


def test_a_box_opens_with_its_passphrase_only_and_not_once_altered() -> None:
    box = sealing.seal(b"[Interface]\n", "abcde-fghjk", iterations=1000)

    assert sealing.unseal(box, "ABCDE FGHJK") == b"[Interface]\n"
    assert box.as_dict()["kdf"] == "PBKDF2-SHA256" and box.as_dict()["iterations"] == 1000
    with pytest.raises(sealing.SealError):
        sealing.unseal(box, "abcde-fghjm")
    data = bytearray(base64.b64decode(box.data))
    data[0] ^= 1
    altered = dataclasses.replace(box, data=base64.b64encode(bytes(data)).decode())
    with pytest.raises(sealing.SealError):
        sealing.unseal(altered, "abcde-fghjk")


def test_two_boxes_of_the_same_text_share_nothing() -> None:
    first, second = (sealing.seal(b"same", "p", iterations=1000) for _ in range(2))
    assert (first.salt, first.iv, first.data) != (second.salt, second.iv, second.data)


def test_the_qr_code_is_a_png() -> None:
    png = sealing.qr_png("[Interface]\nPrivateKey = x\n")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200
