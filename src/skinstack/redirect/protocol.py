"""The redirect's fast lane: uvicorn's own HTTP protocol, answering GET and HEAD /l/… in the
parser's callback.

On uvicorn's path every request gets a scope, a request/response cycle object, an asyncio task
and two ASGI messages whose headers are checked one by one; for the redirect that costs as much
as the redirect itself. Here a complete /l/ request whose link is cached (`RedirectEndpoint.
answer_now`; counters in Redis judge the click after the answer) is written back at once, in
order, on the same connection. Everything else, and a redirect whose link has to be loaded,
goes the ASGI way unchanged: the same endpoint's `handle()`, through uvicorn.

Behind trusted proxies the fast lane reads the client from their forwarded headers with the same
function the ASGI side uses (kit.forwarded; `middleware.ForwardedClientMiddleware`), and a
request the parser refuses gets a problem document instead of uvicorn's plain text where the
client accepts JSON.

All of this leans on uvicorn's internals, listed below (`UVICORN_METHODS`, `UVICORN_STATE`,
`CYCLE_STATE`) and checked before the server starts (redirect.lane): where they do not hold, the
server runs uvicorn's stock protocol and the ASGI route answers /l/ alone.
"""

from __future__ import annotations

import json
import re

import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from skinstack.errors import PROBLEM_JSON
from skinstack.kit.forwarded import TrustedProxies, client_address
from skinstack.kit.negotiation import accept_of, prefers_problem
from skinstack.redirect.endpoint import PREFIX, Answer, RedirectEndpoint

log = structlog.get_logger(__name__)

_PREFIX = PREFIX.encode()
_FAST_METHODS = (b"GET", b"HEAD")
_HEADER_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # what uvicorn refuses in a value
_CLOSE = b"connection: close\r\n"
TESTED_UVICORN = (0, 54)
"""The minor version of uvicorn the fast lane was written and tested against (pyproject caps it)."""

UVICORN_METHODS = {
    "on_headers_complete": 0,  # overridden: the fast lane claims a request here, or passes it on
    "on_body": 1,
    "on_message_complete": 0,
    "send_400_response": 1,
    "on_response_complete": 0,  # called: counts the request, resumes reading, keep-alive timer
}
"""HttpToolsProtocol's methods the fast lane overrides or calls, with their number of arguments
after self."""

UVICORN_STATE = ("url", "headers", "parser", "cycle", "flow", "client", "scheme", "transport",
                 "server_state")
"""HttpToolsProtocol's attributes the fast lane reads once the request's headers are parsed;
also `flow.write_paused`, `server_state.default_headers`, the parser's `get_method()`,
`should_keep_alive()`, `should_upgrade()` and the module's `STATUS_LINE`."""

CYCLE_STATE = ("response_complete",)
"""RequestResponseCycle's attributes the fast lane reads (is the connection's previous answer
out?)."""

_SERVER_ERROR = (STATUS_LINE[500] + b"content-type: text/plain; charset=utf-8\r\n"
                 b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error")


class RedirectProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the fast lane; `protocol_for()` binds it to the app's endpoint."""

    endpoint: RedirectEndpoint
    trusted_proxies: TrustedProxies | None = None  # None: none configured
    _fast = False  # this request is a candidate for the fast lane

    def on_headers_complete(self) -> None:
        # Only when nothing is ahead of it on the connection (a pipelined request waits for
        # the ASGI answer before it) and the client is reading what it is sent.
        if (self.url.startswith(_PREFIX) and self.parser.get_method() in _FAST_METHODS
                and (self.cycle is None or self.cycle.response_complete)
                and not self.flow.write_paused and not self.parser.should_upgrade()):
            self._fast = True
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._fast:  # a GET's body means nothing to the redirect
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._fast:
            super().on_message_complete()
            return
        self._fast = False
        method = self.parser.get_method().decode()
        path, _, query = self.url.partition(b"?")
        try:
            client = self.client
            if self.trusted_proxies is not None and client:  # as ForwardedClientMiddleware
                address = client_address(client[0], self.headers, self.trusted_proxies)
                if address != client[0]:
                    client = (address, 0)
            answer = None if b"%" in path or b"#" in self.url else self.endpoint.answer_now(
                method, path.decode("latin-1"), query, self.headers, client,
                self.scheme == "https")
            if answer is None:  # it has to wait: uvicorn's ASGI path from the headers on
                super().on_headers_complete()
                super().on_message_complete()
                return
            self._write(method, answer)
        except Exception:
            log.exception("redirect_failed")
            self.transport.write(_SERVER_ERROR)
            self.transport.close()

    def _write(self, method: str, answer: Answer) -> None:
        status, headers, body = answer
        keep_alive = self.parser.should_keep_alive()  # HTTP/1.0 and `Connection: close` aside
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        for name, value in headers:
            if _HEADER_VALUE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            content += (name, b": ", value, b"\r\n")
        if not keep_alive:
            content.append(_CLOSE)
        content.append(b"\r\n")
        if method != "HEAD":
            content.append(body)
        self.transport.write(b"".join(content))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()  # uvicorn's: counts it, resumes reading, keep-alive timer


    def send_400_response(self, msg: str) -> None:
        """The answer to a request the parser refuses: a problem document where the client
        accepts JSON, else uvicorn's plain text. Judged by the Accept header as far as the
        parser got before the error: an error in the request line or before Accept leaves none,
        and no Accept accepts anything, so that client gets the problem document."""
        if not prefers_problem(accept_of(self.headers or ()), b"text/plain"):
            super().send_400_response(msg)
            return
        body = json.dumps({"type": "about:blank", "title": "Bad Request", "status": 400,
                           "detail": msg, "code": "bad_request"}).encode()
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        content += (b"content-type: ", PROBLEM_JSON.encode(), b"\r\ncontent-length: ",
                    str(len(body)).encode(), b"\r\nconnection: close\r\n\r\n", body)
        self.transport.write(b"".join(content))
        self.transport.close()


def protocol_for(endpoint: RedirectEndpoint,
                 trusted_proxies: TrustedProxies | None = None) -> type[RedirectProtocol]:
    """The protocol class uvicorn runs (`uvicorn.run(..., http=protocol_for(endpoint,
    trusted_proxies))`)."""
    return type("RedirectProtocol", (RedirectProtocol,),
                {"endpoint": endpoint, "trusted_proxies": trusted_proxies or None})
