"""The private Redis of the tests and benchmarks: what its files hold (the lab test starts one)."""

from __future__ import annotations

import hashlib

from provisioner.adapters import redis_server


def test_the_acl_file_holds_the_passwords_hash_never_the_password() -> None:
    text = redis_server.acl("pw-canary-1")

    assert "pw-canary-1" not in text
    assert f"#{hashlib.sha256(b'pw-canary-1').hexdigest()}" in text
    assert text.startswith("user default off\n")
    assert "~rq:* ~provisioner:*" in text and "-@dangerous" in text
