"""A small fake of Stripe's API, served over real HTTP on a free loopback port, for what the
payouts' Stripe provider calls through the official SDK:

- `POST /v1/transfers` (form-encoded as the SDK sends it, `metadata[payout_id]=…`), honouring
  `Idempotency-Key` as Stripe does: the same key with the same parameters answers the saved
  response again (`Idempotent-Replayed: true`) and creates nothing; the same key with other
  parameters is a 400 `idempotency_error`. A destination that is unknown or cannot receive
  transfers is a 400 (saved under the key, as Stripe saves a request that began executing).
- `GET /v1/transfers?transfer_group=…&destination=…&limit=…&starting_after=…`, newest first.
- `GET /v1/accounts/{id}`.
- `GET /_fake/transfers` (not Stripe's; for benchmarks/payouts.py, which runs the fake in a
  process of its own): every transfer made, by the payout id in its metadata, and how many
  `POST /v1/transfers` were received.

`python -m tests.fakes.stripe_server --accounts FILE` serves the fake in a process of its own
with the connected accounts named in FILE (one id a line, transfers active), prints its URL on
the first line of its output and serves until it is stopped (or its input is closed).

Errors are shaped like Stripe's: `{"error": {"type", "code", "message"}}`.

Faults are queued by the tests (`fail_next`) and taken by the next requests they match
(POST /v1/transfers unless said otherwise), one per request, in front of the API: a status
fault (500, 429, 400 with a message) creates and saves nothing, as a load balancer's or the
rate limiter's answer would not. `HANG` creates the transfer, then holds the answer until the
client has given up (the server is stopped, or `release_hung()`); `DROP` creates the transfer,
then closes the connection without answering: "the provider said yes, we never heard it".

Every request is recorded (method, path, query, headers with lower-case names, parsed form)
for the tests' assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from skinstack.config import Settings, get_settings

HANG = "hang"
DROP = "drop"
API_KEY = "sk_test_fake"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    form: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    then: str | None = None
    """HANG: answer only once released; DROP: close the connection without answering."""


@dataclass
class Fault:
    kind: int | str
    """An HTTP status to answer, HANG or DROP."""
    message: str = ""
    code: str | None = None
    method: str = "POST"
    path: str = "/v1/transfers"

    def matches(self, method: str, path: str) -> bool:
        return self.method == method and self.path == path


def nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding read back: `metadata[payout_id]=x` → {"metadata": {"payout_id":
    "x"}} (lists, `a[0]=…`, are not needed by anything the provider sends)."""
    form: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *(part.rstrip("]") for part in rest.split("[") if rest)] if rest else [head]
        target = form
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return form


def error_body(type: str, message: str, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


class FakeStripe:
    """The fake's state and its server; `with FakeStripe.running() as stripe:` in a fixture."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: list[dict[str, Any]] = []
        self.saved: dict[str, tuple[str, int, dict[str, Any]]] = {}
        """Idempotency key → (digest of the parameters, status, body)."""
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.released = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # --- for the tests --------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[FakeStripe]:
        fake = cls()
        server = _Server(("127.0.0.1", 0), _handler(fake))
        server.daemon_threads = True
        fake._server = server
        thread = threading.Thread(target=server.serve_forever, name="fake-stripe", daemon=True)
        thread.start()
        try:
            yield fake
        finally:
            fake.released.set()
            server.shutdown()
            server.server_close()
            thread.join()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def settings(self, *, key: str | None = API_KEY) -> Settings:
        """The process's settings with STRIPE_SECRET_KEY (None: unset) and STRIPE_API_BASE
        pointing at this fake."""
        return get_settings().model_copy(update={
            "stripe_secret_key": SecretStr(key) if key is not None else None,
            "stripe_api_base": self.url})

    def add_account(self, account_id: str | None = None, *,
                    transfers: str | None = "active") -> str:
        """A connected account; `transfers` is its transfers capability (None: not requested)."""
        account_id = account_id or f"acct_{next(self._ids):016d}"
        capabilities = {} if transfers is None else {"transfers": transfers}
        with self.lock:
            self.accounts[account_id] = {
                "id": account_id, "object": "account", "type": "express",
                "capabilities": capabilities, "charges_enabled": transfers == "active",
                "payouts_enabled": transfers == "active", "metadata": {}}
        return account_id

    def fail_next(self, kind: int | str, *, times: int = 1, message: str = "",
                  code: str | None = None, method: str = "POST",
                  path: str = "/v1/transfers") -> None:
        for _ in range(times):
            self.faults.append(Fault(kind, message, code, method, path))

    def release_hung(self) -> None:
        self.released.set()

    def posts(self, path: str = "/v1/transfers") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == path]

    def reverse(self, transfer_id: str, amount: int | None = None) -> dict[str, Any]:
        """Reverses (all of, or `amount` of) the transfer as Stripe would; returns it."""
        with self.lock:
            transfer = next(t for t in self.transfers if t["id"] == transfer_id)
            reversed_amount = transfer["amount"] if amount is None else amount
            transfer["amount_reversed"] += reversed_amount
            transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
            transfer["reversals"]["data"].append({
                "id": f"trr_{next(self._ids):016d}", "object": "transfer_reversal",
                "amount": reversed_amount, "currency": transfer["currency"],
                "transfer": transfer_id})
            transfer["reversals"]["total_count"] += 1
            return json.loads(json.dumps(transfer))

    def event(self, type: str, data_object: dict[str, Any]) -> dict[str, Any]:
        """A Stripe event as a webhook delivers it."""
        return {"id": f"evt_{next(self._ids):016d}", "object": "event", "type": type,
                "api_version": "2025-01-27.acacia", "created": int(time.time()),
                "livemode": False, "pending_webhooks": 1,
                "data": {"object": data_object}}

    # --- the API --------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, Any], headers: dict[str, str],
               form: dict[str, Any]) -> Answer:
        """What the fake answers one request (and how: at once, after a hang, or never)."""
        with self.lock:
            self.requests.append(Recorded(method, path, query, headers, form))
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                self.faults.remove(fault)
        if headers.get("authorization") != f"Bearer {API_KEY}":
            return Answer(401, error_body("invalid_request_error",
                                          "Invalid API Key provided: sk_test_****"))
        if fault is not None and isinstance(fault.kind, int):
            return Answer(fault.kind, self._fault_body(fault))
        if method == "POST" and path == "/v1/transfers":
            status, body, extra = self._create_transfer(headers, form)
            return Answer(status, body, extra, None if fault is None else str(fault.kind))
        if method == "GET" and path == "/v1/transfers":
            return Answer(200, self._list_transfers(query))
        if method == "GET" and path == "/_fake/transfers":
            return Answer(200, self._record())
        if method == "GET" and path.startswith("/v1/accounts/"):
            account = self.accounts.get(path.removeprefix("/v1/accounts/"))
            if account is None:
                return Answer(404, error_body(
                    "invalid_request_error",
                    "The provided key 'sk_test_****' does not have access to account "
                    f"'{path.removeprefix('/v1/accounts/')}' (or that account does not exist). "
                    "Application access may have been revoked.", "account_invalid"))
            return Answer(200, account)
        return Answer(404, error_body("invalid_request_error",
                                      f"Unrecognized request URL ({method}: {path})."))

    @staticmethod
    def _fault_body(fault: Fault) -> dict[str, Any]:
        assert isinstance(fault.kind, int)
        if fault.kind == 429:
            return error_body("invalid_request_error", fault.message or
                              "Too many requests hit the API too quickly.", "rate_limit")
        if fault.kind >= 500:
            return error_body("api_error", fault.message or
                              "An unknown error occurred while processing your request.")
        return error_body("invalid_request_error", fault.message or "Invalid request.",
                          fault.code)

    def _create_transfer(self, headers: dict[str, str], form: dict[str, Any]
                         ) -> tuple[int, dict[str, Any], dict[str, str]]:
        key = headers.get("idempotency-key")
        digest = hashlib.sha256(json.dumps(form, sort_keys=True).encode()).hexdigest()
        with self.lock:
            if key is not None and key in self.saved:
                saved_digest, status, body = self.saved[key]
                if saved_digest != digest:
                    return 400, error_body(
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request."), {}
                return status, body, {"idempotent-replayed": "true"}
            status, body = self._new_transfer(form)
            if key is not None:
                self.saved[key] = (digest, status, body)
            return status, body, {}

    def _new_transfer(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        amount = form.get("amount", "")
        if not amount.isdigit() or int(amount) <= 0:
            return 400, error_body("invalid_request_error", "Invalid positive integer",
                                   "parameter_invalid_integer", "amount")
        destination = self.accounts.get(form.get("destination", ""))
        if destination is None:
            return 400, error_body("invalid_request_error",
                                   f"No such destination: '{form.get('destination', '')}'",
                                   "resource_missing", "destination")
        if destination["capabilities"].get("transfers") != "active":
            return 400, error_body(
                "invalid_request_error",
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                "insufficient_capabilities_for_transfer", "destination")
        transfer_id = f"tr_{next(self._ids):016d}"
        transfer = {
            "id": transfer_id, "object": "transfer", "amount": int(amount),
            "amount_reversed": 0, "currency": form.get("currency"),
            "destination": form["destination"], "transfer_group": form.get("transfer_group"),
            "metadata": form.get("metadata", {}), "description": form.get("description"),
            "created": int(time.time()), "livemode": False, "reversed": False,
            "balance_transaction": f"txn_{transfer_id[3:]}",
            "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                          "url": f"/v1/transfers/{transfer_id}/reversals"}}
        self.transfers.append(transfer)
        return 200, transfer

    def _record(self) -> dict[str, Any]:
        """The fake's record for a client in another process: {"posts": POST /v1/transfers
        received, "transfers": made, "by_payout": {payout id: [[amount, currency,
        destination], …]}} (a payout paid twice has two entries)."""
        with self.lock:
            by_payout: dict[str, list[list[Any]]] = {}
            for transfer in self.transfers:
                by_payout.setdefault(transfer["metadata"].get("payout_id", ""), []).append(
                    [transfer["amount"], transfer["currency"], transfer["destination"]])
            posts = sum(1 for r in self.requests
                        if r.method == "POST" and r.path == "/v1/transfers")
            return {"posts": posts, "transfers": len(self.transfers), "by_payout": by_payout}

    def _list_transfers(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            found = [t for t in reversed(self.transfers)
                     if all(t.get(name) == query[name] for name in ("transfer_group", "destination")
                            if name in query)]
        if "starting_after" in query:
            ids = [t["id"] for t in found]
            found = found[ids.index(query["starting_after"]) + 1:]
        limit = int(query.get("limit", 10))
        return {"object": "list", "url": "/v1/transfers", "data": found[:limit],
                "has_more": len(found) > limit}


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    """The listen backlog (socketserver's default, 5, makes many clients connecting at once
    wait for SYN retries)."""


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        """The head and the body are two writes: with Nagle's algorithm the body would wait
        for the client's delayed ACK of the head (~40 ms a request on a kept-alive
        connection)."""

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            answer = fake.answer(
                method, url.path, nested(parse_qsl(url.query, keep_blank_values=True)),
                {name.lower(): value for name, value in self.headers.items()},
                nested(parse_qsl(body, keep_blank_values=True)))
            if answer.then == DROP:  # done, and the answer is never sent
                self.close_connection = True
                return
            if answer.then == HANG:
                fake.released.wait(timeout=60)
            payload = json.dumps(answer.body).encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_{hashlib.sha256(payload).hexdigest()[:14]}")
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up waiting
                self.close_connection = True

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="The fake Stripe server, in its own process.")
    parser.add_argument("--accounts", help="A file of connected account ids, one a line.")
    args = parser.parse_args()
    with FakeStripe.running() as fake:
        if args.accounts:
            with open(args.accounts) as accounts:
                for line in accounts:
                    if line.strip():
                        fake.add_account(line.strip())
        print(fake.url, flush=True)
        sys.stdin.read()  # until the parent closes our input (or stops us)


if __name__ == "__main__":
    main()
