"""Benchmark: settling commissions for 50,000 attributed conversions, then their refunds.

Setup (straight SQL and COPY, not measured): one merchant and a 15 % program with a 20 %
platform fee and a tier, 500 influencers, and attributed conversions with two line items
each; 80 % credited to one influencer, 20 % split 0.6 / 0.4 between two.

Measured: `commissions.service.settle` (the code path of the conversion job after
attribution) over every conversion in batches of 1,000, each batch its own transaction:
commissions written, the tier lookups, and the accrual posted to the ledger. Then a partial
refund on 10 % of the orders, settled the same way (reversals and their postings). Printed:
conversions/s and commissions/s, the same pass again with nothing to do, reversals/s, and
checks that every posting balances and the merchant's payable equals the commissions'
outstanding gross. Reference beside the first: one SQL `INSERT … SELECT` that writes the same
commissions (the program's 15 % and 20 % fee; no tiers, no ledger, no explanation). No
attribution is measured here (the credits are COPied in; benchmarks/attribution.py measures
attribution with and without this step).

    .venv/bin/python benchmarks/commissions.py [--conversions 50000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from _scratch import copy_influencers, merchant, scratch_database

from skinstack.commissions import service
from skinstack.db import create_engine, create_sessionmaker, libpq_url
from skinstack.logs import configure_logging

INFLUENCERS = 500


def setup(url: str, conversions: int, seed: int) -> tuple[str, list[uuid.UUID]]:
    rng = random.Random(seed)
    merchant_id = merchant(url)
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        program_id = conn.execute(
            "INSERT INTO programs (merchant_id, network_id, name, commission_type, "
            "commission_percent, cookie_window_days, tiers) SELECT %s, id, 'Bench', "
            "'percentage', 15, 30, '[{\"min_monthly_sales\": 500000, "
            "\"commission_percent\": \"18\"}]' FROM networks "
            "WHERE code = 'shopify_refersion' RETURNING id", (merchant_id,)).fetchone()[0]
        ids = [uuid.uuid4() for _ in range(conversions)]
        with conn.cursor() as cursor:
            influencers = copy_influencers(cursor, INFLUENCERS)
            with cursor.copy("COPY conversions (id, merchant_id, program_id, source, order_id, "
                             "occurred_at, currency, subtotal, discounts, tax, shipping, total, "
                             "line_items, discount_codes, attributed_at) FROM STDIN") as copy:
                for index, conversion_id in enumerate(ids):
                    serums, mask = rng.randint(1, 3), rng.randint(0, 2)
                    subtotal = serums * 2999 + mask * 999
                    lines = [{"line_id": "1", "sku": "VITC-30", "quantity": serums,
                              "unit_price": 2999, "discount": 0},
                             {"line_id": "2", "sku": "MASK-1", "quantity": mask,
                              "unit_price": 999, "discount": 0}]
                    copy.write_row((conversion_id, merchant_id, program_id, "postback",
                                    f"bench-{index}", now - timedelta(minutes=index % 600),
                                    "USD", subtotal, 0, 0, 0, subtotal, json.dumps(lines),
                                    "{}", now))
            with cursor.copy("COPY attributions (conversion_id, influencer_id, program_id, "
                             "weight, model, match_type, confidence, reason) FROM STDIN"
                             ) as copy:
                for conversion_id in ids:
                    first, second = rng.sample(influencers, 2)
                    credits = ([(first, "1")] if rng.random() < 0.8
                               else [(first, "0.6"), (second, "0.4")])
                    for influencer_id, weight in credits:
                        copy.write_row((conversion_id, influencer_id, program_id, weight,
                                        "last_click", "sub_id", "1", "bench"))
        conn.execute("ANALYZE")
    return str(program_id), ids


async def settle_all(url: str, ids: list[uuid.UUID], batch: int) -> tuple[float, int, int]:
    engine = create_engine(url, pool_size=2)
    sessions = create_sessionmaker(engine)
    created = reversals = 0
    try:
        started = time.perf_counter()
        for start in range(0, len(ids), batch):
            async with sessions() as session:
                settled = await service.settle(session, ids[start:start + batch])
                await session.commit()
            created += settled.created
            reversals += settled.reversals
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    return elapsed, created, reversals


def refund(url: str, ids: list[uuid.UUID], seed: int) -> list[uuid.UUID]:
    rng = random.Random(seed)
    chosen = sorted(rng.sample(ids, len(ids) // 10))
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO conversion_adjustments (merchant_id, source, external_id, order_id, "
            "conversion_id, kind, amount, currency, line_items, occurred_at) "
            "SELECT merchant_id, source, 'refund-' || order_id, order_id, id, 'refund', "
            "2999, currency, '[{\"sku\": \"VITC-30\", \"quantity\": 1, \"amount\": 2999}]', now() "
            "FROM conversions WHERE id = ANY(%s)", (chosen,))
    return chosen


def check(url: str) -> tuple[int, int, int]:
    """(unbalanced postings, merchant payable, outstanding gross)."""
    with psycopg.connect(libpq_url(url)) as conn:
        unbalanced = conn.execute(
            "SELECT count(*) FROM (SELECT posting_id FROM ledger_entries GROUP BY posting_id, "
            "currency HAVING sum(amount) <> 0) x").fetchone()[0]
        payable = conn.execute("SELECT coalesce(sum(amount), 0) FROM ledger_entries "
                               "WHERE account LIKE 'merchant:%'").fetchone()[0]
        outstanding = conn.execute("SELECT coalesce(sum(gross_amount - reversed_amount), 0) "
                                   "FROM commissions").fetchone()[0]
    return unbalanced, int(payable), int(outstanding)


def reference(url: str) -> tuple[float, int]:
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("CREATE TABLE reference_commissions (LIKE commissions INCLUDING DEFAULTS)")
        started = time.perf_counter()
        written = conn.execute("""
            INSERT INTO reference_commissions (id, conversion_id, influencer_id, program_id,
                merchant_id, currency, occurred_at, weight, commissionable_amount, gross_amount,
                platform_fee, net_amount, status, calculation_details)
            SELECT gen_random_uuid(), c.id, a.influencer_id, a.program_id, c.merchant_id,
                   c.currency, c.occurred_at, a.weight, round(c.subtotal * a.weight),
                   g.gross, f.fee, g.gross - f.fee, 'pending', '{}'
            FROM conversions c
            JOIN attributions a ON a.conversion_id = c.id
            JOIN programs p ON p.id = a.program_id
            CROSS JOIN LATERAL (SELECT round(c.subtotal * a.weight * p.commission_percent / 100)
                                ::bigint AS gross) g
            CROSS JOIN LATERAL (SELECT round(g.gross * p.platform_fee_percent / 100)::bigint
                                AS fee) f""").rowcount
        conn.commit()
        return time.perf_counter() - started, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversions", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()
    configure_logging("WARNING")
    with scratch_database("commissions", keep=args.keep) as url:
        _, ids = setup(url, args.conversions, args.seed)
        seconds, created, _ = asyncio.run(settle_all(url, ids, args.batch))
        print(f"settle: {len(ids) / seconds:9,.0f} conversions/s, {created / seconds:9,.0f} "
              f"commissions/s ({created:,} commissions from {len(ids):,} conversions in "
              f"{seconds:.1f} s: tiers, commissions and their ledger postings)")
        seconds, written = reference(url)
        print(f"reference: {written / seconds:9,.0f} commissions/s (one SQL INSERT … SELECT of "
              "the same commissions at the program's 15 % and 20 % fee: no tiers, no ledger, no "
              "explanation)")
        again, made_again, _ = asyncio.run(settle_all(url, ids, args.batch))
        print(f"settle again (nothing to do): {len(ids) / again:9,.0f} conversions/s, "
              f"{made_again} new commissions")
        refunded = refund(url, ids, args.seed)
        seconds, _, reversals = asyncio.run(settle_all(url, refunded, args.batch))
        print(f"refunds: {reversals / seconds:9,.0f} reversals/s ({reversals:,} reversals of "
              f"{len(refunded):,} refunded orders in {seconds:.1f} s)")
        unbalanced, payable, outstanding = check(url)
        print(f"check: {unbalanced} unbalanced postings; merchant payable {payable:,} = "
              f"-outstanding gross {outstanding:,}: {payable == -outstanding}")
        return 0 if unbalanced == 0 and payable == -outstanding and made_again == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
