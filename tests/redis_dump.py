"""Everything a Redis holds, opened: for the tests that prove no secret is ever in the queue."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import zipfile
import zlib

from redis import Redis


def everything_in(redis: Redis) -> bytes:
    """Every key's value (strings, hashes, lists, sets, sorted sets, streams), with RQ's
    zlib-compressed job data and the zipped directories of ansible-runner streams opened."""
    blobs: list[bytes] = []
    for key in redis.scan_iter(count=1000):
        blobs.append(key)
        kind = redis.type(key)
        if kind == b"string":
            blobs.append(redis.get(key) or b"")
        elif kind == b"hash":
            blobs.extend(v for pair in redis.hgetall(key).items() for v in pair)
        elif kind == b"list":
            blobs.extend(redis.lrange(key, 0, -1))
        elif kind == b"set":
            blobs.extend(redis.smembers(key))
        elif kind == b"zset":
            blobs.extend(redis.zrange(key, 0, -1))
        elif kind == b"stream":
            # A worker's output comes in chunks: one blob, as runner's process reads it.
            entries = [fields for _id, fields in redis.xrange(key)]
            blobs.append(b"".join(f.get(b"d", b"") for f in entries))
            blobs.extend(v for f in entries for k, v in f.items() if k != b"d")
    opened = []
    for blob in blobs:
        opened.append(blob)
        with contextlib.suppress(zlib.error):  # RQ keeps a job's data zlib-compressed
            opened.append(zlib.decompress(blob))
        opened.extend(zipped(blob))
    return b"\n".join(opened)


def zipped(blob: bytes) -> list[bytes]:
    """Names and contents of the files of each zip in an ansible-runner stream (base64)."""
    found: list[bytes] = []
    at = 0
    while (start := blob.find(b'{"zipfile": ', at)) >= 0:
        end = blob.index(b"\n", start)
        size = json.loads(blob[start:end])["zipfile"]
        encoded = 4 * ((size + 2) // 3)
        raw = base64.b64decode(blob[end + 1 : end + 1 + encoded])
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for name in archive.namelist():
                found.extend((name.encode(), archive.read(name)))
        at = end + 1 + encoded
    return found
