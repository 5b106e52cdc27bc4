"""Webhook signatures, checked on the raw body in constant time.

Every check returns False (never raises) for a missing, malformed or wrong signature, and an
empty secret never verifies: an integration saved without a secret cannot be forged into
accepting anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def base64_hmac_matches(secret: str, body: bytes, provided: str | None) -> bool:
    """Shopify's and Refersion's form: base64 of HMAC-SHA256(secret, raw body)."""
    if not secret or not provided:
        return False
    try:
        given = base64.b64decode(provided.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac_sha256(secret, body), given)


def hex_hmac_matches(secret: str, message: bytes, provided: str | None) -> bool:
    """The generic postback's form: lowercase or uppercase hex of HMAC-SHA256."""
    if not secret or not provided:
        return False
    try:
        given = bytes.fromhex(provided.strip())
    except ValueError:
        return False
    return hmac.compare_digest(hmac_sha256(secret, message), given)


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of an HTTP Basic Authorization header, or None."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def secrets_match(expected: str, provided: str) -> bool:
    """Constant-time comparison of two shared secrets; an empty one never matches."""
    if not expected or not provided:
        return False
    return hmac.compare_digest(expected.encode(), provided.encode())


def canonical_parameters(pairs: Iterable[tuple[str, str]]) -> bytes:
    """The generic postback's signed string: every parameter except `signature`, sorted by name
    (then value), each `name=value` percent-encoded as RFC 3986 unreserved, joined by `&`."""
    items = sorted((name, value) for name, value in pairs if name != "signature")
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}"
                    for name, value in items).encode()
