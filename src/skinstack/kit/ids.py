"""Ids made in the process: time-ordered click ids (UUIDv7) in a short URL-safe form.

A click id is a UUIDv7 (48-bit Unix milliseconds, then random bits), so ids sort by time and
the database can find a click's month partition from the id alone. In URLs it travels as 22
base62 characters (0-9A-Za-z, which sort like the numbers they encode).
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(ALPHABET)}
CLICK_ID_LENGTH = 22


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= secrets.randbits(12) << 64
    value |= 0b10 << 62  # RFC 9562 variant
    value |= secrets.randbits(62)
    return uuid.UUID(int=value)


def encode(value: uuid.UUID) -> str:
    number = value.int
    chars = []
    for _ in range(CLICK_ID_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def decode(text: str) -> uuid.UUID:
    """The UUID of a 22-character click id; ValueError for anything else."""
    if len(text) != CLICK_ID_LENGTH:
        raise ValueError("a click id has 22 characters")
    number = 0
    for char in text:
        try:
            number = number * 62 + _INDEX[char]
        except KeyError:
            raise ValueError("a click id is base62") from None
    if number >> 128:
        raise ValueError("out of range")
    return uuid.UUID(int=number)


def new_click_id() -> tuple[uuid.UUID, str]:
    """(uuid for the database, short form for the URL)."""
    value = uuid7()
    return value, encode(value)


def timestamp(value: uuid.UUID) -> datetime:
    """When a UUIDv7 was made (millisecond precision)."""
    return datetime.fromtimestamp((value.int >> 80) / 1000, tz=UTC)
