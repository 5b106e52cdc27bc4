"""A fake PayPal REST API for the tests: a real HTTP server on a free loopback port.

It implements what PayPalProvider and the PayPal webhooks use: the OAuth2 token (counted;
expiry settable), POST /v1/payments/payouts (PayPal-Request-Id honoured: a repeat answers the
same batch; a sender_batch_id seen before is refused as PayPal does, with a link to the
original), GET /v1/payments/payouts/{id} (paged), POST /v1/notifications/verify-webhook-signature
(SUCCESS only for a signature made by `sign()`), programmable faults, settable item statuses,
and a record of every request.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "fake-client-id"
SECRET = "fake-secret"
WEBHOOK_ID = "WH-FAKE-0001"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    """What the next request to `method` + path starting with `path` meets.

    kinds: "500", "429", "400" (PayPal's error shape, `error` as the body), "timeout" (hangs,
    nothing done), "timeout_after" (done, then hangs), "drop" (connection closed, nothing done),
    "drop_after" (done, then the connection is closed without an answer).
    """

    method: str
    path: str
    kind: str
    error: dict[str, Any] | None = None


@dataclass
class FakePayPal:
    base_url: str = ""
    token_expires_in: int = 32400
    honour_request_id: bool = True
    hang_seconds: float = 2.0
    requests: list[Recorded] = field(default_factory=list)
    token_requests: int = 0
    tokens: set[str] = field(default_factory=set)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    _by_request_id: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _by_sender_batch_id: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what tests set ---------------------------------------------------------------

    def fail_next(self, method: str, path: str, kind: str,
                  error: dict[str, Any] | None = None) -> None:
        self.faults.append(Fault(method, path, kind, error))

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 401 from now on."""
        self.tokens.clear()

    def set_item(self, payout_batch_id: str, sender_item_id: str, transaction_status: str, *,
                 time_processed: str | None = None,
                 errors: dict[str, Any] | None = None) -> dict[str, Any]:
        for item in self.batches[payout_batch_id]["items"]:
            if item["payout_item"]["sender_item_id"] == sender_item_id:
                item["transaction_status"] = transaction_status
                if time_processed is not None:
                    item["time_processed"] = time_processed
                if errors is not None:
                    item["errors"] = errors
                return item
        raise KeyError(sender_item_id)

    def posted_batches(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/payments/payouts"]

    @staticmethod
    def sign(transmission_id: str, transmission_time: str, webhook_id: str,
             event: dict[str, Any]) -> str:
        """The fake's transmission signature (PayPal's real one is an RSA signature over
        `id|time|webhook id|crc32(body)`; this is a digest of the same fields)."""
        crc = zlib.crc32(json.dumps(event, sort_keys=True).encode())
        signed = f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()
        return base64.b64encode(hashlib.sha256(signed).digest()).decode()

    # --- the API ----------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if path == "/v1/oauth2/token" and method == "POST":
            return self._token(headers, body)
        if path == "/v1/notifications/verify-webhook-signature" and method == "POST":
            return self._verify(headers, body)
        if not self._authorised(headers):
            return 401, {"error": "invalid_token", "error_description": "Token signature"
                         " verification failed"}
        if path == "/v1/payments/payouts" and method == "POST":
            return self._create(headers, json.loads(body))
        if path.startswith("/v1/payments/payouts/") and method == "GET":
            return self._show(path.rsplit("/", 1)[1], query)
        return 404, {"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does"
                     " not exist."}

    def _authorised(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.tokens

    def _token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return 401, {"error": "invalid_client", "error_description": "Client"
                         " Authentication failed"}
        if parse_qs(body.decode()).get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        token = f"A21AA{secrets.token_hex(16)}"
        self.tokens.add(token)
        return 200, {"scope": "https://uri.paypal.com/payments/payouts", "access_token": token,
                     "token_type": "Bearer", "app_id": "APP-FAKE",
                     "expires_in": self.token_expires_in, "nonce": secrets.token_hex(8)}

    def _link(self, payout_batch_id: str) -> dict[str, str]:
        return {"href": f"{self.base_url}/v1/payments/payouts/{payout_batch_id}", "rel": "self",
                "method": "GET", "encType": "application/json"}

    def _create(self, headers: dict[str, str], body: dict[str, Any]
                ) -> tuple[int, dict[str, Any]]:
        request_id = headers.get("paypal-request-id")
        if self.honour_request_id and request_id in self._by_request_id:
            return self._by_request_id[request_id]
        sender_batch_id = body["sender_batch_header"]["sender_batch_id"]
        if sender_batch_id in self._by_sender_batch_id:
            original = self._by_sender_batch_id[sender_batch_id]
            return 400, {"name": "USER_BUSINESS_ERROR", "message": "User business error.",
                         "debug_id": secrets.token_hex(6),
                         "information_link": "https://developer.paypal.com/docs/api/"
                                             "payments.payouts-batch/#errors",
                         "details": [{"field": "SENDER_BATCH_ID",
                                      "location": "body",
                                      "issue": f"Batch with given sender_batch_id "
                                               f"{sender_batch_id} already exists"
                                               " (Duplicate batch request)"}],
                         "links": [self._link(original)]}
        payout_batch_id = f"FAKEBATCH{next(self._ids):06d}"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        items = [{"payout_item_id": f"FAKEITEM{next(self._ids):06d}",
                  "transaction_id": None, "transaction_status": "PENDING",
                  "payout_batch_id": payout_batch_id, "time_processed": now,
                  "payout_item": {key: item.get(key) for key in
                                  ("recipient_type", "amount", "note", "receiver",
                                   "sender_item_id")}}
                 for item in body["items"]]
        self.batches[payout_batch_id] = {
            "batch_header": {"payout_batch_id": payout_batch_id, "batch_status": "PENDING",
                             "time_created": now,
                             "sender_batch_header": body["sender_batch_header"]},
            "items": items}
        self._by_sender_batch_id[sender_batch_id] = payout_batch_id
        answer = (201, {"batch_header": {"payout_batch_id": payout_batch_id,
                                         "batch_status": "PENDING",
                                         "sender_batch_header": body["sender_batch_header"]},
                        "links": [self._link(payout_batch_id)]})
        if request_id:
            self._by_request_id[request_id] = answer
        return answer

    def _show(self, payout_batch_id: str, query: dict[str, list[str]]
              ) -> tuple[int, dict[str, Any]]:
        batch = self.batches.get(payout_batch_id)
        if batch is None:
            return 404, {"name": "INVALID_RESOURCE_ID", "message": "Requested resource ID was"
                         " not found."}
        page = int(query.get("page", ["1"])[0])
        size = int(query.get("page_size", ["1000"])[0])
        items = batch["items"][(page - 1) * size:page * size]
        links = [self._link(payout_batch_id)]
        if page * size < len(batch["items"]):
            links.append({"href": f"{self.base_url}/v1/payments/payouts/{payout_batch_id}"
                                  f"?page={page + 1}&page_size={size}",
                          "rel": "next", "method": "GET"})
        return 200, {"batch_header": batch["batch_header"], "items": items, "links": links}

    def _verify(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not self._authorised(headers):
            return 401, {"error": "invalid_token"}
        request = json.loads(body)
        missing = [key for key in ("auth_algo", "cert_url", "transmission_id",
                                   "transmission_sig", "transmission_time", "webhook_id",
                                   "webhook_event") if not request.get(key)]
        if missing:
            return 400, {"name": "VALIDATION_ERROR", "message": "Invalid request - see details",
                         "details": [{"field": key, "issue": "MISSING_REQUIRED_PARAMETER"}
                                     for key in missing]}
        good = (request["webhook_id"] == WEBHOOK_ID
                and request["auth_algo"] == "SHA256withRSA"
                and request["transmission_sig"] == self.sign(
                    request["transmission_id"], request["transmission_time"],
                    request["webhook_id"], request["webhook_event"]))
        return 200, {"verification_status": "SUCCESS" if good else "FAILURE"}

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.method == method and path.startswith(fault.path):
                self.faults.remove(fault)
                return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakePayPal
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _serve(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with fake._lock:
            fake.requests.append(Recorded(self.command, parts.path, parse_qs(parts.query),
                                          headers, body))
            fault = fake.take_fault(self.command, parts.path)
        kind = fault.kind if fault else None
        if kind in ("500", "429", "400"):
            error = (fault.error if fault and fault.error else
                     {"name": "INTERNAL_SERVICE_ERROR", "message": "An internal service error"
                      " occurred.", "debug_id": "fakedebug"})
            return self._answer(int(kind), error)
        if kind in ("timeout", "drop"):
            return self._hang_or_drop(kind)
        with fake._lock:
            status, answer = fake.handle(self.command, parts.path, parse_qs(parts.query),
                                         headers, body)
        if kind in ("timeout_after", "drop_after"):
            return self._hang_or_drop(kind.removesuffix("_after"))
        return self._answer(status, answer)

    def _hang_or_drop(self, kind: str) -> None:
        if kind == "timeout":
            time.sleep(self.fake.hang_seconds)
        self.close_connection = True

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Paypal-Debug-Id", "fakedebug")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve


class PayPalServer:
    """Starts the fake on a free loopback port in a thread: `with PayPalServer() as fake:`."""

    def __init__(self) -> None:
        self.fake = FakePayPal()
        handler = type("Handler", (_Handler,), {"fake": self.fake})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.fake.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakePayPal:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
