"""Ids made in the process: time-ordered click ids (UUIDv7) in a short URL-safe form.

A click id is a UUIDv7 (48-bit Unix milliseconds, then random bits), so ids sort by time in the
database and a click's month partition follows from the id alone. In URLs it travels as the
UUID's 16 bytes in unpadded base64url: 22 characters of [A-Za-z0-9_-], safe in any query
string without escaping. (Slugs use base62; see ALPHABET.)

The random bits come from the kernel's CSPRNG (os.urandom, as `secrets` does), read in blocks
of POOL_BYTES rather than with one system call per id: on the redirect that is two ids (click,
device) per request. The pool is per thread and emptied in a forked child.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CLICK_ID_LENGTH = 22
POOL_BYTES = 4096


class _Pool(threading.local):
    data = b""
    at = 0


_pool = _Pool()


def _empty_pool() -> None:
    _pool.data, _pool.at = b"", 0


os.register_at_fork(after_in_child=_empty_pool)  # a child never repeats its parent's bytes


def random_bytes(count: int) -> bytes:
    """`count` (≤ POOL_BYTES) bytes from os.urandom, each handed out once."""
    pool = _pool
    start = pool.at
    end = start + count
    if end > len(pool.data):
        pool.data, start, end = os.urandom(POOL_BYTES), 0, count
    pool.at = end
    return pool.data[start:end]


def random_token(count: int = 16) -> str:
    """`count` random bytes in unpadded base64url (secrets.token_urlsafe's form)."""
    return _b64url(random_bytes(count)).rstrip("=")


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_RANDOM_BITS = (0xFFF << 64) | ((1 << 62) - 1)  # rand_a (12 bits) and rand_b (62 bits)
_VERSION_VARIANT = (0x7 << 76) | (0b10 << 62)


def _b64url(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode()


def uuid7_bytes(now_ms: int | None = None) -> bytes:
    """A UUIDv7's 16 bytes: 48-bit Unix milliseconds, version 7, 74 random bits, variant 10."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80 | _VERSION_VARIANT
             | int.from_bytes(random_bytes(10)) & _RANDOM_BITS)
    return value.to_bytes(16)


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    return uuid.UUID(bytes=uuid7_bytes(now_ms))


_CLICK_ID = re.compile(r"^[A-Za-z0-9_-]{21}[AQgw]$")  # the last char carries 2 bits


def encode(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes)[:CLICK_ID_LENGTH].decode()


def decode(text: str) -> uuid.UUID:
    """The UUID of a 22-character click id; ValueError for anything else."""
    if not _CLICK_ID.match(text):
        raise ValueError("not a click id")
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))


def new_click_id(now_ms: int | None = None) -> tuple[bytes, str]:
    """(the UUID's 16 bytes, for the database; the short form, for the URL)."""
    raw = uuid7_bytes(now_ms)
    return raw, _b64url(raw)[:CLICK_ID_LENGTH]


def timestamp(value: uuid.UUID) -> datetime:
    """When a UUIDv7 was made (millisecond precision)."""
    return datetime.fromtimestamp((value.int >> 80) / 1000, tz=UTC)


def made_at(value: uuid.UUID) -> datetime | None:
    """When a click id says it was made; None when its bits hold no usable time (an id we
    could not have made)."""
    try:
        return timestamp(value)
    except (ValueError, OverflowError, OSError):
        return None


CLOCK_SLACK = timedelta(minutes=5)
"""How far a click row's `clicked_at` may be from the time inside its id: the bounds that
narrow a lookup by id to its month's partition."""
