"""Secrets at rest (MultiFernet) and keyed hashes that stand in for IPs and emails."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from skinstack.config import get_settings


@lru_cache
def _vault() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in get_settings().fernet_keys()])


def encrypt(plaintext: str) -> bytes:
    """Encrypts with the newest key; older keys still decrypt (rotation)."""
    return _vault().encrypt(plaintext.encode())


def decrypt(token: bytes) -> str:
    try:
        return _vault().decrypt(bytes(token)).decode()
    except InvalidToken as exc:  # a key was removed before its data was rotated
        raise RuntimeError("cannot decrypt a stored secret: is ENCRYPTION_KEYS complete?") from exc


def rotate(token: bytes) -> bytes:
    """Re-encrypts with the newest key (for a rotation job)."""
    return _vault().rotate(bytes(token))


@lru_cache
def _hash_key() -> bytes:
    return get_settings().pii_hash_key()


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 (hex) of `value` under HASH_KEY: stable for matching, not reversible."""
    return hmac.new(_hash_key(), value.encode(), hashlib.sha256).hexdigest()
