"""GET/HEAD /l/{slug}: the hot path, a plain ASGI handler in front of the FastAPI stack.

No routing table, no dependency injection, no ORM session, no per-request log line: the slug
comes from the link cache, the click id is made in the process, the answer is a 302 to the
destination with the click id in the network's sub-id parameter, and the click goes to the
sink's buffer. Unknown, inactive and expired slugs all get the same 404: a problem document,
or a page for a browser (by the Accept header, kit.negotiation).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from bisect import bisect_left
from functools import lru_cache
from http.cookies import SimpleCookie

import iptocc
import structlog
import ua_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from skinstack.errors import PROBLEM_JSON
from skinstack.fraud.clicks import VELOCITY_LIMIT, user_agent_flags, verdict
from skinstack.fraud.counters import ClickCounters, Counts, Observation
from skinstack.kit import crypto, histograms
from skinstack.kit.ids import new_click_id, random_token
from skinstack.kit.negotiation import accept_of, prefers_problem
from skinstack.links.destination import passed_on_query
from skinstack.middleware import LATENCY, REQUESTS
from skinstack.redirect.cache import MISS, LinkCache, LinkTarget
from skinstack.redirect.sink import Click, ClickSink

log = structlog.get_logger(__name__)

PREFIX = "/l/"
ROUTE = "/l/{slug}"
COOKIE = "device_id"
COOKIE_MAX_AGE = 365 * 24 * 3600
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SLUG = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
NOT_FOUND_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Link not found</title>"
    b"<body style='font-family:sans-serif;margin:4em auto;max-width:32em'>"
    b"<h1>This link does not exist or is no longer active</h1>"
    b"<p>Check the link you were given, or ask the person who shared it.</p></body></html>"
)
NOT_FOUND_PROBLEM = json.dumps(
    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "This link does not exist or is no longer active.", "code": "not_found"},
    separators=(",", ":")).encode()
_NOT_FOUND_HEADERS = [(b"content-type", b"text/html; charset=utf-8"),
                      (b"content-length", str(len(NOT_FOUND_PAGE)).encode()),
                      (b"cache-control", b"no-store"), (b"vary", b"accept")]
_NOT_FOUND_PROBLEM_HEADERS = [(b"content-type", PROBLEM_JSON.encode()),
                              (b"content-length", str(len(NOT_FOUND_PROBLEM)).encode()),
                              (b"cache-control", b"no-store"), (b"vary", b"accept")]
_REDIRECT_HEADERS = ((b"cache-control", b"no-store"),
                     (b"referrer-policy", b"no-referrer-when-downgrade"),
                     (b"content-length", b"0"))
_COOKIE_START = f"{COOKIE}=".encode()
_COOKIE_END = f"; Max-Age={COOKIE_MAX_AGE}; Path=/; HttpOnly; SameSite=lax".encode()


@lru_cache(maxsize=10_000)
def describe_user_agent(user_agent: str) -> tuple[str | None, str | None, str | None]:
    """(platform, os, browser) of a user agent; ua-parser is slow, so each string is parsed once."""
    if not user_agent:
        return None, None, None
    parsed = ua_parser.parse(user_agent)
    os_family = parsed.os.family if parsed.os else None
    browser = parsed.user_agent.family if parsed.user_agent else None
    device = (parsed.device.family if parsed.device else "") or ""
    lowered = user_agent.lower()
    if device == "Spider":
        platform = "bot"
    elif "ipad" in lowered or "tablet" in lowered or (os_family == "Android"
                                                      and "mobile" not in lowered):
        platform = "tablet"
    elif "mobi" in lowered or os_family in {"iOS", "Android"}:
        platform = "mobile"
    elif os_family in {"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS",
                       "Fedora"}:
        platform = "desktop"
    else:
        platform = "other"
    return platform, _plain(os_family, 50), _plain(browser, 50)


AgentFacts = tuple[str, str | None, str | None, str | None, frozenset[str]]
MAX_USER_AGENT = 512


@lru_cache(maxsize=10_000)
def agent_facts(header: bytes) -> AgentFacts:
    """(user agent as stored, platform, os, browser, its fraud flags) of a User-Agent header
    value cut to MAX_USER_AGENT bytes: worked out once per distinct value."""
    user_agent = header.decode("latin-1")
    return (user_agent, *describe_user_agent(user_agent), user_agent_flags(user_agent))


_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def _plain(value: str | None, limit: int) -> str | None:
    """Parser output without control characters or backslashes (it stores without escaping)."""
    return _CONTROL.sub(" ", value)[:limit] if value else None


@lru_cache(maxsize=100_000)
def ip_facts(ip: str) -> tuple[str, str | None]:
    """(keyed hash, country) of a client IP; cached, since the same IPs come back."""
    try:
        country = iptocc.country_code(ip)
    except ValueError:
        country = None
    return crypto.keyed_hash(f"ip:{ip}"), country


def device_cookie(header: str) -> str:
    """The valid device id in a Cookie header, or ""."""
    if COOKIE not in header:
        return ""
    try:
        morsel = SimpleCookie(header).get(COOKIE)
    except Exception:
        return ""
    value = morsel.value if morsel else ""
    return value if _DEVICE_ID.match(value) else ""


_NO_AGENT = agent_facts(b"")
Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]  # status, headers, body


def not_found(request_headers: Headers) -> Answer:
    """The 404 of /l/…: the contract's problem document, or the page when the client prefers
    HTML (a browser)."""
    if prefers_problem(accept_of(request_headers), b"text/html"):
        return 404, _NOT_FOUND_PROBLEM_HEADERS, NOT_FOUND_PROBLEM
    return 404, _NOT_FOUND_HEADERS, NOT_FOUND_PAGE


class RedirectEndpoint:
    """The handler; the app's lifespan hands it the cache, sink and counters."""

    cache: LinkCache
    sink: ClickSink
    counters: ClickCounters

    def __init__(self, *, country_header: str | None, secure_cookie: bool) -> None:
        self.country_header = country_header.lower().encode() if country_header else None
        self.secure_cookie = secure_cookie
        self._secure_cookie_end = _COOKIE_END + b"; Secure"
        self._counters = {(method, status): REQUESTS.labels(method, ROUTE, status)
                          for method in ("GET", "HEAD") for status in ("302", "404")}
        self._latency = LATENCY.labels("GET", ROUTE)
        # Redirects are tallied in plain numbers (no lock, no call into prometheus_client per
        # request) and added to the metrics above by publish_metrics(), before every scrape.
        self._redirects = {"GET": 0, "HEAD": 0}
        self._bounds = histograms.bounds(self._latency)
        self._latency_counts = [0] * len(self._bounds)
        self._latency_sum = 0.0
        # Clicks waiting for their counts from Redis (see _judge_later).
        self._undecided: list[tuple[Click, frozenset[str], bool, Observation]] = []
        self._judging: asyncio.Task[None] | None = None

    def publish_metrics(self) -> None:
        """Moves the tallied redirects into the Prometheus counter and latency histogram."""
        for method, count in self._redirects.items():
            if count:
                self._redirects[method] = 0
                self._counters[method, "302"].inc(count)
        counts, self._latency_counts = self._latency_counts, [0] * len(self._bounds)
        elapsed, self._latency_sum = self._latency_sum, 0.0
        histograms.add(self._latency, counts, elapsed)  # observe(), per bucket, not per request

    def answer_now(self, method: str, path: str, query: bytes, headers: Headers,
                   client: tuple[str, int] | None, https: bool) -> Answer | None:
        """The whole answer when the link is cached, else None with nothing recorded: the
        server's fast lane (redirect.protocol) calls this and falls back to handle() on None."""
        started = time.perf_counter()
        target = self._cached(path)
        if target is MISS:
            return None
        return self._answer(method, target, query, headers, client, https, started)

    async def handle(self, scope: Scope, send: Send) -> None:
        """The ASGI route: answer_now(), awaiting the link when it is not cached."""
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        target = self._cached(path)
        if target is MISS:
            target = await self.cache.get(path[len(PREFIX):])
        status, headers, body = self._answer(
            method, target, scope.get("query_string") or b"", scope["headers"],
            scope.get("client"), scope.get("scheme") == "https", started)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def drain(self) -> None:
        """Waits until every click waiting for its counts is in the sink (shutdown, tests)."""
        while self._judging is not None and not self._judging.done():
            await self._judging

    def _cached(self, path: str) -> LinkTarget | object | None:
        """The link of /l/{slug} from the cache, None for a slug that cannot exist, or MISS."""
        slug = path[len(PREFIX):]
        return self.cache.peek(slug) if _SLUG.match(slug) else None

    def _answer(self, method: str, target: LinkTarget | None, raw_query: bytes,
                request_headers: Headers, client: tuple[str, int] | None, https: bool,
                started: float) -> Answer:
        """The 302, and the click handed to the sink (or to the counters first when they are
        elsewhere); or the 404 page. Tallied for the metrics."""
        now_ns = time.time_ns()
        if target is None or not target.live_at(now_ns / 1e9):
            self._counters[method, "404"].inc()
            return not_found(request_headers)
        agent = None
        referrer = cookie = country_header = ""
        for name, value in request_headers:
            if name == b"user-agent":
                agent = agent_facts(value[:MAX_USER_AGENT])
            elif name == b"referer":
                referrer = value.decode("latin-1")[:1000]
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == self.country_header:
                country_header = value.decode("latin-1").strip().upper()
        user_agent, platform, os_family, browser, agent_flags = agent or _NO_AGENT
        known_device = device_cookie(cookie) if cookie else ""
        device_id = known_device or random_token(16)
        ip_hash, country = ip_facts(client[0]) if client else (None, None)
        if country_header and len(country_header) == 2 and country_header.isalpha():
            country = country_header
        extra = passed_on_query(raw_query) if raw_query else []
        click_bytes, click_id = new_click_id(now_ns // 1_000_000)
        click = (click_bytes, now_ns // 1000, target, device_id, ip_hash, user_agent or None,
                 platform, os_family, browser, referrer or None, country, extra)
        head = method == "HEAD"
        counts = self.counters.observe_now(ip_hash=ip_hash or "", user_agent=user_agent,
                                           link_id=target.link_key)
        if counts is None:
            self._judge_later(click, agent_flags, head, (ip_hash or "", user_agent,
                                                         target.link_key))
        else:
            self.sink.add(click + _judged(agent_flags, head, counts))
        location = target.destination.for_click(target.sub_id_parameter, click_id, extra)
        if known_device:
            headers = [(b"location", location.encode()), *_REDIRECT_HEADERS]
        else:
            cookie_end = self._secure_cookie_end if self.secure_cookie or https else _COOKIE_END
            headers = [(b"location", location.encode()), *_REDIRECT_HEADERS,
                       (b"set-cookie", _COOKIE_START + device_id.encode() + cookie_end)]
        self._redirects[method] += 1
        elapsed = time.perf_counter() - started
        self._latency_counts[bisect_left(self._bounds, elapsed)] += 1  # first bound >= elapsed
        self._latency_sum += elapsed
        return 302, headers, b""

    def _judge_later(self, click: Click, agent_flags: frozenset[str], head: bool,
                     observation: Observation) -> None:
        """Counters in Redis: the answer does not wait for them. Clicks queue here and one
        task asks for all the queued clicks' counts in one round trip, then sinks them."""
        self._undecided.append((click, agent_flags, head, observation))
        if self._judging is None or self._judging.done():
            self._judging = asyncio.get_running_loop().create_task(self._judge())

    async def _judge(self) -> None:
        while self._undecided:
            batch, self._undecided = self._undecided, []
            observations = [observation for *_, observation in batch]
            try:
                counts = await self.counters.observe_many(observations)
            except Exception:  # a click is kept with what is known rather than lost
                log.exception("click_counters_failed", clicks=len(batch))
                counts = [_UNKNOWN_COUNTS] * len(batch)
            except BaseException:
                # Cancelled while holding the batch (the shutdown awaiting drain() was
                # cancelled, or the loop is closing): it and the clicks queued behind it go to
                # the sink with what is known, not nowhere.
                batch, self._undecided = batch + self._undecided, []
                for click, agent_flags, head, _ in batch:
                    self.sink.add(click + _judged(agent_flags, head, _UNKNOWN_COUNTS))
                raise
            for (click, agent_flags, head, _), observed in zip(batch, counts, strict=True):
                self.sink.add(click + _judged(agent_flags, head, observed))


_UNKNOWN_COUNTS: Counts = (1, False)
"""The counts of a click whose counters could not be asked: its agent's and method's flags
still apply."""


def _judged(agent_flags: frozenset[str], head: bool,
            counts: Counts) -> tuple[int, tuple[str, ...], bool]:
    """The click's last three sink fields: fraud score, flags, counted."""
    flags, fraud_score = verdict(agent_flags, head, counts[0] > VELOCITY_LIMIT, counts[1])
    return fraud_score, flags, not flags


class RedirectMiddleware:
    """Sends GET and HEAD /l/… straight to the redirect handler; everything else on."""

    def __init__(self, app: ASGIApp, endpoint: RedirectEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["path"].startswith(PREFIX)
                and scope["method"] in ("GET", "HEAD")):
            await self.endpoint.handle(scope, send)
            return
        await self.app(scope, receive, send)
