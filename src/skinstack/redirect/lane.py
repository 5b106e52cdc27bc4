"""Which HTTP protocol the server runs: the redirect's fast lane (redirect.protocol) when the
setting allows it and uvicorn's internals are what it was written against, else uvicorn's own.

The fast lane subclasses uvicorn's HttpToolsProtocol and reads its private state, so a uvicorn
that moved any of it would break every redirect. Before the server starts, `server_protocol()`
checks the installed uvicorn: its version (the tested minor), httptools, the methods the fast lane
overrides or calls and their arities, and, on a probe connection fed half a request in memory,
the per-connection and per-request attributes the fast lane reads. When anything is off it logs
one line and the server runs the stock protocol; the ASGI route still serves /l/. The gauge
`skinstack_redirect_fast_lane_enabled` says which way it went, and why.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Gauge

if TYPE_CHECKING:
    from skinstack.config import Settings
    from skinstack.kit.forwarded import TrustedProxies
    from skinstack.redirect.endpoint import RedirectEndpoint

log = structlog.get_logger(__name__)

STOCK = "auto"
"""uvicorn's own choice of protocol (httptools when installed, else h11)."""


class Lane(StrEnum):
    """Why the server runs the protocol it runs (the gauge's `reason`)."""

    ON = "on"
    SETTING_OFF = "setting_off"  # REDIRECT_FAST_LANE=false
    UVICORN_VERSION = "uvicorn_version"  # outside the tested minor
    HTTPTOOLS_MISSING = "httptools_missing"
    PROTOCOL_CHANGED = "protocol_changed"  # uvicorn's protocol is not what the fast lane reads


FAST_LANE = Gauge("skinstack_redirect_fast_lane_enabled",
                  "1 when the server answers cached /l/ redirects in its protocol, else 0; "
                  "reason: why", ["reason"])


class Refusal(Exception):
    """An assumption of the fast lane that does not hold; `detail` names it (no request data)."""

    def __init__(self, reason: Lane, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def server_protocol(settings: Settings, endpoint: RedirectEndpoint,
                    trusted_proxies: TrustedProxies | None = None) -> type[asyncio.Protocol] | str:
    """The `http=` of uvicorn.Config/run: the fast lane bound to `endpoint`, or STOCK when the
    setting turns it off or `check()` refuses it. Logs the outcome and sets the gauge."""
    if not settings.redirect_fast_lane:
        _record(Lane.SETTING_OFF, "REDIRECT_FAST_LANE is off")
        return STOCK
    try:
        check()
    except Refusal as refusal:
        _record(refusal.reason, refusal.detail)
        return STOCK
    from skinstack.redirect.protocol import protocol_for

    _record(Lane.ON, f"uvicorn {version('uvicorn')}")
    return protocol_for(endpoint, trusted_proxies)


def check(base: type | None = None, uvicorn_version: str | None = None) -> None:
    """Raises Refusal unless the fast lane's assumptions hold for `base` (default: uvicorn's
    HttpToolsProtocol) under `uvicorn_version` (default: the installed one)."""
    try:
        from skinstack.redirect.protocol import (
            CYCLE_STATE,
            TESTED_UVICORN,
            UVICORN_METHODS,
            UVICORN_STATE,
        )
    except ImportError as exc:
        if importlib.util.find_spec("httptools") is None:
            raise Refusal(Lane.HTTPTOOLS_MISSING, "httptools is not installed") from None
        raise Refusal(Lane.PROTOCOL_CHANGED, f"cannot import uvicorn's protocol: {exc}") from None
    from uvicorn.protocols.http import httptools_impl

    if uvicorn_version is None:
        try:
            uvicorn_version = version("uvicorn")
        except PackageNotFoundError:
            uvicorn_version = "unknown"
    if tuple(_numbers(uvicorn_version)[:2]) != TESTED_UVICORN:
        raise Refusal(Lane.UVICORN_VERSION, f"uvicorn {uvicorn_version}, tested with "
                      f"{'.'.join(map(str, TESTED_UVICORN))}.x")
    base = base or httptools_impl.HttpToolsProtocol
    for name, arity in UVICORN_METHODS.items():
        method = getattr(base, name, None)
        if not inspect.isfunction(method):
            raise Refusal(Lane.PROTOCOL_CHANGED, f"{base.__name__}.{name} is not a method")
        parameters = list(inspect.signature(method).parameters.values())[1:]
        if len(parameters) != arity or any(p.kind not in (p.POSITIONAL_ONLY,
                                                          p.POSITIONAL_OR_KEYWORD)
                                           for p in parameters):
            raise Refusal(Lane.PROTOCOL_CHANGED,
                          f"{base.__name__}.{name} takes {len(parameters)} arguments, not {arity}")
    status_line = getattr(httptools_impl, "STATUS_LINE", None)
    if not isinstance(status_line, dict) or not all(
            isinstance(status_line.get(code), bytes) for code in (302, 400, 404, 500)):
        raise Refusal(Lane.PROTOCOL_CHANGED, "httptools_impl.STATUS_LINE has changed")
    cycle_init = getattr(getattr(httptools_impl, "RequestResponseCycle", None), "__init__", None)
    for name in CYCLE_STATE:
        if name not in getattr(getattr(cycle_init, "__code__", None), "co_names", ()):
            raise Refusal(Lane.PROTOCOL_CHANGED, f"RequestResponseCycle sets no {name}")
    _probe(base, UVICORN_STATE)


class _ProbeTransport(asyncio.Transport):
    """A transport that keeps what is written; the probe's connection never reaches a socket."""

    def __init__(self) -> None:
        super().__init__({"peername": ("192.0.2.1", 40000), "sockname": ("192.0.2.2", 80)})
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _probe(base: type, state: tuple[str, ...]) -> None:
    """A connection of `base`, fed a request up to its last header (so the parser calls back
    everything before on_headers_complete, and no ASGI task starts): the attributes the fast
    lane reads at that point must be there with the values it expects."""
    import uvicorn
    from uvicorn.server import ServerState

    async def never_called(scope, receive, send) -> None:  # pragma: no cover - nothing runs
        raise AssertionError

    loop = asyncio.new_event_loop()
    try:
        config = uvicorn.Config(never_called, http=base, lifespan="off", log_config=None,
                                access_log=False, proxy_headers=False, server_header=False)
        protocol = base(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        transport = _ProbeTransport()
        protocol.connection_made(transport)
        # The last header is only complete at the line after it: hence "x-probe", left pending.
        protocol.data_received(
            b"GET /l/probe?q=1 HTTP/1.1\r\nHost: probe.example\r\nX-Probe: 1\r\n")
        missing = [name for name in state if not hasattr(protocol, name)]
        if missing:
            raise Refusal(Lane.PROTOCOL_CHANGED, f"{base.__name__} has no {', '.join(missing)}")
        parser = protocol.parser
        expected = {
            "url": protocol.url == b"/l/probe?q=1",
            "headers": protocol.headers == [(b"host", b"probe.example")],
            "cycle": protocol.cycle is None,
            "flow": getattr(protocol.flow, "write_paused", None) is False,
            "client": protocol.client == ("192.0.2.1", 40000),
            "scheme": protocol.scheme == "http",
            "transport": protocol.transport is transport,
            "server_state": isinstance(getattr(protocol.server_state, "default_headers", None),
                                       list),
            "parser": parser.get_method() == b"GET" and parser.should_keep_alive() in (True, False)
            and parser.should_upgrade() is False,
        }
        wrong = [name for name, holds in expected.items() if not holds]
        if wrong:
            raise Refusal(Lane.PROTOCOL_CHANGED,
                          f"{base.__name__}'s {', '.join(wrong)} not as expected")
        protocol.connection_lost(None)
    except Refusal:
        raise
    except Exception as exc:
        raise Refusal(Lane.PROTOCOL_CHANGED,
                      f"probe connection failed: {type(exc).__name__}: {exc}") from None
    finally:
        loop.close()


def _numbers(text: str) -> list[int]:
    numbers = []
    for part in text.split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return numbers


def _record(reason: Lane, detail: str) -> None:
    FAST_LANE.clear()  # one series: the current reason
    FAST_LANE.labels(reason.value).set(1 if reason is Lane.ON else 0)
    if reason is Lane.ON:
        log.info("redirect_fast_lane", enabled=True, reason=reason.value, detail=detail)
    else:
        log.warning("redirect_fast_lane", enabled=False, reason=reason.value, detail=detail)
