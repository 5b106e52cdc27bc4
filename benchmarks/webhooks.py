"""Benchmark: Shopify webhooks in, then conversions out of one worker.

1. Accept: the real service (`skinstack serve --no-worker`, one process) on a scratch database
   takes signed `orders/create` deliveries (the REST fixture with a fresh order id each, 10 %
   of them repeats of an earlier delivery) from wrk at C connections: accepted per second and
   latency percentiles (each: the HMAC checked, the inbox row and its job stored, 202; no
   processing), then a check that the inbox holds exactly one event per distinct delivery.
   Reference beside it: GET /health (one `SELECT 1`) the same way.
2. Process: one worker (procrastinate, the real job and code path, concurrency 4) drains
   the queue: conversions per second, and a check of one conversion per distinct order.
   Every second order lands with `aff_sub` set to one of our clicks (100 creators' links,
   one click per such order, COPied in before the worker starts), so the job also attributes
   it and settles its commission and ledger posting; the check wants one commission each.
   The figure is the whole job (normalise, store, attribute, settle, post); no reference.

    apt-get install wrk
    .venv/bin/python benchmarks/webhooks.py [--seconds 10] [--concurrency 16] [--batch 50]

Targets (issue 5): accept >= 1,000/s with p99 <= 50 ms; one worker >= 300 conversions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from _scratch import copy_influencers, scratch_database
from _service import bearer, running_service

from skinstack.db import create_engine, create_sessionmaker, libpq_url
from skinstack.kit import ids
from skinstack.logs import configure_logging
from skinstack.webhooks import tasks
from skinstack.worker.queue import connected, run_worker

FIXTURE = (Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "shopify"
           / "shopify_order_rest_attribution.json")
SECRET = "shpss_" + "b" * 32
SHOP = "bench-shop.myshopify.com"
CREATORS = 100
ACCEPT = "POST /webhooks/shopify (verify, store, enqueue)"
HEALTH = "reference: GET /health (SELECT 1)"
WIDTH = len(ACCEPT)

LUA = """
local requests = {}
local count = 0
local cursor = 0
local file = io.open("%(path)s", "rb")
for line in file:lines() do
  local webhook_id, signature, body = line:match("^(%%S+) (%%S+) (.*)$")
  count = count + 1
  requests[count] = wrk.format("POST", "/webhooks/shopify", {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Shop-Domain"] = "%(shop)s",
    ["X-Shopify-Webhook-Id"] = webhook_id,
    ["X-Shopify-Hmac-Sha256"] = signature,
  }, body)
end
file:close()
local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end
function init(args)
  cursor = offset
end
function request()
  cursor = cursor + %(threads)d
  if cursor > count then cursor = offset + 1 end
  return requests[cursor]
end
"""


def deliveries(total: int, clicks: list[str]) -> list[tuple[str, str, bytes]]:
    """(webhook id, signature, body); every tenth is a repeat of an earlier delivery, every
    other order carries one of `clicks` in its landing site."""
    template = json.loads(FIXTURE.read_bytes())
    placed = datetime.now(UTC).isoformat()
    made: list[tuple[str, str, bytes]] = []
    for index in range(total):
        if index % 10 == 9:
            made.append(made[index // 2])
            continue
        fields: dict[str, object] = {"id": 10**12 + index, "name": f"#{index}",
                                     "created_at": placed, "processed_at": placed}
        if index % 2 == 0:
            fields["landing_site"] = f"/products/serum?aff_sub={clicks[index // 2]}"
        body = json.dumps(template | fields, separators=(",", ":")).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
        made.append((str(uuid.uuid4()), signature.decode(), body))
    return made


def wrk(base: str, path: str, seconds: int, connections: int, script: str | None = None
        ) -> tuple[float, str]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", script]
    output = subprocess.run([*command, base + path], capture_output=True, text=True,
                            check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    cuts = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.MULTILINE))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if failed:
        raise SystemExit(f"{path}: {failed.group(1)} failed responses\n{output}")
    return rate, f"p50 {cuts.get('50'):>8}   p90 {cuts.get('90'):>8}   p99 {cuts.get('99'):>8}"


def click_ids(count: int) -> list[tuple[bytes, str]]:
    """Click ids made an hour ago (the database's bytes, the URL's short form)."""
    made_ms = int((time.time() - 3600) * 1000)
    return [ids.new_click_id(made_ms) for _ in range(count)]


def copy_clicks(url: str, program_id: str, clicks: list[tuple[bytes, str]]) -> None:
    """CREATORS influencers with a link each in the program, and the clicks on their links."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn, conn.cursor() as cursor:
        merchant_id = cursor.execute("SELECT merchant_id FROM programs WHERE id = %s",
                                     (program_id,)).fetchone()[0]
        influencers = copy_influencers(cursor, CREATORS)
        links = [uuid.uuid4() for _ in influencers]
        with cursor.copy("COPY tracking_links (id, slug, influencer_id, program_id, merchant_id,"
                         " destination_url, sub_id_parameter) FROM STDIN") as copy:
            for index, (link_id, influencer_id) in enumerate(zip(links, influencers,
                                                                 strict=True)):
                copy.write_row((link_id, f"bench{index:04d}", influencer_id, program_id,
                                merchant_id, "https://glowlabs.example.com/", "aff_sub"))
        with cursor.copy("COPY clicks (id, clicked_at, link_id, influencer_id, program_id,"
                         " merchant_id, device_id) FROM STDIN") as copy:
            for index, (raw, _) in enumerate(clicks):
                click_id = uuid.UUID(bytes=raw)
                pick = index % CREATORS
                copy.write_row((click_id, ids.timestamp(click_id), links[pick],
                                influencers[pick], program_id, merchant_id, f"dev{index:07d}"))


def counts(url: str) -> tuple[int, int, int, int, int]:
    """Events, handled events, conversions, conversions with a click, commissions."""
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM webhook_events),"
            " (SELECT count(*) FROM webhook_events WHERE status = 'handled'),"
            " (SELECT count(*) FROM conversions),"
            " (SELECT count(*) FROM conversions WHERE click_id IS NOT NULL),"
            " (SELECT count(*) FROM commissions)").fetchone()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--deliveries", type=int, default=20_000,
                        help="signed deliveries prepared (wrk cycles through them)")
    parser.add_argument("--batch", type=int, default=tasks.BATCH_SIZE,
                        help="events one job takes on (1: one event per job)")
    args = parser.parse_args()
    tasks.BATCH_SIZE = args.batch
    if not shutil.which("wrk"):
        raise SystemExit("This benchmark needs wrk (apt-get install wrk).")
    configure_logging("WARNING")  # as the service runs in the benchmark; no line per event

    with scratch_database("webhooks") as url, tempfile.TemporaryDirectory(
            prefix="skinstack-bench-webhooks-") as folder:
        await measure(args, url, Path(folder))


async def measure(args: argparse.Namespace, url: str, workdir: Path) -> None:
    clicks = click_ids(args.deliveries // 2 + 1)
    prepared = deliveries(args.deliveries, [short for _, short in clicks])
    data = workdir / "deliveries.txt"
    with data.open("wb") as out:
        for webhook_id, signature, body in prepared:
            out.write(f"{webhook_id} {signature} ".encode() + body + b"\n")
    script = workdir / "webhooks.lua"
    script.write_text(LUA % {"path": data, "shop": SHOP, "threads": 2})
    async with running_service(url) as base, httpx.AsyncClient(base_url=base) as client:
        auth = await bearer(client, "bench-merchant@example.com", "merchant")
        await client.put("/api/v1/merchants/me", headers=auth, json={
            "business_name": "Glow Labs", "website_url": "https://glowlabs.example.com"})
        program = await client.post("/api/v1/programs", headers=auth, json={
            "name": "Glow", "network": "shopify_refersion", "commission_type": "percentage",
            "commission_percent": "15"})
        program.raise_for_status()
        copy_clicks(url, program.json()["id"], clicks)
        response = await client.post("/api/v1/merchants/me/integrations", headers=auth,
                                     json={"type": "shopify", "shop_domain": SHOP,
                                           "secret": SECRET})
        response.raise_for_status()
        wrk(base, "/health", 2, args.concurrency)  # warm-up
        print(f"wrk, {args.seconds} s, {args.concurrency} connections, one service process,"
              f" {os.cpu_count()} cores shared with wrk; 10 % of deliveries are repeats")
        rate, cuts = wrk(base, "/webhooks/shopify", args.seconds, args.concurrency,
                         str(script))
        print(f"{ACCEPT:<{WIDTH}} {rate:>8.0f} accepted/s   {cuts}")
        health, health_cuts = wrk(base, "/health", args.seconds, args.concurrency)
        print(f"{HEALTH:<{WIDTH}} {health:>8.0f} req/s        {health_cuts}")
    answered = round(rate * args.seconds)
    events, *_ = counts(url)
    distinct = len({webhook_id for webhook_id, _, _ in prepared[:answered + 1000]})
    print(f"inbox: {events} events for ~{answered} deliveries answered "
          f"(at most {distinct} distinct in the cycle)")
    if events > distinct:
        raise SystemExit("more events than distinct deliveries: a repeat made a new event")

    engine = create_engine(url, pool_size=8)
    job_app = connected(url)
    started = time.perf_counter()
    async with job_app.open_async():
        await run_worker(job_app, wait=False, sessionmaker=create_sessionmaker(engine))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    events, handled, made, clicked, earned = counts(url)
    print(f"worker, 4 slots, {args.batch} events/job: each event's order normalised and "
          "stored, attributed, and for an order with a click its commission settled and "
          f"posted to the ledger (no reference)\n{'':<{WIDTH}} {made / elapsed:>8.0f} "
          f"conversions/s ({made} conversions from {handled}/{events} events in "
          f"{elapsed:.1f} s; {clicked} with a click, {earned} commissions)")
    if handled != events or made != events:
        raise SystemExit("every event should be handled into exactly one conversion")
    if earned == 0 or earned != clicked:
        raise SystemExit(f"{earned} commissions for {clicked} orders with a click")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    asyncio.run(main())
