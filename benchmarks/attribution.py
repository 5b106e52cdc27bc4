"""Benchmark: attribution of 100,000 conversions over 1,000,000 clicks, per model, alone and
as the whole chain a re-run performs (attribution, commissions, ledger).

Setup (straight SQL and COPY, not measured): one merchant and program (15 %, the default 20 %
platform fee), 500 influencers with a link each, 1,000,000 clicks over 200,000 devices in the
last 60 days (a device favours a few influencers; 1 % flagged `crawler`, which makes a click
neither counted nor creditable: skinstack.fraud.clicks), and 100,000 orders: 90 % carry the
sub-id of their device's last creditable click, 5 % only a postback's device id, 5 % nothing we
can use.

Measured, per model, each run on a fresh copy of that data (no credits, commissions or
postings yet; `CREATE DATABASE … TEMPLATE`, not timed), batches of 1,000 conversions, each
batch its own transaction:
- attribution alone: `attribution.service.attribute` on the conversions (listed beforehand in
  the re-run's order): lock, load the candidates, run the pure model, write the credits. No
  commissions, no ledger (checked: none written).
- whole chain: `attribution.service.rerun` (the code path of `skinstack attribution rerun`):
  the same, then `commissions.service.settle` of the conversions whose credits changed
  (commissions, tier lookups, their ledger postings) in the same transaction (checked: one
  commission per credited influencer and conversion, every posting balanced).
Printed: conversions/s of each per model, with a check that every attributed conversion's
credits sum to exactly 1. References beside them (last click by sub-id, no model, no reasons,
no supersede check): one SQL `INSERT … SELECT` with a LATERAL last-click join over the same
creditable clicks for attribution alone; that, then one `INSERT … SELECT` of the commissions
(the program's percent and fee; no tiers, no ledger) for the chain.

    .venv/bin/python benchmarks/attribution.py [--clicks 1000000] [--devices 200000]
        [--conversions 100000] [--models last_click,linear] [--keep]

Targets (issue 6), for attribution alone: last click >= 10,000 conversions/s; every model
>= 2,000/s. The chain has none.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from _scratch import copy_influencers, copy_of, merchant, scratch_database

from skinstack.attribution import service
from skinstack.attribution.models import MODELS
from skinstack.attribution.repository import Range
from skinstack.db import create_engine, create_sessionmaker, libpq_url
from skinstack.fraud.clicks import CREDITABLE_FLAGS, SCORES, creditable
from skinstack.kit import ids
from skinstack.logs import configure_logging

INFLUENCERS = 500
DAYS = 60
FLAG = "crawler"
"""The flag on 1 % of the clicks: neither counted nor creditable."""
assert FLAG in SCORES and not creditable({FLAG})
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
                "device_id, counted, fraud_score, fraud_flags) FROM STDIN") as copy:
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
                                    SCORES[FLAG] if flagged else 0,
                                    f"{{{FLAG}}}" if flagged else "{}"))
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


def use_model(url: str, program_id: str, model: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("UPDATE programs SET attribution_model = %s WHERE id = %s",
                     (model, program_id))


def rerun_order(url: str, program_id: str) -> list[uuid.UUID]:
    """The program's conversions in the order `rerun` takes them: (occurred_at, id)."""
    with psycopg.connect(libpq_url(url)) as conn:
        return [row[0] for row in conn.execute(
            "SELECT id FROM conversions WHERE program_id = %s ORDER BY occurred_at, id",
            (program_id,))]


@dataclass
class Outcome:
    seconds: float
    conversions: int
    credited: int = 0
    uncredited: int = 0
    weights_off: int = 0
    commissions: int = 0
    credited_pairs: int = 0
    """Current credits' distinct (conversion, influencer): the commissions the chain owes."""
    postings: int = 0
    unbalanced: int = 0

    @property
    def rate(self) -> float:
        return self.conversions / self.seconds


def check(url: str, outcome: Outcome) -> Outcome:
    """Fills in what the run left in the database."""
    with psycopg.connect(libpq_url(url)) as conn:
        (outcome.credited, outcome.uncredited, outcome.weights_off, outcome.credited_pairs,
         outcome.commissions, outcome.postings, outcome.unbalanced) = conn.execute("""
            SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM attributions a
                                                  WHERE a.conversion_id = c.id)),
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM attributions a
                                                      WHERE a.conversion_id = c.id)),
                   (SELECT count(*) FROM (SELECT conversion_id FROM attributions
                    WHERE superseded_at IS NULL GROUP BY conversion_id
                    HAVING sum(weight) <> 1) s),
                   (SELECT count(*) FROM (SELECT DISTINCT conversion_id, influencer_id
                    FROM attributions WHERE superseded_at IS NULL) s),
                   (SELECT count(*) FROM commissions),
                   (SELECT count(*) FROM ledger_postings),
                   (SELECT count(*) FROM (SELECT posting_id FROM ledger_entries
                    GROUP BY posting_id, currency HAVING sum(amount) <> 0) s)
            FROM conversions c""").fetchone()
    return outcome


async def attribution_alone(url: str, program_id: str, batch: int) -> Outcome:
    """`attribution.service.attribute`, `batch` conversions per transaction, in the re-run's
    order; commissions are not settled."""
    order = rerun_order(url, program_id)
    engine = create_engine(url, pool_size=2)
    try:
        sessions = create_sessionmaker(engine)
        learned = service.LearnedModels(ttl=float("inf"))  # learned afresh, as a re-run does
        began = time.perf_counter()
        for start in range(0, len(order), batch):
            async with sessions() as session:
                await service.attribute(session, order[start:start + batch], learned=learned)
                await session.commit()
        return Outcome(seconds=time.perf_counter() - began, conversions=len(order))
    finally:
        await engine.dispose()


async def whole_chain(url: str, program_id: str, batch: int) -> Outcome:
    """`attribution.service.rerun`: attribution, then commissions and their postings."""
    engine = create_engine(url, pool_size=2)
    try:
        sessions = create_sessionmaker(engine)
        began = time.perf_counter()
        summary = await service.rerun(sessions, Range(program_id=uuid.UUID(program_id)),
                                      batch=batch)
        return Outcome(seconds=time.perf_counter() - began, conversions=summary.conversions)
    finally:
        await engine.dispose()


REFERENCE_ATTRIBUTIONS = f"""
    INSERT INTO reference_attributions
    SELECT cv.id, c.influencer_id, c.id, c.clicked_at
    FROM conversions cv
    CROSS JOIN LATERAL (
        SELECT c.id, c.influencer_id, c.clicked_at FROM clicks c
        WHERE c.id = cv.click_id
          AND c.fraud_flags <@ '{{{",".join(sorted(CREDITABLE_FLAGS))}}}'::varchar[]
          AND c.clicked_at BETWEEN cv.occurred_at - interval '30 days' AND cv.occurred_at
        ORDER BY c.clicked_at DESC LIMIT 1
    ) c
"""
"""Last click by sub-id over creditable clicks (the flags, not `counted`, decide: a repeat or
velocity click is not counted but is creditable; fraud.clicks.creditable)."""
REFERENCE_COMMISSIONS = """
    INSERT INTO reference_commissions (id, conversion_id, influencer_id, program_id,
        merchant_id, currency, occurred_at, weight, commissionable_amount, gross_amount,
        platform_fee, net_amount, status, calculation_details)
    SELECT gen_random_uuid(), cv.id, r.influencer_id, p.id, cv.merchant_id, cv.currency,
           cv.occurred_at, 1, cv.subtotal - cv.discounts, g.gross, f.fee, g.gross - f.fee,
           'pending', '{}'
    FROM reference_attributions r
    JOIN conversions cv ON cv.id = r.conversion_id
    JOIN programs p ON p.id = cv.program_id
    CROSS JOIN LATERAL (SELECT round((cv.subtotal - cv.discounts) * p.commission_percent / 100)
                        ::bigint AS gross) g
    CROSS JOIN LATERAL (SELECT round(g.gross * p.platform_fee_percent / 100)::bigint AS fee) f
"""
"""The credited conversions' commissions: the program's percent and fee, no tiers, no ledger,
no explanation."""


def references(url: str) -> tuple[float, float, int]:
    """(attribution reference conversions/s, chain reference conversions/s, rows), on reference
    tables of their own, dropped afterwards."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE reference_attributions (conversion_id uuid, influencer_id "
                     "uuid, click_id uuid, clicked_at timestamptz)")
        conn.execute("CREATE TABLE reference_commissions (LIKE commissions INCLUDING DEFAULTS)")
        total = conn.execute("SELECT count(*) FROM conversions").fetchone()[0]
        began = time.perf_counter()
        rows = conn.execute(REFERENCE_ATTRIBUTIONS).rowcount
        attributed = time.perf_counter()
        conn.execute(REFERENCE_COMMISSIONS)
        settled = time.perf_counter()
        conn.execute("DROP TABLE reference_attributions, reference_commissions")
    return total / (attributed - began), total / (settled - began), rows


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
    with scratch_database("attribution", keep=args.keep) as url:
        began = time.perf_counter()
        program_id = setup(url, args.clicks, args.devices, args.conversions, args.seed)
        print(f"data: {args.clicks:,} clicks, {args.devices:,} devices, "
              f"{args.conversions:,} conversions, {INFLUENCERS} influencers "
              f"(loaded in {time.perf_counter() - began:.1f} s); batches of {args.batch:,}; "
              "each run on a fresh copy (no credits, commissions or postings yet)")
        alone_reference, chain_reference, rows = references(url)
        print(f"{'attribution alone':>17} = attribute(): lock, candidates, model, credits "
              f"written; no commissions, no ledger\n{'':>17}   reference {alone_reference:,.0f}"
              f"/s: one SQL LATERAL last-click INSERT … SELECT ({rows:,} rows)")
        print(f"{'whole chain':>17} = rerun(): the same, then commissions settled and posted to "
              f"the ledger\n{'':>17}   reference {chain_reference:,.0f}/s: that, then one SQL "
              "INSERT … SELECT of the commissions (no tiers, no ledger)")
        failed = False
        for model in args.models.split(","):
            with copy_of(url) as copy:
                use_model(copy, program_id, model)
                alone = check(copy, asyncio.run(attribution_alone(copy, program_id,
                                                                  args.batch)))
            target = TARGETS.get(model, TARGET_OTHERS)
            met = alone.rate >= target
            right = alone.weights_off == 0 and alone.commissions == alone.postings == 0
            failed |= not (met and right)
            print(f"{model:>15}  attribution alone {alone.rate:7,.0f} conversions/s   "
                  f"reference {alone_reference:,.0f}/s   target {target:,}/s "
                  f"{'met' if met else 'NOT met'}\n{'':>19}{alone.conversions:,} in "
                  f"{alone.seconds:.1f} s; {alone.credited:,} credited, {alone.uncredited:,} "
                  f"not; weights off: {alone.weights_off}; {alone.commissions} commissions, "
                  f"{alone.postings} postings")
            with copy_of(url) as copy:
                use_model(copy, program_id, model)
                chain = check(copy, asyncio.run(whole_chain(copy, program_id, args.batch)))
            right = (chain.weights_off == 0 and chain.unbalanced == 0
                     and chain.commissions == chain.credited_pairs)
            failed |= not right
            print(f"{'':>15}  whole chain       {chain.rate:7,.0f} conversions/s   "
                  f"reference {chain_reference:,.0f}/s\n{'':>19}{chain.conversions:,} in "
                  f"{chain.seconds:.1f} s; {chain.credited:,} credited; weights off: "
                  f"{chain.weights_off}; {chain.commissions:,} commissions for "
                  f"{chain.credited_pairs:,} credited (conversion, influencer); "
                  f"{chain.postings:,} postings, {chain.unbalanced} unbalanced")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
