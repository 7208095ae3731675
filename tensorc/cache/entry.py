"""The byte format of one store entry: a header that says what it is, then the payload.

    b"TCK2" | sha256(meta + payload) (32 bytes) | len(meta) (4 bytes, LE) | meta | payload

`meta` is a small JSON object (kind, def, sizes, backend: what `tensorc cache list` shows), so a
listing reads headers only. The digest covers both parts: a truncated or torn file is detected.
It is not a signature (anyone who can write the file can recompute it); the file's owner and mode
are what is trusted (trust.py).
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

MAGIC = b"TCK2"
_FIXED = len(MAGIC) + 32 + 4
META_MAX = 1 << 16


def encode(payload: bytes, meta: dict) -> bytes:
    blob = json.dumps(meta, sort_keys=True, default=str).encode()
    body = blob + payload
    return MAGIC + hashlib.sha256(body).digest() + struct.pack("<I", len(blob)) + body


def decode(data: bytes) -> tuple[dict, bytes] | None:
    """(meta, payload), or None for a file that is not an intact entry."""
    if len(data) < _FIXED or data[:4] != MAGIC:
        return None
    (size,) = struct.unpack("<I", data[36:40])
    body = data[_FIXED:]
    if size > min(META_MAX, len(body)) or hashlib.sha256(body).digest() != data[4:36]:
        return None
    try:
        meta = json.loads(body[:size])
    except ValueError:
        return None
    return (meta, body[size:]) if isinstance(meta, dict) else None


def read_meta(path: Path) -> dict | None:
    """The meta part of an entry file, read without its payload (not verified: for listings)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_FIXED)
            if len(head) < _FIXED or head[:4] != MAGIC:
                return None
            (size,) = struct.unpack("<I", head[36:40])
            meta = json.loads(f.read(min(size, META_MAX)))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None
