"""The inbox's front door: find the integration, verify on the raw body, store, enqueue.

A delivery is accepted only when its signature verifies against the secret of the merchant's
own integration (found by the shop domain, Impact account id, Refersion key or postback key;
never "the first merchant"). Accepted deliveries are inserted with ON CONFLICT (source,
external_id) DO NOTHING and their processing job is enqueued by the same statement, so the
event exists if and only if its job does, and a repeat changes nothing. The bodies are read by
conversions.normalise and the statements live in webhooks.repository.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from stripe import SignatureVerificationError, WebhookSignature

from skinstack.config import get_settings
from skinstack.conversions import normalise
from skinstack.errors import AppError, InvalidInput
from skinstack.kit import crypto, signatures
from skinstack.kit.schemas import has_nul
from skinstack.models import IntegrationType, WebhookSource
from skinstack.payouts.providers import NotConfigured, Unavailable
from skinstack.payouts.providers.paypal import PayPalProvider
from skinstack.webhooks import repository

POSTBACK_MAX_SKEW_SECONDS = 300
STRIPE_TOLERANCE_SECONDS = 300
"""How old a Stripe-Signature's timestamp may be (Stripe's own default): a replay is refused."""
CREDENTIAL_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "x-shopify-hmac-sha256",
    "refersion-signature", "x-signature", "stripe-signature",
    # Client addresses are personal data; the inbox keeps none.
    "x-forwarded-for", "x-real-ip", "forwarded", "cf-connecting-ip", "true-client-ip",
})


class BadSignature(AppError):
    """One answer for an unknown account, a missing signature and a wrong one, so a caller
    cannot tell which shops or keys exist."""
    status, title, code = 401, "Unauthorized", "bad_signature"

    def __init__(self) -> None:
        super().__init__("The request's signature or credentials do not verify.")


class VerifierUnavailable(AppError):
    """The provider that verifies its own deliveries (PayPal) could not be asked; the provider
    delivers again later."""
    status, title, code = 503, "Service Unavailable", "verifier_unavailable"

    def __init__(self) -> None:
        super().__init__("The delivery could not be verified now; send it again later.")


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


async def find_sender(session: AsyncSession, *, type: IntegrationType,
                      shop_domain: str | None = None, account_id: str | None = None) -> Sender:
    """The active integration named by the delivery (stored, not cached), or BadSignature."""
    key = shop_domain.lower() if shop_domain else account_id
    if not key or has_nul(key):  # no integration is named so (PostgreSQL could not compare it)
        raise BadSignature()
    if shop_domain:
        found = await repository.integration_by_shop_domain(session=session, type=type,
                                                            shop_domain=key)
    else:
        found = await repository.integration_by_account_id(session=session, type=type,
                                                           account_id=key)
    if found is None:
        raise BadSignature()
    sender = Sender(integration_id=found.id, merchant_id=found.merchant_id,
                    account_id=found.account_id, secret=crypto.decrypt(found.secret_encrypted),
                    secret_encrypted=found.secret_encrypted)
    senders.put(type, key, sender)
    return sender


async def verified_sender(session: AsyncSession, *, type: IntegrationType,
                          check: Callable[[Sender], bool],
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


async def store(session: AsyncSession, *, source: WebhookSource, external_id: str,
                sender: Sender, topic: str, headers: Mapping[str, str], body: bytes) -> Accepted:
    """Inserts the event and its job in one statement; a repeat inserts neither. StaleSender
    when the integration is no longer active with the secret `sender` was read with.

    An identity PostgreSQL cannot store as text (a NUL, an unpaired surrogate) is replaced by a
    digest of the body, and such characters of a topic by U+FFFD: the signed body is kept
    either way, and the worker marks the event failed, naming the field."""
    if normalise.unstorable(external_id) is not None:
        external_id = f"{sender.account_id or sender.integration_id}:body:{body_digest(body)}"
    if normalise.unstorable(topic) is not None:
        topic = "".join("\ufffd" if normalise.unstorable(char) else char for char in topic)
    stored = await repository.store_event(
        session=session, source=source, external_id=external_id[:300],
        integration_id=sender.integration_id, secret_encrypted=sender.secret_encrypted,
        topic=topic[:100], headers=kept_headers(headers), body=body)
    if not stored.integration_current:
        raise StaleSender()
    return Accepted(event_id=stored.event_id)


async def store_payout_event(session: AsyncSession, *, source: WebhookSource, external_id: str,
                             topic: str, headers: Mapping[str, str], body: bytes) -> Accepted:
    """A payment provider's verified event about our payouts, stored and its job deferred in
    one statement (no merchant, no integration); a repeat stores neither. Identities
    PostgreSQL cannot store are replaced as in store()."""
    if normalise.unstorable(external_id) is not None:
        external_id = f"body:{body_digest(body)}"
    if normalise.unstorable(topic) is not None:
        topic = "".join("\ufffd" if normalise.unstorable(char) else char for char in topic)
    event_id = await repository.store_payout_event(
        session=session, source=source, external_id=external_id[:300], topic=topic[:100],
        headers=kept_headers(headers), body=body)
    return Accepted(event_id=event_id)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- each source's verification and identity --------------------------------------------

async def body_signed_sender(session: AsyncSession, *, type: IntegrationType, body: bytes,
                             signature: str | None, shop_domain: str | None = None,
                             account_id: str | None = None) -> Sender:
    """The integration named by the delivery, when `signature` is the base64 HMAC-SHA256 of
    the raw body under its secret (Shopify's and Refersion's scheme); else BadSignature."""
    return await verified_sender(
        session, type=type, shop_domain=shop_domain, account_id=account_id,
        check=lambda sender: signatures.base64_hmac_matches(sender.secret, body, signature))


async def shopify(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    shop = headers.get("x-shopify-shop-domain", "").strip()
    sender = await body_signed_sender(session, type=IntegrationType.shopify, body=body,
                                      shop_domain=shop,
                                      signature=headers.get("x-shopify-hmac-sha256"))
    topic = headers.get("x-shopify-topic", "").strip()
    if not topic:
        raise InvalidInput("X-Shopify-Topic is required", field="X-Shopify-Topic",
                           location="header")
    event_id = (headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
                or "").strip()
    if not event_id:
        raise InvalidInput("X-Shopify-Webhook-Id is required", field="X-Shopify-Webhook-Id",
                           location="header")
    return await store(session, source=WebhookSource.shopify, external_id=event_id,
                       sender=sender,
                       topic=topic, headers=headers, body=body)


async def impact(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    credentials = signatures.basic_credentials(headers.get("authorization"))
    if credentials is None:
        raise BadSignature()
    account, token = credentials
    sender = await verified_sender(
        session, type=IntegrationType.impact, account_id=account,
        check=lambda sender: signatures.secrets_match(sender.secret, token))
    fields = normalise.form_or_json(headers.get("content-type", ""), body)
    try:
        external_id = normalise.impact_external_id(account, fields or {})
    except normalise.Unprocessable:
        external_id = f"{account}:body:{body_digest(body)}"  # stored, then marked failed
    return await store(session, source=WebhookSource.impact, external_id=external_id,
                       sender=sender,
                       topic="action", headers=headers, body=body)


async def refersion(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    key = headers.get("refersion-public-key", "").strip()
    sender = await body_signed_sender(session, type=IntegrationType.refersion, body=body,
                                      account_id=key,
                                      signature=headers.get("refersion-signature"))
    try:
        external_id = normalise.refersion_external_id(key, normalise.load_json(body))
    except normalise.Unprocessable:
        external_id = f"{key}:body:{body_digest(body)}"  # stored, then marked failed
    return await store(session, source=WebhookSource.refersion, external_id=external_id,
                       sender=sender,
                       topic="conversion", headers=headers, body=body)


async def stripe(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> Accepted:
    """Stripe's events about our transfers: `Stripe-Signature` (`t=…,v1=…`, HMAC-SHA256 of
    `t.body` under STRIPE_WEBHOOK_SECRET, at most STRIPE_TOLERANCE_SECONDS old) checked by the
    SDK on the raw body; stored under Stripe's event id, the event type as the topic. An unset
    secret verifies nothing."""
    secret = get_settings().stripe_webhook_secret
    secret_value = secret.get_secret_value() if secret is not None else ""
    signature = headers.get("stripe-signature")
    if not secret_value.strip() or not signature:
        raise BadSignature()
    try:
        WebhookSignature.verify_header(body, signature, secret_value,
                                       tolerance=STRIPE_TOLERANCE_SECONDS)
    except (SignatureVerificationError, ValueError, TypeError):  # also a body not UTF-8, or
        raise BadSignature() from None                          # a signature not ASCII
    try:
        event = normalise.load_json(body)
    except normalise.Unprocessable:
        event = None
    event_id = event.get("id") if isinstance(event, dict) else None
    topic = event.get("type") if isinstance(event, dict) else None
    return await store_payout_event(
        session, source=WebhookSource.stripe,
        # signed, yet unreadable: stored, then marked failed by the worker
        external_id=event_id if isinstance(event_id, str) and event_id else
        f"body:{body_digest(body)}",
        topic=topic if isinstance(topic, str) and topic else "unreadable",
        headers=headers, body=body)


async def postback(session: AsyncSession, headers: Mapping[str, str], body: bytes,
                   *, now: float | None = None) -> Accepted:
    try:  # a body that cannot be read has no key and no signature to check
        params = normalise.postback_parameters(headers.get("content-type", ""), body)
    except normalise.Unprocessable:
        raise BadSignature() from None
    key = params.get("key", "")
    if not key:
        raise BadSignature()
    try:
        signed = signatures.canonical_parameters(params.items())
    except UnicodeEncodeError:  # an unpaired surrogate (from a JSON escape) has no signed form
        raise BadSignature() from None
    sender = await verified_sender(
        session, type=IntegrationType.postback, account_id=key,
        check=lambda sender: signatures.hex_hmac_matches(sender.secret, signed,
                                                         params.get("signature")))
    try:
        sent_at = int(params.get("timestamp", ""))
    except ValueError:
        raise BadSignature() from None
    if abs((time.time() if now is None else now) - sent_at) > POSTBACK_MAX_SKEW_SECONDS:
        raise BadSignature()
    external_id = normalise.postback_external_id(str(sender.integration_id), params)
    return await store(session, source=WebhookSource.postback, external_id=external_id,
                       sender=sender, topic=params.get("event", "conversion")[:100],
                       headers=headers, body=body)


async def paypal(session: AsyncSession, headers: Mapping[str, str], body: bytes, *,
                 provider: PayPalProvider, webhook_id: str | None) -> Accepted:
    """PayPal's events about our payouts: verified by PayPal's verify-webhook-signature API
    (the transmission headers, PAYPAL_WEBHOOK_ID and the raw event; only "SUCCESS" passes),
    then stored under the event's id with `event_type` as the topic."""
    try:
        verified = await provider.verify_webhook(headers, body, webhook_id=webhook_id)
    except NotConfigured:
        raise BadSignature() from None  # no credentials: nothing can be verified
    except Unavailable:
        raise VerifierUnavailable() from None
    if not verified:
        raise BadSignature()
    try:
        event = normalise.load_json(body)  # a JSON object: verify_webhook checked
    except normalise.Unprocessable as exc:
        raise InvalidInput(str(exc), field="body") from None
    event_id = str(event.get("id") or "").strip()
    if not event_id:
        raise InvalidInput("The event has no id.", field="id")
    return await store_payout_event(session, source=WebhookSource.paypal, external_id=event_id,
                                    topic=str(event.get("event_type") or "unknown"),
                                    headers=headers, body=body)
