"""The fast lane's startup check (redirect.lane): which protocol the server runs, and why.

The check is judged on uvicorn as installed and on protocols that moved what the fast lane reads;
a refused check, and REDIRECT_FAST_LANE=false, serve /l/ over real TCP through the ASGI route.
"""

from __future__ import annotations

import sys

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from skinstack.config import Settings
from skinstack.redirect import lane
from skinstack.redirect.protocol import RedirectProtocol
from tests.conftest import served_app
from tests.factories import linked_world, metric_sample

GAUGE = "skinstack_redirect_fast_lane_enabled"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/125.0"


class _WithoutFlow(HttpToolsProtocol):
    """A uvicorn whose connections keep their flow control elsewhere."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        del self.flow


class _BodyWithoutArgument(HttpToolsProtocol):
    """A uvicorn whose on_body takes the body from somewhere else."""

    def on_body(self) -> None:  # type: ignore[override]
        raise AssertionError


class _UrlKeptAsText(HttpToolsProtocol):
    """A uvicorn that keeps the URL decoded."""

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self.url = self.url.decode()


class _FailingFirstCallback(HttpToolsProtocol):
    """A uvicorn whose first callback fails (the parser's error is answered with a 400)."""

    def on_message_begin(self) -> None:
        raise KeyError("scope")


class _NewConstructor(HttpToolsProtocol):
    """A uvicorn whose protocols are made differently."""

    def __init__(self, config, server_state, app_state, loop) -> None:
        super().__init__(config, server_state, app_state, loop)


def test_the_installed_uvicorn_runs_the_fast_lane(caplog: pytest.LogCaptureFixture) -> None:
    lane.check()
    protocol = lane.server_protocol(Settings(), endpoint=None)  # type: ignore[arg-type]
    assert isinstance(protocol, type) and issubclass(protocol, RedirectProtocol)
    assert _gauge() == {"on": 1.0}
    [line] = [record.msg for record in caplog.records
              if isinstance(record.msg, dict) and record.msg["event"] == "redirect_fast_lane"]
    assert line["enabled"] is True and line["detail"].startswith("uvicorn 0.54.")


@pytest.mark.parametrize(("base", "detail"), [
    (_WithoutFlow, "_WithoutFlow has no flow"),
    (_BodyWithoutArgument, "_BodyWithoutArgument.on_body takes 0 arguments, not 1"),
    (_UrlKeptAsText, "_UrlKeptAsText's url not as expected"),
    (_FailingFirstCallback, "_FailingFirstCallback has no url"),
    (_NewConstructor, "probe connection failed: TypeError: _NewConstructor.__init__() got an "
                      "unexpected keyword argument '_loop'"),
])
def test_a_protocol_that_moved_what_the_fast_lane_reads_is_refused(base: type,
                                                                   detail: str) -> None:
    with pytest.raises(lane.Refusal) as refused:
        lane.check(base)
    assert refused.value.reason is lane.Lane.PROTOCOL_CHANGED
    assert refused.value.detail == detail


def test_a_method_gone_from_uvicorns_class_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(HttpToolsProtocol, "on_response_complete")
    with pytest.raises(lane.Refusal, match=r"HttpToolsProtocol.on_response_complete is not a"):
        lane.check()


@pytest.mark.parametrize("uvicorn_version", ["0.55.0", "0.53.2", "1.0.0", "unknown"])
def test_another_uvicorn_minor_is_refused(uvicorn_version: str) -> None:
    with pytest.raises(lane.Refusal) as refused:
        lane.check(uvicorn_version=uvicorn_version)
    assert refused.value.reason is lane.Lane.UVICORN_VERSION
    assert refused.value.detail == f"uvicorn {uvicorn_version}, tested with 0.54.x"


def test_without_httptools_the_server_runs_uvicorns_choice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # As if httptools were not installed: neither it nor the modules built on it import.
    for name in ("httptools", "uvicorn.protocols.http.httptools_impl",
                 "skinstack.redirect.protocol"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(lane.importlib.util, "find_spec",
                        lambda name, *args: None if name == "httptools" else object())
    assert lane.server_protocol(Settings(), endpoint=None) == lane.STOCK  # type: ignore[arg-type]
    assert _gauge() == {"httptools_missing": 0.0}


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().redirect_fast_lane is True
    monkeypatch.setenv("REDIRECT_FAST_LANE", "false")
    assert Settings().redirect_fast_lane is False


async def test_with_the_setting_off_the_asgi_route_serves_every_redirect(
        database_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async with served_app(database_url, redirect_fast_lane=False) as (app, client):
        answered = await _redirects_through_asgi(app, client, monkeypatch)
        assert answered == 3  # the cached link's too: the stock protocol has no fast lane
        metrics = (await client.get("/metrics")).text
        assert metric_sample(metrics, f'{GAUGE}{{reason="setting_off"}}') == 0.0
        assert f'{GAUGE}{{reason="on"}}' not in metrics
        await app.state.click_sink.flush()
    [line] = [record.msg for record in caplog.records
              if isinstance(record.msg, dict) and record.msg["event"] == "redirect_fast_lane"]
    assert line["enabled"] is False and line["reason"] == "setting_off"


async def test_a_refused_check_serves_redirects_through_the_asgi_route(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lane, "version", lambda name: "0.55.0" if name == "uvicorn" else "1")
    async with served_app(database_url) as (app, client):
        assert await _redirects_through_asgi(app, client, monkeypatch) == 3
        metrics = (await client.get("/metrics")).text
        assert metric_sample(metrics, f'{GAUGE}{{reason="uvicorn_version"}}') == 0.0
        await app.state.click_sink.flush()


async def _redirects_through_asgi(app, client, monkeypatch: pytest.MonkeyPatch) -> int:
    """Follows one link three times (cached from the first) and returns how many of the 302s
    the ASGI route answered."""
    world = await linked_world(client)
    path = f"/l/{world['link']['slug']}"
    endpoint = app.state.redirect
    handle = endpoint.handle
    answered = 0

    async def counted(scope, send) -> None:
        nonlocal answered
        answered += scope["path"] == path
        await handle(scope, send)

    monkeypatch.setattr(endpoint, "handle", counted)
    for _ in range(3):
        response = await client.get(path, headers={"user-agent": BROWSER})
        assert response.status_code == 302 and "glowlabs.example.com" in response.headers[
            "location"]
    return answered


def _gauge() -> dict[str, float]:
    return {sample.labels["reason"]: sample.value
            for metric in lane.FAST_LANE.collect() for sample in metric.samples}
