"""PayPal Payouts over httpx: the OAuth2 token, sending a batch, and following its items.

- Token: client credentials (`POST /v1/oauth2/token`, HTTP Basic with PAYPAL_CLIENT_ID and
  PAYPAL_SECRET), kept until TOKEN_MARGIN_SECONDS before PayPal says it expires, fetched again
  once when a call answers 401.
- Sending: `POST /v1/payments/payouts`, one PayPal batch for one of our (batch, method), with
  `sender_batch_id` naming it and `PayPal-Request-Id` = `sender_batch_id`. PayPal completes a
  `sender_batch_id` only once in 30 days: a repeat with the same request id answers the batch
  already made, and a repeat PayPal no longer matches by request id is refused with
  USER_BUSINESS_ERROR (details: SENDER_BATCH_ID, "Duplicate batch request") and a link to the
  original batch. Both are read as "this is the batch": sending again after a crash finds the
  batch made before, never a second one. A duplicate without a usable link is `Unavailable`
  (the payouts stay `sending`), never `Refused` (that would give money back that PayPal paid).
- Failures: a 4xx other than 401/429 is `Refused` with PayPal's error name and message; a 5xx,
  a 429, a timeout or a broken connection is retried with the same request id after
  BACKOFF_SECONDS * 2^(attempt - 1), and after ATTEMPTS tries is `Unavailable`.
- Amounts: integer minor units written as the currency's decimal string (1234 USD → "12.34");
  never a float.
- Item statuses (`item_outcome`, shared with the PayPal webhooks): SUCCESS → paid; FAILED,
  BLOCKED, DENIED → failed; RETURNED, REFUNDED, REVERSED → returned; UNCLAIMED for 30 days or
  more since `time_processed` → returned ("unclaimed for 30 days"); PENDING, UNCLAIMED (younger),
  ONHOLD, NEW and anything unknown → sent (not final).
"""

from __future__ import annotations

import asyncio
import json as json_module
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from skinstack.config import Settings, get_settings
from skinstack.kit.money import format_minor
from skinstack.payouts.providers import (
    NotConfigured,
    Outcome,
    Refused,
    Result,
    Transfer,
    Unavailable,
)

log = logging.getLogger(__name__)

TOKEN_MARGIN_SECONDS = 60.0
ATTEMPTS = 4
BACKOFF_SECONDS = 0.5
TIMEOUT_SECONDS = 30.0
UNCLAIMED_RETURN_AFTER = timedelta(days=30)
UNCLAIMED_REASON = "unclaimed for 30 days"
PAGE_SIZE = 1000  # PayPal's largest page of batch items

WEBHOOK_HEADERS = {"auth_algo": "paypal-auth-algo", "cert_url": "paypal-cert-url",
                   "transmission_id": "paypal-transmission-id",
                   "transmission_sig": "paypal-transmission-sig",
                   "transmission_time": "paypal-transmission-time"}
"""The verify API's fields and the delivery headers they come from."""

_PAID = frozenset({"SUCCESS"})
_FAILED = frozenset({"FAILED", "BLOCKED", "DENIED"})
_RETURNED = frozenset({"RETURNED", "REFUNDED", "REVERSED"})
# Webhook event types (PAYMENT.PAYOUTS-ITEM.<suffix>) when the resource has no status.
_EVENT_STATUSES = {"SUCCEEDED": "SUCCESS", "FAILED": "FAILED", "BLOCKED": "BLOCKED",
                   "DENIED": "DENIED", "RETURNED": "RETURNED", "REFUNDED": "REFUNDED",
                   "REVERSED": "REVERSED", "CANCELED": "RETURNED", "UNCLAIMED": "UNCLAIMED",
                   "HELD": "ONHOLD"}


def paypal_amount(minor: int, currency: str) -> dict[str, str]:
    """PayPal's amount object: the exact decimal string of `minor` units of `currency`."""
    return {"value": format_minor(minor, currency), "currency": currency}


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _errors_text(errors: object) -> str | None:
    if isinstance(errors, Mapping):
        message, name = errors.get("message"), errors.get("name")
        if message and name:
            return f"{name}: {message}"
        return str(message or name) if (message or name) else None
    return None


def item_outcome(item: Mapping[str, Any], *, now: datetime,
                 event_type: str | None = None) -> Outcome | None:
    """Our payout's outcome from a PayPal payout item (a batch's item, or the resource of a
    `PAYMENT.PAYOUTS-ITEM.*` event); None when its sender_item_id is not one of our payouts."""
    payout_item = item.get("payout_item") or {}
    try:
        payout_id = uuid.UUID(str(payout_item.get("sender_item_id") or item.get("sender_item_id")))
    except ValueError:
        return None
    status = str(item.get("transaction_status") or "").upper()
    if not status and event_type:
        status = _EVENT_STATUSES.get(event_type.rsplit(".", 1)[-1].upper(), "")
    reference = item.get("payout_item_id")
    reason = _errors_text(item.get("errors"))
    if status in _PAID:
        return Outcome(payout_id, Result.paid, reference)
    if status in _FAILED:
        return Outcome(payout_id, Result.failed, reference,
                       reason or f"PayPal: {status.lower()}")
    if status in _RETURNED:
        return Outcome(payout_id, Result.returned, reference,
                       reason or f"PayPal: {status.lower()}")
    if status == "UNCLAIMED":
        processed = _parse_time(item.get("time_processed"))
        if processed is not None and now - processed >= UNCLAIMED_RETURN_AFTER:
            return Outcome(payout_id, Result.returned, reference, UNCLAIMED_REASON)
    return Outcome(payout_id, Result.sent, reference)


class _Retry(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayPalProvider:
    """One PayPal account's Payouts API; share one per process (it holds the token)."""

    def __init__(self, settings: Settings | None = None, *,
                 client: httpx.AsyncClient | None = None, attempts: int = ATTEMPTS,
                 backoff: float = BACKOFF_SECONDS, timeout: float = TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        settings = settings or get_settings()
        self.client_id = settings.paypal_client_id
        self.secret = (settings.paypal_secret.get_secret_value()
                       if settings.paypal_secret is not None else None)
        self.base = settings.paypal_api_base.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.clock = clock
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> PayPalProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the token ------------------------------------------------------------------------

    def _credentials(self) -> tuple[str, str]:
        if not self.client_id or not self.secret:
            raise NotConfigured("PayPal is not configured (PAYPAL_CLIENT_ID, PAYPAL_SECRET)")
        return self.client_id, self.secret

    async def _access_token(self, *, stale: str | None = None) -> str:
        """The cached token, or a new one when it is (about to be) expired or is `stale`."""
        async with self._token_lock:
            fresh = self._token is not None and self.clock() < self._token_expires
            if fresh and self._token != stale:
                return self._token  # type: ignore[return-value]
            try:
                response = await self._client.post(
                    f"{self.base}/v1/oauth2/token", auth=self._credentials(),
                    data={"grant_type": "client_credentials"},
                    headers={"Accept": "application/json"})
            except httpx.TransportError as exc:
                raise _Retry(f"PayPal token: {type(exc).__name__}") from exc
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retry(f"PayPal token: HTTP {response.status_code}")
            if response.status_code != 200:  # our credentials, not any payout, are wrong
                raise NotConfigured(f"PayPal refused our credentials: {_error_reason(response)}")
            body = response.json()
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 0))
            self._token_expires = self.clock() + max(lifetime - TOKEN_MARGIN_SECONDS, 0.0)
            return self._token

    # --- one call, retried ----------------------------------------------------------------

    async def _call(self, method: str, path: str, *, json: object = None,
                    content: bytes | None = None, request_id: str | None = None,
                    params: Mapping[str, str | int] | None = None) -> httpx.Response:
        """The answer to one API call that is not a 5xx/429/network failure (retried with the
        same request id, then Unavailable); a 401 fetches a new token once."""
        self._credentials()
        last = "no attempt"
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return await self._once(method, path, json=json, content=content,
                                        request_id=request_id, params=params)
            except _Retry as exc:
                last = exc.reason
                log.warning("paypal call retried", extra={"path": path, "attempt": attempt + 1,
                                                          "reason": last})
        raise Unavailable(f"PayPal unavailable after {self.attempts} attempts: {last}")

    async def _once(self, method: str, path: str, *, json: object, content: bytes | None,
                    request_id: str | None,
                    params: Mapping[str, str | int] | None) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if request_id is not None:
            headers["PayPal-Request-Id"] = request_id
        token = await self._access_token()
        for renewed in (False, True):
            try:
                response = await self._client.request(
                    method, f"{self.base}{path}", json=json, content=content, params=params,
                    headers=headers | {"Authorization": f"Bearer {token}"})
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections
                raise _Retry(type(exc).__name__) from exc
            if response.status_code == 401 and not renewed:
                token = await self._access_token(stale=token)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retry(f"HTTP {response.status_code}")
            return response
        return response

    # --- payouts --------------------------------------------------------------------------

    async def send_batch(self, sender_batch_id: str, transfers: Sequence[Transfer], *,
                         email_subject: str = "You have a payout from SkinStack",
                         note: str = "SkinStack payout") -> str:
        """PayPal's payout_batch_id for `transfers`, sent once as the batch `sender_batch_id`.

        Safe to call again with the same arguments (after a timeout or a crash): it answers
        the batch PayPal already made. Refused, Unavailable or NotConfigured otherwise.
        """
        body = {
            "sender_batch_header": {"sender_batch_id": sender_batch_id,
                                    "email_subject": email_subject, "recipient_type": "EMAIL"},
            "items": [{"recipient_type": "EMAIL",
                       "amount": paypal_amount(t.amount, t.currency),
                       "receiver": t.destination,
                       "sender_item_id": str(t.payout_id),
                       "note": note} for t in transfers],
        }
        response = await self._call("POST", "/v1/payments/payouts", json=body,
                                    request_id=sender_batch_id)
        if response.status_code in (200, 201):
            return str(response.json()["batch_header"]["payout_batch_id"])
        error = _error_body(response)
        if _duplicate_batch(error):
            return await self._existing_batch(sender_batch_id, error)
        raise Refused(_error_reason(response))

    async def _existing_batch(self, sender_batch_id: str, error: Mapping[str, Any]) -> str:
        """The batch PayPal made before for `sender_batch_id`, from the duplicate error's link,
        checked by reading it back."""
        for link in error.get("links") or []:
            path = urlsplit(str(link.get("href", ""))).path
            prefix = "/v1/payments/payouts/"
            if not path.startswith(prefix) or "/" in path[len(prefix):]:
                continue
            batch_id = path[len(prefix):]
            response = await self._call("GET", f"{prefix}{batch_id}", params={"page_size": 1})
            if response.status_code == 200:
                header = response.json().get("batch_header", {})
                if header.get("sender_batch_header", {}).get("sender_batch_id") \
                        == sender_batch_id:
                    log.info("paypal batch found again", extra={"payout_batch_id": batch_id})
                    return str(header["payout_batch_id"])
        raise Unavailable(f"PayPal already has a batch {sender_batch_id} but did not say which;"
                          " look it up in PayPal before sending it again")

    async def batch_outcomes(self, payout_batch_id: str, *, now: datetime) -> list[Outcome]:
        """Every item of the PayPal batch as our payout's outcome (all pages)."""
        outcomes: list[Outcome] = []
        path = f"/v1/payments/payouts/{payout_batch_id}"
        params: dict[str, str | int] | None = {"page_size": PAGE_SIZE, "page": 1}
        seen: set[str] = set()
        while True:
            response = await self._call("GET", path, params=params)
            if response.status_code != 200:
                raise Refused(_error_reason(response))
            body = response.json()
            for item in body.get("items") or []:
                outcome = item_outcome(item, now=now)
                if outcome is None:
                    log.warning("paypal item is not a payout of ours",
                                extra={"payout_batch_id": payout_batch_id})
                    continue
                outcomes.append(outcome)
            next_link = next((link.get("href") for link in body.get("links") or []
                              if link.get("rel") == "next"), None)
            if not next_link or next_link in seen:
                return outcomes
            seen.add(next_link)
            parts = urlsplit(next_link)
            path, params = parts.path + (f"?{parts.query}" if parts.query else ""), None


    # --- webhooks --------------------------------------------------------------------------

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                             webhook_id: str | None) -> bool:
        """Whether PayPal's verify-webhook-signature API says SUCCESS for this delivery: the
        transmission headers, our webhook id and the raw event, passed on byte for byte (a
        re-serialised event can differ from what PayPal signed). False when a header or the
        webhook id is missing or the body is not a JSON object; NotConfigured without
        credentials, Unavailable when PayPal cannot be asked."""
        fields = {name: headers.get(header, "").strip()
                  for name, header in WEBHOOK_HEADERS.items()}
        if not webhook_id or not all(fields.values()):
            return False
        try:
            event = json_module.loads(body)
        except ValueError:
            return False
        if not isinstance(event, dict):
            return False
        head = json_module.dumps(fields | {"webhook_id": webhook_id})
        request = f'{head[:-1]}, "webhook_event": '.encode() + body + b"}"
        response = await self._call("POST", "/v1/notifications/verify-webhook-signature",
                                    content=request)
        if response.status_code != 200:
            log.warning("paypal webhook verification refused",
                        extra={"status": response.status_code})
            return False
        return _error_body(response).get("verification_status") == "SUCCESS"


def _error_body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _duplicate_batch(error: Mapping[str, Any]) -> bool:
    if error.get("name") == "DUPLICATE_REQUEST_ID":
        return True
    return any(str(detail.get("field", "")).upper() == "SENDER_BATCH_ID"
               and "duplicate" in str(detail.get("issue", "")).lower()
               for detail in error.get("details") or [] if isinstance(detail, Mapping))


def _error_reason(response: httpx.Response) -> str:
    """PayPal's error as a person reads it: `NAME: message (field: issue)`."""
    error = _error_body(response)
    name = error.get("name") or error.get("error") or f"HTTP {response.status_code}"
    message = error.get("message") or error.get("error_description") or ""
    details = "; ".join(
        f"{d.get('field')}: {d.get('issue')}" if d.get("field") else str(d.get("issue"))
        for d in error.get("details") or [] if isinstance(d, Mapping) and d.get("issue"))
    reason = f"{name}: {message}" if message else str(name)
    return f"{reason} ({details})" if details else reason
