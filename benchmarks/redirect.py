"""Benchmark: the redirect hot path against nginx, in the same run.

Starts nginx (Debian's package: one worker, `return 302`) and the real service
(`skinstack serve --no-worker`, one process, click capture on) with 1,000 links, loads each with
wrk over many slugs and realistic browser headers (after a warm-up that visits every
link once, so each is cached, then 2 s of wrk), and prints requests/s, p50 and p99 for both
and their ratio. Each of the service's answers includes the click's id, device cookie, IP hash,
user-agent lookup and fraud counters (in-process, or in Redis off the answer's path with
REDIS_URL), then hands the click to the sink; the sink's COPY into PostgreSQL runs in the same
process during the load (it takes CPU from the answers) but no answer waits for it. Then it
checks, once the click rows have caught up (at most 30 s), that every redirect the service
answered left a click row (the service's own 302 count from /metrics against
`SELECT count(*) FROM clicks`), and that wrk's completed responses are all among them.

    apt-get install nginx wrk      # once
    .venv/bin/python benchmarks/redirect.py [--seconds 10] [--connections 32]
    REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python benchmarks/redirect.py  # counters in Redis
    .venv/bin/python benchmarks/redirect.py --behind-proxy  # TRUSTED_PROXIES=127.0.0.1, and
        # every request carries X-Forwarded-For with one of 50,000 shoppers' addresses

Target (issue 4): the service at least 20 % of nginx's requests/s, p99 ≤ 15 ms at that load,
not a click missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from _scratch import merchant, scratch_database
from _service import free_port, running_service

from skinstack.db import libpq_url

LINKS = 1000
SINK_WAIT_SECONDS = 30.0
"""How long the click rows may take to catch up with the redirects served before the check
counts the rest as missing (the sink writes about every 100 ms; a loaded machine is slower)."""
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 330.0.0.0",
]
WRK_SCRIPT = """
slugs = {%(slugs)s}
agents = {%(agents)s}
referers = {"https://www.instagram.com/", "https://www.tiktok.com/", "https://t.co/", ""}
counter = 0
request = function()
  counter = counter + 1
  local slug = slugs[(counter %% #slugs) + 1]
  local headers = {}
  headers["User-Agent"] = agents[(counter %% #agents) + 1]
  headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
  headers["Accept-Language"] = "en-US,en;q=0.9"
  local referer = referers[(counter %% #referers) + 1]
  if referer ~= "" then headers["Referer"] = referer end
  local query = ""
  if counter %% 3 == 0 then query = "?utm_source=instagram&fbclid=IwAR" .. counter end
  if %(behind_proxy)s then
    local shopper = counter %% 50000
    headers["X-Forwarded-For"] = "198." .. (18 + math.floor(shopper / 65536)) .. "." ..
      (math.floor(shopper / 256) %% 256) .. "." .. (shopper %% 256)
  end
  return wrk.format("GET", "/l/" .. slug .. query, headers)
end
"""
NGINX_CONF = """
worker_processes 1;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %(dir)s; proxy_temp_path %(dir)s; fastcgi_temp_path %(dir)s;
  uwsgi_temp_path %(dir)s; scgi_temp_path %(dir)s;
  server {
    listen 127.0.0.1:%(port)d;
    location /l/ { return 302 https://glowlabs.example.com/products/serum?aff_sub=x; }
  }
}
"""


def make_links(url: str) -> list[str]:
    """An influencer, a program and LINKS links (straight SQL: setup, not what is measured)."""
    merchant_id = merchant(url)
    slugs = [f"bench{index:05d}" for index in range(LINKS)]
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        user_id = conn.execute("INSERT INTO users (email, password_hash, role) VALUES "
                               "('bench-creator@example.com', 'x', 'influencer') RETURNING id"
                               ).fetchone()[0]
        influencer_id = conn.execute(
            "INSERT INTO influencers (user_id, display_name, preferred_payout_method) VALUES "
            "(%s, 'Bench', 'ach') RETURNING id", (user_id,)).fetchone()[0]
        program_id = conn.execute(
            "INSERT INTO programs (merchant_id, network_id, name, commission_type, "
            "commission_percent, cookie_window_days) SELECT %s, id, 'Bench', 'percentage', 15, "
            "30 FROM networks WHERE code = 'shopify_refersion' RETURNING id",
            (merchant_id,)).fetchone()[0]
        with conn.cursor().copy(
                "COPY tracking_links (id, slug, influencer_id, program_id, merchant_id, "
                "destination_url, sub_id_parameter) FROM STDIN") as copy:
            for slug in slugs:
                copy.write_row((uuid.uuid4(), slug, influencer_id, program_id, merchant_id,
                                f"https://glowlabs.example.com/products/{slug}?size=30ml&"
                                "utm_source=skinstack&utm_medium=affiliate&utm_campaign=bench",
                                "aff_sub"))
    return slugs


def wrk(base: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         base], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    cuts = {}
    for label, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output,
                                         re.MULTILINE):
        cuts[label] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "requests": requests, "bad": int(errors.group(1)) if errors else 0,
            "p50": cuts["50"], "p99": cuts["99"], "socket_errors": socket_errors.group(1)
            if socket_errors else ""}


def line(name: str, figures: dict[str, float]) -> str:
    extra = f"   socket errors: {figures['socket_errors']}" if figures["socket_errors"] else ""
    return (f"{name:<34} {figures['rps']:>9,.0f} req/s   p50 {figures['p50']:7.2f} ms   "
            f"p99 {figures['p99']:7.2f} ms   ({figures['requests']:,} answered, "
            f"{figures['bad']} not 3xx){extra}")


async def served_redirects(base: str) -> int:
    async with httpx.AsyncClient(base_url=base) as client:
        text = (await client.get("/metrics")).text
    match = re.search(r'skinstack_http_requests_total\{method="GET",route="/l/\{slug\}",'
                      r'status="302"\} ([\d.e+]+)', text)
    return int(float(match.group(1))) if match else 0


async def visit_every_link(base: str, slugs: list[str]) -> None:
    """One GET per slug, 50 at a time, so the measured run finds every link cached."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for start in range(0, len(slugs), 50):
            answers = await asyncio.gather(*(client.get(f"/l/{slug}")
                                             for slug in slugs[start:start + 50]))
            if any(answer.status_code != 302 for answer in answers):
                raise SystemExit("a benchmark link did not redirect")


def click_rows(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute("SELECT count(*) FROM clicks").fetchone()[0]


async def caught_up(base: str, url: str) -> tuple[int, int]:
    """(redirects the service has served, click rows) once the rows have caught up with the
    redirects, or after SINK_WAIT_SECONDS (the check then reports what is missing)."""
    deadline = time.monotonic() + SINK_WAIT_SECONDS
    while True:
        served, rows = await served_redirects(base), click_rows(url)
        if served == rows or time.monotonic() > deadline:
            return served, rows
        await asyncio.sleep(0.1)


async def listening(port: int) -> None:
    """Returns once something accepts connections on the port (at most ten seconds)."""
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise SystemExit(f"nothing listens on port {port}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--behind-proxy", action="store_true",
                        help="the service trusts 127.0.0.1 as a proxy; wrk forwards shoppers")
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is needed: apt-get install {tool}")
    with scratch_database("redirect") as url:
        slugs = make_links(url)
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "redirect.lua"
            script.write_text(WRK_SCRIPT % {
                "slugs": ", ".join(f'"{slug}"' for slug in slugs),
                "agents": ", ".join(f'"{agent}"' for agent in USER_AGENTS),
                "behind_proxy": "true" if args.behind_proxy else "false"})
            if args.behind_proxy:
                os.environ["TRUSTED_PROXIES"] = "127.0.0.1"
            port = free_port()
            conf = Path(folder) / "nginx.conf"
            conf.write_text(NGINX_CONF % {"dir": folder, "port": port})
            nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c",
                                      str(conf)], stderr=subprocess.DEVNULL)
            await listening(port)
            try:
                reference = wrk(f"http://127.0.0.1:{port}", script, args.seconds,
                                args.connections)
            finally:
                nginx.terminate()
                nginx.wait(timeout=10)
            async with running_service(url) as base:
                await visit_every_link(base, slugs)  # warm-up: every link cached,
                wrk(base, script, 2, args.connections)  # then the parsers and lookups
                warm = await served_redirects(base)
                service = wrk(base, script, args.seconds, args.connections)
                total, rows = await caught_up(base, url)  # warm-up and measured run
                served = total - warm
        print(f"one nginx worker vs one service process, wrk 1 thread, {args.connections} "
              f"connections, {args.seconds} s each, {LINKS} slugs, {os.cpu_count()} cores shared"
              + (", the service behind a trusted proxy" if args.behind_proxy else ""))
        print(line("reference: nginx return 302", reference))
        print(line("skinstack /l/{slug}, clicks captured", service))
        print(f"ratio: {service['rps'] / reference['rps']:.1%} of nginx's requests/s "
              "(target ≥ 20 %), service p99 "
              f"{service['p99']:.2f} ms (target ≤ 15 ms)")
        missing = total - rows  # every redirect answered, warm-up included, left a row
        print(f"clicks: {served:,} redirects served in the measured run, {rows:,} click rows in "
              f"all ({warm:,} redirects in the warm-up); wrk completed {service['requests']:,}; "
              f"missing: {max(missing, 0)}")
        if rows != total or service["requests"] > served:
            sys.exit("a click is missing")


if __name__ == "__main__":
    asyncio.run(main())
