"""Benchmark: bulk product import, 100,000 CSV rows through `skinstack products import` and
through `POST /api/v1/products/import`.

Runs the real command (parse, validate, upsert in batches, audit) in a child process on a
scratch database and prints rows/s and the child's peak memory, for a first import and for
re-importing the same file (every row unchanged). The time is the whole command's, as a
merchant waits for it: the process's start and imports, the migration check and the
connection included; the same command on a file with a header and no rows is printed first
as that fixed cost, and each import's rows/s is printed again without it. Then the same two
imports over HTTP, end to end: one `skinstack serve --no-worker` process, the file streamed up
by a merchant of its own, timed until the report is back. Beside it, the reference:
PostgreSQL's own COPY of the same file into a bare table, the floor any importer pays (no
search vector, no index, no check).

    .venv/bin/python benchmarks/product_import.py [--rows 100000]

Targets (issue 3): at least 5,000 rows/s, peak memory under 300 MB; (issue 15): 100,000 rows
in at most 5 s end to end over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from _catalog_data import HEADER, write_csv
from _scratch import merchant, scratch_database
from _service import bearer, running_service

from skinstack.db import libpq_url


def run_import(url: str, path: Path) -> tuple[float, float, str]:
    """(seconds, peak MB of the child, its summary line)."""
    with tempfile.TemporaryDirectory(prefix="skinstack-bench-") as data_dir:
        return _run_import(url, path, data_dir)


def _run_import(url: str, path: Path, data_dir: str) -> tuple[float, float, str]:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING",
           "SKINSTACK_DATA_DIR": data_dir}
    code = ("import resource, sys; from skinstack.cli import main; sys.argv = ['skinstack', "
            f"'products', 'import', {str(path)!r}, '--merchant', 'bench-merchant@example.com'];"
            "\ntry:\n    main()\nfinally:\n    print('maxrss', resource.getrusage("
            "resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=False)
    elapsed = time.perf_counter() - started
    lines = result.stderr.splitlines()
    summary = next((line for line in lines if line.startswith("created")), result.stderr[-500:])
    peak_kb = next(int(line.split()[1]) for line in lines if line.startswith("maxrss"))
    return elapsed, peak_kb / 1024, summary


async def http_imports(url: str, path: Path, rounds: int) -> list[tuple[float, dict]]:
    """(seconds, report) of each upload of `path` by one merchant through a real service."""
    async with running_service(url) as base, httpx.AsyncClient(base_url=base,
                                                               timeout=600) as client:
        headers = await bearer(client, "bench-http-merchant@example.com", "merchant")
        profile = await client.put("/api/v1/merchants/me", headers=headers, json={
            "business_name": "Glow Labs", "website_url": "https://glowlabs.example.com"})
        profile.raise_for_status()

        async def chunks():
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 16):
                    yield chunk

        results = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = await client.post("/api/v1/products/import", content=chunks(),
                                         headers=headers | {"content-type": "text/csv"})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            results.append((elapsed, response.json()))
        return results


def copy_reference(url: str, path: Path) -> float:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE copy_reference (external_id text, name text, price numeric, "
                     "product_url text, category text, description text, image_url text, "
                     "in_stock boolean)")
        started = time.perf_counter()
        with conn.cursor().copy("COPY copy_reference FROM STDIN (FORMAT csv, HEADER)") as copy, \
                path.open("rb") as handle:
            while chunk := handle.read(1 << 16):
                copy.write(chunk)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with scratch_database("import") as url, tempfile.TemporaryDirectory() as folder:
        merchant(url)
        path = write_csv(Path(folder) / "catalog.csv", args.rows)
        empty = Path(folder) / "empty.csv"
        empty.write_text(",".join(HEADER) + "\n", encoding="utf-8")
        size_mb = path.stat().st_size / 1e6
        print(f"{args.rows:,} rows, {size_mb:.1f} MB CSV, {os.cpu_count()} cores; each command "
              "figure is the whole command's")
        fixed, peak, summary = run_import(url, empty)
        print(f"{'fixed cost (no rows)':<24} {'':>16}   {fixed:6.2f} s   peak {peak:6.1f} MB   "
              f"[{summary}]: start, imports, migration check, connection")
        for label in ("first import", "re-import (unchanged)"):
            seconds, peak, summary = run_import(url, path)
            rows_only = (f"{args.rows / (seconds - fixed):,.0f} rows/s less the fixed cost"
                         if seconds > fixed else "")
            print(f"{label:<24} {args.rows / seconds:>9,.0f} rows/s   {seconds:6.2f} s   "
                  f"peak {peak:6.1f} MB   [{summary}] {rows_only}")
        results = asyncio.run(http_imports(url, path, 2))
        for label, (seconds, report) in zip(("HTTP first import", "HTTP re-import"),
                                            results, strict=True):
            print(f"{label:<24} {args.rows / seconds:>9,.0f} rows/s   {seconds:6.2f} s   "
                  f"[created {report['created']}, updated {report['updated']}, "
                  f"unchanged {report['unchanged']}, errors {len(report['errors'])}]")
        seconds = copy_reference(url, path)
        print(f"{'reference: bare COPY':<24} {args.rows / seconds:>9,.0f} rows/s   "
              f"{seconds:6.2f} s")



if __name__ == "__main__":
    main()
