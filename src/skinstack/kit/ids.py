"""Ids made in the process: time-ordered click ids (UUIDv7) in a short URL-safe form.

A click id is a UUIDv7 (48-bit Unix milliseconds, then random bits), so ids sort by time in the
database and a click's month partition follows from the id alone. In URLs it travels as the
UUID's 16 bytes in unpadded base64url: 22 characters of [A-Za-z0-9_-], safe in any query
string without escaping. (Slugs use base62; see ALPHABET.)
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from datetime import UTC, datetime

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CLICK_ID_LENGTH = 22


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= secrets.randbits(12) << 64
    value |= 0b10 << 62  # RFC 9562 variant
    value |= secrets.randbits(62)
    return uuid.UUID(int=value)


_CLICK_ID = re.compile(r"^[A-Za-z0-9_-]{21}[AQgw]$")  # the last char carries 2 bits


def encode(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes)[:CLICK_ID_LENGTH].decode()


def decode(text: str) -> uuid.UUID:
    """The UUID of a 22-character click id; ValueError for anything else."""
    if not _CLICK_ID.match(text):
        raise ValueError("not a click id")
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))


def new_click_id() -> tuple[uuid.UUID, str]:
    """(uuid for the database, short form for the URL)."""
    value = uuid7()
    return value, encode(value)


def timestamp(value: uuid.UUID) -> datetime:
    """When a UUIDv7 was made (millisecond precision)."""
    return datetime.fromtimestamp((value.int >> 80) / 1000, tz=UTC)
