"""Password hashing (argon2id via pwdlib) and access tokens (PyJWT, HS256 pinned)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

ALGORITHM = "HS256"
ISSUER = "skinstack"
AUDIENCE = "skinstack-api"

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the email is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("skinstack-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Checks `password`; returns (ok, new hash when the stored one uses outdated parameters).

    With no stored hash it still does the full argon2 work and answers False.
    """
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False, None
    return _hasher.verify_and_update(password, password_hash)


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    role: str


class InvalidToken(Exception):
    pass


def create_access_token(*, user_id: uuid.UUID, role: str, secret: str,
                        expires_in: timedelta, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    payload = {
        "sub": str(user_id),
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "nbf": issued,
        "exp": issued + expires_in,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> TokenClaims:
    """Verifies signature (HS256 only), expiry, issuer and audience; raises InvalidToken."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=5,
        )
        return TokenClaims(user_id=uuid.UUID(payload["sub"]), role=str(payload.get("role")))
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc
