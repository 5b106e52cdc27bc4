"""Benchmark: attribution of 100,000 conversions over 1,000,000 clicks, per model.

Setup (straight SQL and COPY, not measured): one merchant and program, 500 influencers with a
link each, 1,000,000 clicks over 200,000 devices in the last 60 days (a device favours a few
influencers; 1 % of clicks flagged), and 100,000 orders: 90 % carry the sub-id of their
device's last click, 5 % only a postback's device id, 5 % nothing we can use.

Measured: for each model, the program is switched to it, every attribution is cleared, and
`attribution.service.rerun` (the code path of `skinstack attribution rerun`: batches of 1,000,
candidates loaded through the indexes, the pure models, writes included) attributes all the
conversions. Printed: conversions/s per model, and a check that every attributed conversion's
credits sum to exactly 1. Reference beside it: one SQL statement that writes last-click
attributions with a LATERAL join over the same data.

    .venv/bin/python benchmarks/attribution.py [--clicks 1000000] [--conversions 100000]

Targets (issue 6): last click >= 10,000 conversions/s; every model >= 2,000/s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from _scratch import copy_influencers, drop, fresh, merchant

from skinstack.attribution import service
from skinstack.attribution.models import MODELS
from skinstack.attribution.repository import Range
from skinstack.db import create_engine, create_sessionmaker, libpq_url
from skinstack.kit import ids
from skinstack.logs import configure_logging

DATABASE = "skinstack_bench_attribution"
INFLUENCERS = 500
DAYS = 60
TARGETS = {"last_click": 10_000}
TARGET_OTHERS = 2_000


def setup(url: str, clicks: int, devices: int, conversions: int, seed: int) -> str:
    """Loads the data set; returns the program id."""
    rng = random.Random(seed)
    merchant_id = merchant(url)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        # Monthly partitions for the past, as the periodic job would have made them.
        month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while month < now:
            following = (month + timedelta(days=32)).replace(day=1)
            conn.execute(f"CREATE TABLE IF NOT EXISTS clicks_{month:%Y_%m} PARTITION OF clicks "
                         f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')")
            month = following
        program_id = conn.execute(
            "INSERT INTO programs (merchant_id, network_id, name, commission_type, "
            "commission_percent, cookie_window_days) SELECT %s, id, 'Bench', 'percentage', 15, "
            "30 FROM networks WHERE code = 'shopify_refersion' RETURNING id",
            (merchant_id,)).fetchone()[0]
        links = [uuid.uuid4() for _ in range(INFLUENCERS)]
        with conn.cursor() as cursor:
            influencers = copy_influencers(cursor, INFLUENCERS)
            with cursor.copy("COPY tracking_links (id, slug, influencer_id, program_id, "
                             "merchant_id, destination_url, sub_id_parameter) FROM STDIN"
                             ) as copy:
                for index, (link_id, influencer_id) in enumerate(zip(links, influencers,
                                                                     strict=True)):
                    copy.write_row((link_id, f"bench{index:05d}", influencer_id, program_id,
                                    merchant_id, "https://glowlabs.example.com/", "aff_sub"))

        # Clicks: each device has a few favourite influencers and clicks 1..9 times.
        last_click: dict[int, tuple[uuid.UUID, datetime]] = {}
        span = DAYS * 86400
        made = 0
        with conn.cursor().copy(
                "COPY clicks (id, clicked_at, link_id, influencer_id, program_id, merchant_id, "
                "device_id, counted, fraud_flags) FROM STDIN") as copy:
            while made < clicks:
                device = rng.randrange(devices)
                favourites = [rng.randrange(INFLUENCERS) for _ in range(3)]
                for _ in range(min(rng.randint(1, 9), clicks - made)):
                    at = start + timedelta(seconds=rng.random() * span)
                    pick = rng.choice(favourites)
                    click_id = ids.uuid7(int(at.timestamp() * 1000))
                    flagged = rng.random() < 0.01
                    copy.write_row((click_id, at, links[pick], influencers[pick], program_id,
                                    merchant_id, f"dev{device:07d}", not flagged,
                                    "{bot}" if flagged else "{}"))
                    made += 1
                    if not flagged and (device not in last_click
                                        or at > last_click[device][1]):
                        last_click[device] = (click_id, at)

        # Orders: a converting device buys within two days of its last click.
        buyers = rng.sample(sorted(last_click), min(conversions, len(last_click)))
        with conn.cursor().copy(
                "COPY conversions (merchant_id, program_id, source, order_id, occurred_at, "
                "currency, subtotal, discounts, tax, shipping, total, line_items, "
                "discount_codes, click_ref, click_id, device_id) FROM STDIN") as copy:
            for index, device in enumerate(buyers):
                click_id, at = last_click[device]
                occurred = min(at + timedelta(seconds=rng.random() * 2 * 86400),
                               now - timedelta(minutes=1))
                kind = rng.random()
                sub_id = click_id if kind < 0.90 else None
                device_id = f"dev{device:07d}" if 0.90 <= kind < 0.95 else None
                copy.write_row((merchant_id, program_id, "postback" if device_id else "shopify",
                                f"order-{index}", occurred, "USD", 5998, 0, 0, 0, 5998, "[]",
                                "{}", ids.encode(sub_id) if sub_id else None, sub_id,
                                device_id))
        conn.execute("VACUUM ANALYZE clicks")
        conn.execute("VACUUM ANALYZE conversions")
    return str(program_id)


def reset(url: str, program_id: str, model: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("UPDATE programs SET attribution_model = %s WHERE id = %s",
                     (model, program_id))
        conn.execute("TRUNCATE attributions")
        conn.execute("UPDATE conversions SET attributed_at = NULL, attribution_note = NULL")
        conn.execute("VACUUM ANALYZE conversions")


def check(url: str) -> tuple[int, int, int]:
    """(conversions with credits, without, whose current weights do not sum to 1)."""
    with psycopg.connect(libpq_url(url)) as conn:
        credited, uncredited = conn.execute(
            "SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM attributions a "
            "WHERE a.conversion_id = c.id)), count(*) FILTER (WHERE NOT EXISTS ("
            "SELECT 1 FROM attributions a WHERE a.conversion_id = c.id)) FROM conversions c"
        ).fetchone()
        wrong = conn.execute(
            "SELECT count(*) FROM (SELECT conversion_id FROM attributions "
            "WHERE superseded_at IS NULL GROUP BY conversion_id HAVING sum(weight) <> 1) s"
        ).fetchone()[0]
    return credited, uncredited, wrong


REFERENCE = """
    INSERT INTO reference_attributions
    SELECT cv.id, c.influencer_id, c.id, c.clicked_at
    FROM conversions cv
    CROSS JOIN LATERAL (
        SELECT c.id, c.influencer_id, c.clicked_at FROM clicks c
        WHERE c.id = cv.click_id AND c.counted
          AND c.clicked_at BETWEEN cv.occurred_at - interval '30 days' AND cv.occurred_at
        ORDER BY c.clicked_at DESC LIMIT 1
    ) c
"""


def reference(url: str) -> tuple[float, int]:
    """One SQL statement writing last-click (sub-id) attributions: (conversions/s, rows)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE reference_attributions (conversion_id uuid, influencer_id "
                     "uuid, click_id uuid, clicked_at timestamptz)")
        total = conn.execute("SELECT count(*) FROM conversions").fetchone()[0]
        began = time.perf_counter()
        rows = conn.execute(REFERENCE).rowcount
        elapsed = time.perf_counter() - began
        conn.execute("DROP TABLE reference_attributions")
    return total / elapsed, rows


async def run(url: str, program_id: str, model: str, batch: int) -> tuple[float, object]:
    engine = create_engine(url, pool_size=2)
    try:
        sessions = create_sessionmaker(engine)
        began = time.perf_counter()
        summary = await service.rerun(sessions, Range(program_id=uuid.UUID(program_id)),
                                      batch=batch)
        return time.perf_counter() - began, summary
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=200_000)
    parser.add_argument("--conversions", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()
    configure_logging("WARNING")
    url = fresh(DATABASE)
    try:
        began = time.perf_counter()
        program_id = setup(url, args.clicks, args.devices, args.conversions, args.seed)
        print(f"data: {args.clicks:,} clicks, {args.devices:,} devices, "
              f"{args.conversions:,} conversions, {INFLUENCERS} influencers "
              f"(loaded in {time.perf_counter() - began:.1f} s)")
        failed = False
        for model in args.models.split(","):
            reset(url, program_id, model)
            elapsed, summary = asyncio.run(run(url, program_id, model, args.batch))
            credited, uncredited, wrong = check(url)
            rate = summary.conversions / elapsed
            target = TARGETS.get(model, TARGET_OTHERS)
            met = rate >= target and wrong == 0
            failed |= not met
            print(f"{model:>15}: {rate:9,.0f} conversions/s ({summary.conversions:,} in "
                  f"{elapsed:.1f} s; {credited:,} credited, {uncredited:,} not; "
                  f"weights off: {wrong}) target {target:,}/s {'met' if met else 'NOT met'}")
        rate, rows = reference(url)
        print(f"{'reference':>15}: {rate:9,.0f} conversions/s (one SQL LATERAL last-click "
              f"INSERT … SELECT, {rows:,} rows)")
        return 1 if failed else 0
    finally:
        if not args.keep:
            drop(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
