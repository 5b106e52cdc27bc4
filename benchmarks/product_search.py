"""Benchmark: product search over 100,000 products through the real HTTP service.

Loads a deterministic catalog (the import code path), starts `skinstack serve --no-worker`
(one process) and sends, one at a time, GET /api/v1/products?q=…&category=… as an
influencer (the marketplace scope), then q alone; prints p50/p95/p99 of each, as the client
sees it (HTTP, token check, the search, the JSON page of 50). Beside each, the reference: the
same SQL sent straight to PostgreSQL with psycopg (no HTTP, no ORM).

    .venv/bin/python benchmarks/product_search.py [--products 100000] [--queries 300]

Target (issue 3): p95 of q + category at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from _catalog_data import ACTIVES, ADJECTIVES, TYPES, write_csv
from _scratch import merchant, scratch_database
from _service import bearer, running_service
from sqlalchemy import select

from skinstack.catalog.importer import import_products
from skinstack.db import create_engine, create_sessionmaker, libpq_url
from skinstack.models import Merchant

REFERENCE_SQL = """
SELECT p.*, round(ts_rank_cd(p.search_vector, websearch_to_tsquery('english', %(q)s))::numeric,
                  6) AS rank
FROM products p JOIN merchants m ON m.id = p.merchant_id
WHERE m.is_active {category}
  AND p.search_vector @@ websearch_to_tsquery('english', %(q)s)
ORDER BY rank DESC, p.id DESC LIMIT 51
"""
"""What catalog.repository.search_products sends for the marketplace: a page of 50 and one."""


async def load_catalog(url: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "catalog.csv", count)
        engine = create_engine(url, pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                owner = await session.scalar(select(Merchant))
                with path.open("rb") as stream:
                    await import_products(session=session, merchant=owner, stream=stream,
                                          format="csv")
        finally:
            await engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE products")


def queries(count: int, seed: int = 11) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [{"q": rng.choice(ACTIVES + ADJECTIVES), "category": rng.choice(list(TYPES))}
            for _ in range(count)]


def percentiles(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return (f"p50 {cuts[49] * 1000:6.2f} ms   p95 {cuts[94] * 1000:6.2f} ms   "
            f"p99 {cuts[98] * 1000:6.2f} ms")


async def over_http(url: str, plan: list[dict[str, str]]) -> tuple[list[float], list[float]]:
    async with running_service(url) as base, httpx.AsyncClient(base_url=base,
                                                               timeout=30) as client:
        headers = await bearer(client, "bench-creator@example.com", "influencer")

        async def timed(params: dict[str, str]) -> float:
            started = time.perf_counter()
            response = await client.get("/api/v1/products", params=params, headers=headers)
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or not response.json()["items"]:
                raise SystemExit(f"unexpected answer for {params}: {response.text[:200]}")
            return elapsed

        for params in plan[:20]:  # warm-up
            await timed(params)
        combined = [await timed(params) for params in plan]
        q_only = [await timed({"q": params["q"]}) for params in plan]
        return combined, q_only


def direct(url: str, plan: list[dict[str, str]], *, category: bool) -> list[float]:
    sql = REFERENCE_SQL.format(category="AND p.category = %(category)s" if category else "")
    latencies = []
    with psycopg.connect(libpq_url(url)) as conn:
        for params in plan[:20]:
            conn.execute(sql, params).fetchall()
        for params in plan:
            started = time.perf_counter()
            conn.execute(sql, params).fetchall()
            latencies.append(time.perf_counter() - started)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    with scratch_database("search") as url:
        merchant(url)
        started = time.perf_counter()
        await load_catalog(url, args.products)
        print(f"{args.products:,} products loaded in {time.perf_counter() - started:.1f} s; "
              f"{args.queries} queries each, one at a time, one service process")
        plan = queries(args.queries)
        combined, q_only = await over_http(url, plan)
        print(f"{'HTTP q + category':<28} {percentiles(combined)}")
        print(f"{'reference: SQL q + category':<28} "
              f"{percentiles(direct(url, plan, category=True))}")
        print(f"{'HTTP q only':<28} {percentiles(q_only)}")
        print(f"{'reference: SQL q only':<28} {percentiles(direct(url, plan, category=False))}")


if __name__ == "__main__":
    asyncio.run(main())
