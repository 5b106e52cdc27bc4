"""Benchmark: the authenticated request path (bearer token check, user load, profile lookup,
commit).

Starts the real service (`skinstack serve --no-worker`, one process) on a scratch database and
sends GET /api/v1/me with a bearer token from C concurrent connections; prints requests/s and
latency percentiles. Each request: the JWT decoded and checked, the user loaded by id, the
caller's profile looked up (a merchant without one here: one query that finds nothing), the
transaction committed, the JSON answer. Beside it, the reference: GET /health measured the
same way, no auth (a pooled connection's `SELECT 1`, plus a Redis PING when REDIS_URL is set).
Login itself is excluded on purpose: argon2id is meant to be slow.
The load comes from wrk (Debian package `wrk`) when installed, else from an httpx client in
this process, which then shares the machine's cores with the service and reads lower.

    .venv/bin/python benchmarks/authenticated_request.py [--seconds 10] [--concurrency 32]

Uses DATABASE_URL's server when set, else the PostgreSQL on 127.0.0.1:5432, else an embedded
one, with a scratch database of its own dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import time

import httpx
from _scratch import scratch_database
from _service import bearer, running_service

ME = "GET /api/v1/me (token, user, profile, commit)"
HEALTH = "reference: GET /health (SELECT 1)"
WIDTH = len(ME) + 1


async def load(client: httpx.AsyncClient, path: str, headers: dict[str, str], total: int,
               concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}: {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def wrk(url: str, headers: dict[str, str], seconds: int, concurrency: int) -> str:
    command = ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "--latency", url]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    cuts = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses")
    return (f"{float(rate.group(1)) if rate else 0:>9.0f} req/s   p50 {cuts.get('50'):>8}"
            f"   p90 {cuts.get('90'):>8}   p99 {cuts.get('99'):>8}")


def report(name: str, elapsed: float, latencies: list[float]) -> None:
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{name:<{WIDTH}} {len(latencies) / elapsed:>9.0f} req/s   p50 {cuts[49] * 1000:6.2f} ms"
          f"   p95 {cuts[94] * 1000:6.2f} ms   p99 {cuts[98] * 1000:6.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="httpx fallback only")
    parser.add_argument("--seconds", type=int, default=10, help="wrk run length")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    with scratch_database("auth") as url:
        async with running_service(url) as base, httpx.AsyncClient(
                base_url=base, limits=httpx.Limits(max_connections=args.concurrency),
                timeout=30) as client:
            auth = await bearer(client, "bench@example.com", "merchant")
            await load(client, "/api/v1/me", auth, 200, args.concurrency)  # warm-up
            if shutil.which("wrk"):
                print(f"wrk, {args.seconds} s each, {args.concurrency} connections, one service"
                      f" process, {os.cpu_count()} cores (shared with wrk)")
                print(f"{ME:<{WIDTH}}"
                      f"{wrk(base + '/api/v1/me', auth, args.seconds, args.concurrency)}")
                print(f"{HEALTH:<{WIDTH}}"
                      f"{wrk(base + '/health', {}, args.seconds, args.concurrency)}")
                return
            print(f"httpx: {args.requests} requests, {args.concurrency} concurrent clients, one "
                  f"service process, {os.cpu_count()} cores")
            report(ME, *await load(client, "/api/v1/me", auth, args.requests, args.concurrency))
            report(HEALTH, *await load(client, "/health", {}, args.requests, args.concurrency))


if __name__ == "__main__":
    asyncio.run(main())
