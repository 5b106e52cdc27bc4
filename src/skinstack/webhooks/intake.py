"""The inbox's front door: find the integration, verify on the raw body, store, enqueue.

A delivery is accepted only when its signature verifies against the secret of the merchant's
own integration (found by the shop domain, Impact account id, Refersion key or postback key;
never "the first merchant"). Accepted deliveries are inserted with ON CONFLICT (source,
external_id) DO NOTHING and their processing job is enqueued by the same statement, so the
event exists if and only if its job does, and a repeat changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.conversions import normalise
from skinstack.errors import AppError, InvalidInput
from skinstack.kit import crypto, signatures
from skinstack.kit.schemas import has_nul
from skinstack.models import MerchantIntegration

PROCESS_TASK = "process_webhook_event"
QUEUE = "webhooks"
POSTBACK_MAX_SKEW_SECONDS = 300
CREDENTIAL_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "x-shopify-hmac-sha256",
    "refersion-signature", "x-signature",
    # Client addresses are personal data; the inbox keeps none.
    "x-forwarded-for", "x-real-ip", "forwarded", "cf-connecting-ip", "true-client-ip",
})


class BadSignature(AppError):
    """One answer for an unknown account, a missing signature and a wrong one, so a caller
    cannot tell which shops or keys exist."""
    status, title, code = 401, "Unauthorized", "bad_signature"

    def __init__(self) -> None:
        super().__init__("The request's signature or credentials do not verify.")


@dataclass(frozen=True)
class Sender:
    integration_id: uuid.UUID
    merchant_id: uuid.UUID
    account_id: str | None
    secret: str
    secret_encrypted: bytes
    """As stored when the secret was read: storing checks that it is still the stored one."""


class StaleSender(Exception):
    """The integration was switched off, or its secret changed, since it was cached."""


class SenderCache:
    """Integrations by (type, shop domain or account id), decrypted, for TTL_SECONDS.

    Nothing depends on an entry being fresh: store() writes only while the integration is
    still active with the very secret that verified the delivery, and a signature that fails
    against a cached secret is checked again against the stored one. The cache saves the
    lookup and the decryption on every delivery.
    """

    TTL_SECONDS = 60.0
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, Sender]] = {}

    def get(self, type: str, key: str) -> Sender | None:
        entry = self._entries.get((type, key))
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def put(self, type: str, key: str, sender: Sender) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[type, key] = (time.monotonic() + self.TTL_SECONDS, sender)

    def clear(self) -> None:
        self._entries.clear()


senders = SenderCache()  # per process; see its docstring for why a stale entry is harmless


@dataclass(frozen=True)
class Accepted:
    event_id: uuid.UUID | None
    """None when the delivery was a repeat."""

    @property
    def duplicate(self) -> bool:
        return self.event_id is None


_SENDER_COLUMNS = (MerchantIntegration.id, MerchantIntegration.merchant_id,
                   MerchantIntegration.account_id, MerchantIntegration.secret_encrypted)
_BY_SHOP = select(*_SENDER_COLUMNS).where(
    MerchantIntegration.type == bindparam("type"), MerchantIntegration.is_active,
    MerchantIntegration.shop_domain == bindparam("key"))
_BY_ACCOUNT = select(*_SENDER_COLUMNS).where(
    MerchantIntegration.type == bindparam("type"), MerchantIntegration.is_active,
    MerchantIntegration.account_id == bindparam("key"))


async def find_sender(session: AsyncSession, *, type: str, shop_domain: str | None = None,
                      account_id: str | None = None) -> Sender:
    """The active integration named by the delivery (stored, not cached), or BadSignature."""
    if shop_domain:
        statement, key = _BY_SHOP, shop_domain.lower()
    elif account_id:
        statement, key = _BY_ACCOUNT, account_id
    else:
        raise BadSignature()
    if has_nul(key):  # no integration is named so (PostgreSQL could not even compare it)
        raise BadSignature()
    row = (await session.execute(statement, {"type": type, "key": key})).first()
    if row is None:
        raise BadSignature()
    sender = Sender(integration_id=row.id, merchant_id=row.merchant_id,
                    account_id=row.account_id, secret=crypto.decrypt(row.secret_encrypted),
                    secret_encrypted=row.secret_encrypted)
    senders.put(type, key, sender)
    return sender


async def verified_sender(session: AsyncSession, *, type: str, check: Callable[[Sender], bool],
                          shop_domain: str | None = None,
                          account_id: str | None = None) -> Sender:
    """The integration named by the delivery when `check` (the source's signature scheme)
    passes with its secret: the cached one first, then the stored one; else BadSignature."""
    key = shop_domain.lower() if shop_domain else account_id
    cached = senders.get(type, key) if key else None
    if cached is not None and check(cached):
        return cached
    sender = await find_sender(session, type=type, shop_domain=shop_domain,
                               account_id=account_id)
    if not check(sender):
        raise BadSignature()
    return sender


async def accept(receive: Callable[[AsyncSession, Mapping[str, str], bytes], Awaitable[Accepted]],
                 session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    """One source's intake (shopify, impact, refersion, postback), once more from the stored
    integration when the cached one turned out stale."""
    try:
        return await receive(session, headers, body)
    except StaleSender:
        senders.clear()
        return await receive(session, headers, body)


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value[:1000] for name, value in headers.items()
            if name.lower() not in CREDENTIAL_HEADERS}


# Stored only while the integration is active with the secret that verified the delivery.
_STORE = text("""
    WITH sender AS (
        SELECT id, merchant_id FROM merchant_integrations
        WHERE id = :integration_id AND is_active AND secret_encrypted = :secret_encrypted
    ), stored AS (
        INSERT INTO webhook_events (source, external_id, merchant_id, integration_id, topic,
                                    headers, body, received_at)
        SELECT :source, :external_id, sender.merchant_id, sender.id, :topic,
               CAST(:headers AS jsonb), :body, clock_timestamp()
        FROM sender
        ON CONFLICT (source, external_id) DO NOTHING
        RETURNING id
    ), deferred AS (
        SELECT stored.id, procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL,
                   jsonb_build_object('event_id', stored.id::text), NULL
               )::procrastinate_job_to_defer_v1])
        FROM stored
    )
    SELECT EXISTS (SELECT FROM sender), (SELECT id FROM deferred)
""")


async def store(session: AsyncSession, *, source: str, external_id: str, sender: Sender,
                topic: str, headers: Mapping[str, str], body: bytes) -> Accepted:
    """Inserts the event and its job in one statement; a repeat inserts neither. StaleSender
    when the integration is no longer active with the secret `sender` was read with."""
    kept = kept_headers(headers)
    if has_nul((external_id, topic, kept)):
        raise InvalidInput("The delivery's id, topic or headers contain the NUL character "
                           "(U+0000), which cannot be stored.")
    current, event_id = (await session.execute(_STORE, {
        "source": source, "external_id": external_id[:300],
        "integration_id": sender.integration_id, "secret_encrypted": sender.secret_encrypted,
        "topic": topic[:100], "headers": json.dumps(kept), "body": body,
        "queue": QUEUE, "task": PROCESS_TASK,
    })).one()
    if not current:
        raise StaleSender()
    return Accepted(event_id=event_id)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- each source's verification and identity --------------------------------------------

async def body_signed_sender(session: AsyncSession, *, type: str, body: bytes,
                             signature: str | None, shop_domain: str | None = None,
                             account_id: str | None = None) -> Sender:
    """The integration named by the delivery, when `signature` is the base64 HMAC-SHA256 of
    the raw body under its secret (Shopify's and Refersion's scheme); else BadSignature."""
    return await verified_sender(
        session, type=type, shop_domain=shop_domain, account_id=account_id,
        check=lambda sender: signatures.base64_hmac_matches(sender.secret, body, signature))


async def shopify(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    shop = headers.get("x-shopify-shop-domain", "").strip()
    sender = await body_signed_sender(session, type="shopify", body=body, shop_domain=shop,
                                      signature=headers.get("x-shopify-hmac-sha256"))
    topic = headers.get("x-shopify-topic", "").strip()
    if not topic:
        raise InvalidInput("X-Shopify-Topic is required", field="X-Shopify-Topic")
    event_id = (headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
                or "").strip()
    if not event_id:
        raise InvalidInput("X-Shopify-Webhook-Id is required", field="X-Shopify-Webhook-Id")
    return await store(session, source="shopify", external_id=event_id, sender=sender,
                       topic=topic, headers=headers, body=body)


def form_or_json(content_type: str, body: bytes) -> dict[str, Any] | None:
    """The fields of a form-encoded or JSON object body; None when it is neither."""
    if "json" in content_type:
        try:
            payload = normalise.load_json(body)
        except normalise.Unprocessable:
            return None
        return payload if isinstance(payload, dict) else None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError):
        return None


async def impact(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    credentials = signatures.basic_credentials(headers.get("authorization"))
    if credentials is None:
        raise BadSignature()
    account, token = credentials
    sender = await verified_sender(
        session, type="impact", account_id=account,
        check=lambda sender: signatures.secrets_match(sender.secret, token))
    fields = form_or_json(headers.get("content-type", ""), body)
    try:
        external_id = normalise.impact_external_id(account, fields or {})
    except normalise.Unprocessable:
        external_id = f"{account}:body:{body_digest(body)}"  # stored, then marked failed
    return await store(session, source="impact", external_id=external_id, sender=sender,
                       topic="action", headers=headers, body=body)


async def refersion(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    key = headers.get("refersion-public-key", "").strip()
    sender = await body_signed_sender(session, type="refersion", body=body, account_id=key,
                                      signature=headers.get("refersion-signature"))
    try:
        external_id = normalise.refersion_external_id(key, normalise.load_json(body))
    except normalise.Unprocessable:
        external_id = f"{key}:body:{body_digest(body)}"  # stored, then marked failed
    return await store(session, source="refersion", external_id=external_id, sender=sender,
                       topic="conversion", headers=headers, body=body)


def postback_parameters(content_type: str, body: bytes) -> dict[str, str]:
    """A postback's parameters as the strings that were signed (JSON numbers keep their text)."""
    if "json" in content_type:
        try:
            payload = json.loads(body, parse_float=str, parse_int=str)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadSignature() from None
        if not isinstance(payload, dict) or not all(
                isinstance(value, str) for value in payload.values()):
            raise BadSignature()
        return payload
    fields = form_or_json(content_type, body)
    if fields is None:
        raise BadSignature()
    return fields


async def postback(session: AsyncSession, headers: Mapping[str, str], body: bytes,
                   *, now: float | None = None) -> Accepted:
    params = postback_parameters(headers.get("content-type", ""), body)
    key = params.get("key", "")
    if not key:
        raise BadSignature()
    signed = signatures.canonical_parameters(params.items())
    sender = await verified_sender(
        session, type="postback", account_id=key,
        check=lambda sender: signatures.hex_hmac_matches(sender.secret, signed,
                                                         params.get("signature")))
    try:
        sent_at = int(params.get("timestamp", ""))
    except ValueError:
        raise BadSignature() from None
    if abs((time.time() if now is None else now) - sent_at) > POSTBACK_MAX_SKEW_SECONDS:
        raise BadSignature()
    external_id = normalise.postback_external_id(str(sender.integration_id), params)
    return await store(session, source="postback", external_id=external_id, sender=sender,
                       topic=params.get("event", "conversion")[:100], headers=headers, body=body)
