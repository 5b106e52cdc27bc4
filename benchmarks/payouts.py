"""Benchmark: a month's payout batch for 20,000 influencers and 1,000,000 approved commissions,
then sending its Stripe payouts to the fake Stripe server.

Setup (COPY, not measured): one merchant and program; 20,000 influencers with their payout
details — 80 % Stripe (`acct_…`), 6 % PayPal (email encrypted), 5 % ACH (valid routing number,
account number encrypted with kit.crypto), all with a W-9 received; and not ready: 3 % with no
tax form, 3 % in a destination cooldown (replaced an hour ago), 3 % with one small commission
under the minimum. 1,000,000 commissions (one conversion each) spread over them, written as
the real code leaves them: the commission (approved in last month, the period), its accrual
posting (`accrual:{id}:1`: merchant payable -gross, pending +net, platform +fee) and its
approval posting (`approval:{id}`: pending -net, available +net) with their entries, booked in
order; 3 % then half refunded and 1 % wholly refunded from the available balance (a reversal
row and its posting `reversal:{id}`: payable +gross, available -net, platform -fee; the
whole ones `reversed`), so a payout nets clawbacks off. Every posting balanced (the database's
trigger checks each COPY).

Measured, on the data just loaded (warm cache):
1. **Batch**: `payouts.service.create_batch` for the period in one transaction, committed:
   the advisory lock, the candidates (every unsettled posting on an available balance), the
   readiness of every influencer (decrypting the preferred method's secret), the plan (minimum,
   fees), and the writes: payouts (destination encrypted), items, commissions marked paid, and
   one `payout` posting each. Seconds and payouts/s, and by stage (create_batch's `progress`:
   candidates, readiness and plan, writes, commit); the dry run (the same gathering and plan,
   nothing written) before it. Reference: one SQL `INSERT … SELECT` writing the same payouts'
   rows from a GROUP BY over the approval and reversal entries on the available balances (no
   readiness, no items, no ledger, no commissions marked): the floor of one pass over the data.
   Checked: every ready influencer over the minimum has exactly one payout, whose gross is their
   available balance before the batch, and no one else has one; every commission of theirs is
   paid (or reversed) and every paid one in exactly one active item; their available balances
   are 0; every posting balanced.
2. **Send**: `payouts.sender.send_batch(…, providers=Providers(stripe=StripeProvider(…)),
   concurrency=C)` against tests/fakes/stripe_server.py in a process of its own (the real SDK
   over HTTP on loopback). Per Stripe payout: claim (row lock, commit), lock again, the account
   checked (`GET /v1/accounts/…`), the transfer (`POST /v1/transfers`), the outcome (paid,
   `payout_paid` posting, the batch's status), commit. Stripe payouts/s from the call's start
   to the last Stripe outcome; the whole call besides (it then claims the PayPal payouts, which
   wait — no PayPal provider is given — and files the ACH ones). Reference: as many plain
   `POST /v1/transfers` with httpx at the same concurrency straight to the fake (the
   provider's floor). Checked: the fake made exactly one transfer per Stripe payout, of its
   net amount to its account; every Stripe payout `paid`; every posting balanced; nothing of
   theirs left in transit.

    .venv/bin/python benchmarks/payouts.py [--influencers 20000] [--commissions 1000000]
                                           [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import httpx
import psycopg
from _scratch import merchant, scratch_database
from pydantic import SecretStr

from skinstack.commissions.rules import reversed_to
from skinstack.config import Settings, get_settings
from skinstack.db import create_engine, create_sessionmaker, libpq_url
from skinstack.kit import crypto
from skinstack.logs import configure_logging
from skinstack.payouts import service
from skinstack.payouts.aba import aba_check_digit
from skinstack.payouts.fees import fee_for
from skinstack.payouts.providers.stripe import StripeProvider
from skinstack.payouts.sender import Providers, send_batch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.fakes.stripe_server import API_KEY  # noqa: E402 - the repository root, above

TARGET_BATCH_SECONDS = 30
TARGET_SENT_PER_SECOND = 200
GROUPS = (("stripe", 0.80), ("paypal", 0.06), ("ach", 0.05), ("no_tax", 0.03),
          ("cooldown", 0.03), ("under_minimum", 0.03))
"""The influencers' kinds and shares; the first three are ready."""
READY = {"stripe", "paypal", "ach"}
PARTIAL, WHOLE = 0.03, 0.01
"""Shares of the commissions half refunded, and wholly refunded, after approval."""
CHUNK = 100_000
"""Commissions per COPY of ledger rows (each COPY holds whole postings)."""


@dataclass
class Data:
    period_start: date
    period_end: date
    kinds: dict[uuid.UUID, str]
    accounts: dict[uuid.UUID, str]
    """Stripe influencers' connected accounts."""
    commissions: int
    reversals: int


def _period(now: datetime) -> tuple[date, date]:
    """Last month."""
    first = now.date().replace(day=1)
    end = first - timedelta(days=1)
    return end.replace(day=1), end


def setup(url: str, influencers: int, commissions: int, seed: int,
          now: datetime | None = None) -> Data:
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    start, end = _period(now)
    begins = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    days = (end - start).days + 1
    merchant_id = uuid.UUID(merchant(url))
    kinds: dict[uuid.UUID, str] = {}
    accounts: dict[uuid.UUID, str] = {}
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        program_id = conn.execute(
            "INSERT INTO programs (merchant_id, network_id, name, commission_type, "
            "commission_percent, cookie_window_days) SELECT %s, id, 'Bench', 'percentage', 15, "
            "30 FROM networks WHERE code = 'shopify_refersion' RETURNING id",
            (merchant_id,)).fetchone()[0]
        with conn.cursor() as cursor:
            users = [uuid.uuid4() for _ in range(influencers)]
            with cursor.copy("COPY users (id, email, password_hash, role) FROM STDIN") as copy:
                for index, user_id in enumerate(users):
                    copy.write_row((user_id, f"creator{index}@example.com", "x", "influencer"))
            with cursor.copy(
                    "COPY influencers (id, user_id, display_name, preferred_payout_method, "
                    "stripe_account_id, paypal_email_encrypted, ach_routing_number, "
                    "ach_account_number_encrypted, ach_account_last4, ach_account_type, "
                    "ach_holder_name, tax_country, tax_form, tax_legal_name, tax_tin_encrypted, "
                    "tax_tin_last4, tax_received_at, payout_destination_changed_at) FROM STDIN"
                    ) as copy:
                names, weights = zip(*GROUPS, strict=True)
                for index, user_id in enumerate(users):
                    influencer_id = uuid.uuid4()
                    kind = rng.choices(names, weights)[0]
                    kinds[influencer_id] = kind
                    method = kind if kind in ("paypal", "ach") else "stripe"
                    account = f"acct_bench{index:010d}" if method == "stripe" else None
                    if account:
                        accounts[influencer_id] = account
                    routing = number = None
                    if method == "ach":
                        first8 = f"{rng.randrange(10**7, 10**8)}"
                        routing = first8 + aba_check_digit(first8)
                        number = f"{rng.randrange(10**9, 10**10)}"
                    tin = f"{rng.randrange(10**8, 10**9)}"
                    taxed = kind != "no_tax"
                    copy.write_row((
                        influencer_id, user_id, f"Creator {index}", method, account,
                        crypto.encrypt(f"creator{index}@example.com")
                        if method == "paypal" else None,
                        routing, crypto.encrypt(number) if number else None,
                        number[-4:] if number else None, "checking" if number else None,
                        f"Creator {index}" if number else None,
                        "US" if taxed else None, "w9" if taxed else None,
                        f"Creator {index}" if taxed else None,
                        crypto.encrypt(tin) if taxed else None, tin[-4:] if taxed else None,
                        begins - timedelta(days=40) if taxed else None,
                        now - timedelta(hours=1) if kind == "cooldown" else None))
        ids = list(kinds)
        small = [i for i in ids if kinds[i] == "under_minimum"]
        others = [i for i in ids if kinds[i] != "under_minimum"]
        owners = small + [rng.choice(others) for _ in range(max(commissions - len(small), 0))]
        reversals = _copy_commissions(conn, rng, owners, merchant_id, program_id, begins, days,
                                      small=set(small))
        conn.execute("ANALYZE")
    return Data(start, end, kinds, accounts, len(owners), reversals)


def _copy_commissions(conn: psycopg.Connection, rng: random.Random, owners: list[uuid.UUID],
                      merchant_id: uuid.UUID, program_id: uuid.UUID, begins: datetime,
                      days: int, *, small: set[uuid.UUID]) -> int:
    payable = f"merchant:{merchant_id}:payable"
    reversals = 0
    for chunk in range(0, len(owners), CHUNK):
        conversions, commissions, reversal_rows, postings, entries = [], [], [], [], []
        for index in range(chunk, min(chunk + CHUNK, len(owners))):
            influencer_id = owners[index]
            conversion_id, commission_id = uuid.uuid4(), uuid.uuid4()
            subtotal = rng.randint(200, 400) if influencer_id in small \
                else rng.randint(1500, 20000)
            gross = (subtotal * 15 + 50) // 100
            fee = (gross * 20 + 50) // 100
            net = gross - fee
            approved = begins + timedelta(seconds=rng.randrange((days - 3) * 86400))
            occurred = approved - timedelta(days=rng.randint(1, 30), seconds=rng.randrange(86400))
            conversions.append((conversion_id, merchant_id, program_id, "postback",
                                f"bench-{index}", occurred, "USD", subtotal, 0, 0, 0, subtotal,
                                "[]", "{}", occurred))
            available = f"influencer:{influencer_id}:available"
            pending = f"influencer:{influencer_id}:pending"
            accrual, approval = uuid.uuid4(), uuid.uuid4()
            postings += [
                (accrual, f"accrual:{commission_id}:1", "accrual", merchant_id, influencer_id,
                 commission_id, None, f"commission on order {conversion_id}", occurred),
                (approval, f"approval:{commission_id}", "approval", merchant_id, influencer_id,
                 commission_id, None, "commission approved", approved)]
            entries += [(accrual, payable, "USD", -gross, occurred),
                        (accrual, pending, "USD", net, occurred),
                        (accrual, "platform:revenue", "USD", fee, occurred),
                        (approval, pending, "USD", -net, approved),
                        (approval, available, "USD", net, approved)]
            status, taken = "approved", (0, 0)
            draw = rng.random() if influencer_id not in small else 1.0
            if draw < PARTIAL + WHOLE:
                whole = draw < WHOLE
                fraction = Fraction(1) if whole else Fraction(1, 2)
                taken = reversed_to(gross, fee, fraction)
                reversal_id, posting = uuid.uuid4(), uuid.uuid4()
                booked = approved + timedelta(days=1)
                reversal_rows.append((
                    reversal_id, commission_id, "postback", f"refund-bench-{index}", "refund",
                    "USD", taken[0], taken[1], taken[0] - taken[1],
                    Decimal(fraction.numerator) / fraction.denominator, "available",
                    "refund of the order", booked))
                postings.append((posting, f"reversal:{reversal_id}", "reversal", merchant_id,
                                 influencer_id, commission_id, reversal_id,
                                 "refund: refund of the order reported by postback", booked))
                entries += [(posting, payable, "USD", taken[0], booked),
                            (posting, available, "USD", -(taken[0] - taken[1]), booked)]
                if taken[1]:
                    entries.append((posting, "platform:revenue", "USD", -taken[1], booked))
                status = "reversed" if whole else "approved"
                reversals += 1
            commissions.append((
                commission_id, conversion_id, influencer_id, program_id, merchant_id, "USD",
                occurred, 1, subtotal, gross, fee, net, status, "{}", approved, taken[0],
                taken[1], taken[0] - taken[1],
                approved + timedelta(days=1) if status == "reversed" else None, occurred))
        with conn.cursor() as cursor:
            for statement, rows in (
                    ("COPY conversions (id, merchant_id, program_id, source, order_id, "
                     "occurred_at, currency, subtotal, discounts, tax, shipping, total, "
                     "line_items, discount_codes, attributed_at) FROM STDIN", conversions),
                    ("COPY commissions (id, conversion_id, influencer_id, program_id, "
                     "merchant_id, currency, occurred_at, weight, commissionable_amount, "
                     "gross_amount, platform_fee, net_amount, status, calculation_details, "
                     "approved_at, reversed_amount, reversed_fee, reversed_net, reversed_at, "
                     "created_at) FROM STDIN", commissions),
                    ("COPY reversals (id, commission_id, source, external_id, kind, currency, "
                     "gross_amount, platform_fee, net_amount, fraction, taken_from, reason, "
                     "created_at) FROM STDIN", reversal_rows),
                    ("COPY ledger_postings (id, idempotency_key, kind, merchant_id, "
                     "influencer_id, commission_id, reversal_id, memo, booked_at) FROM STDIN",
                     postings),
                    ("COPY ledger_entries (posting_id, account, currency, amount, booked_at) "
                     "FROM STDIN", entries)):
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
    return reversals


# --- 1. the batch ----------------------------------------------------------------------------

def available_balances(url: str) -> dict[uuid.UUID, int]:
    """{influencer: available balance in USD} from the ledger."""
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT split_part(account, ':', 2)::uuid, sum(amount) FROM ledger_entries "
            "WHERE account LIKE 'influencer:%:available' GROUP BY account").fetchall()
    return {influencer: int(amount) for influencer, amount in rows}


def expected_payouts(data: Data, balances: dict[uuid.UUID, int], settings: Settings
                     ) -> dict[uuid.UUID, int]:
    """{influencer: gross} that the batch must pay: ready, over the minimum, the fee leaving
    something (worked out here from the setup's groups, not by the code under test)."""
    least = service.minimum("USD", settings)
    expected = {}
    for influencer, amount in balances.items():
        kind = data.kinds[influencer]
        if kind in READY and amount >= least and \
                amount - fee_for(kind, amount, "USD", settings.payout_fees) > 0:
            expected[influencer] = amount
    return expected


@dataclass
class BatchRun:
    seconds: float
    batch_id: uuid.UUID | None
    planned: int
    stages: dict[str, float]
    """Seconds per stage of create_batch (its `progress` reports), then the commit."""


async def make_batch(url: str, data: Data, settings: Settings, *, dry_run: bool) -> BatchRun:
    """One create_batch, committed unless dry, timed as a whole and by stage."""
    engine = create_engine(url, pool_size=1)
    sessions = create_sessionmaker(engine)
    marks: list[tuple[str, float]] = []
    try:
        started = time.perf_counter()
        async with sessions() as session:
            batch, plan = await service.create_batch(
                session, period_start=data.period_start, period_end=data.period_end,
                settings=settings, by=None, dry_run=dry_run,
                progress=lambda stage: marks.append((stage, time.perf_counter())))
            await session.commit()
        ended = time.perf_counter()
    finally:
        await engine.dispose()
    names = {service.STAGES[0]: "candidates", service.STAGES[1]: "readiness and plan",
             service.STAGES[2]: "writes", service.STAGES[3]: "commit"}
    stages = {names[stage]: (marks[index + 1][1] if index + 1 < len(marks) else ended) - at
              for index, (stage, at) in enumerate(marks)}
    return BatchRun(ended - started, batch.id if batch else None, len(plan.payouts), stages)


def batch_reference(url: str, data: Data) -> tuple[float, int]:
    """The floor: the same payouts' rows from one GROUP BY over the available entries."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("CREATE TABLE reference_payouts (LIKE payouts INCLUDING DEFAULTS)")
        started = time.perf_counter()
        written = conn.execute("""
            INSERT INTO reference_payouts (id, batch_id, influencer_id, period_start, period_end,
                currency, commission_count, gross_amount, platform_fees, processing_fees,
                net_amount, payment_method, destination_encrypted, destination_hint, status)
            SELECT gen_random_uuid(), %(batch)s, posting.influencer_id, %(start)s, %(end)s,
                   entry.currency, count(*) FILTER (WHERE posting.kind = 'approval'),
                   sum(entry.amount), 0, 0, sum(entry.amount), 'stripe', '', '', 'pending'
            FROM ledger_entries entry JOIN ledger_postings posting ON posting.id = entry.posting_id
            WHERE entry.account LIKE 'influencer:%%:available'
              AND posting.kind IN ('approval', 'reversal') AND entry.booked_at < %(until)s
            GROUP BY posting.influencer_id, entry.currency HAVING sum(entry.amount) > 0""",
            {"batch": uuid.uuid4(), "start": data.period_start, "end": data.period_end,
             "until": service.period_end_instant(data.period_end)}).rowcount
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE reference_payouts")
        conn.commit()
    return seconds, written


@dataclass
class BatchCheck:
    payouts: int
    missing: int
    """Expected payouts not made."""
    unexpected: int
    """Payouts made for someone not expected (not ready, under the minimum)."""
    wrong_gross: int
    unpaid: int
    """Commissions of paid influencers neither paid nor reversed."""
    not_one_item: int
    """Paid commissions not in exactly one active item."""
    left_available: int
    """Paid influencers whose available balance is not 0."""
    unbalanced: int

    @property
    def right(self) -> bool:
        return self.payouts > 0 and not (self.missing or self.unexpected or self.wrong_gross
                                         or self.unpaid or self.not_one_item
                                         or self.left_available or self.unbalanced)


def unbalanced_postings(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM (SELECT posting_id FROM ledger_entries GROUP BY posting_id, "
        "currency HAVING sum(amount) <> 0) x").fetchone()[0]


def check_batch(url: str, batch_id: uuid.UUID, expected: dict[uuid.UUID, int]) -> BatchCheck:
    with psycopg.connect(libpq_url(url)) as conn:
        made = dict(conn.execute("SELECT influencer_id, gross_amount FROM payouts "
                                 "WHERE batch_id = %s", (batch_id,)).fetchall())
        unpaid = conn.execute(
            "SELECT count(*) FROM commissions c JOIN payouts p ON p.influencer_id = "
            "c.influencer_id AND p.batch_id = %s WHERE c.status NOT IN ('paid', 'reversed')",
            (batch_id,)).fetchone()[0]
        not_one = conn.execute(
            "SELECT count(*) FROM commissions c WHERE c.status = 'paid' AND (SELECT count(*) "
            "FROM payout_items i WHERE i.commission_id = c.id AND i.active "
            "AND i.reversal_id IS NULL) <> 1").fetchone()[0]
        left = conn.execute(
            "SELECT count(*) FROM (SELECT e.account FROM ledger_entries e WHERE e.account = "
            "ANY(%s) GROUP BY e.account, e.currency HAVING sum(e.amount) <> 0) x",
            ([f"influencer:{i}:available" for i in made],)).fetchone()[0]
        unbalanced = unbalanced_postings(conn)
    return BatchCheck(
        payouts=len(made), missing=len(expected.keys() - made.keys()),
        unexpected=len(made.keys() - expected.keys()),
        wrong_gross=sum(1 for i, gross in made.items() if i in expected and expected[i] != gross),
        unpaid=unpaid, not_one_item=not_one, left_available=left, unbalanced=unbalanced)


# --- 2. sending ------------------------------------------------------------------------------

@contextmanager
def fake_stripe(accounts: list[str]) -> Iterator[str]:
    """The fake Stripe server in a process of its own with these connected accounts; yields
    its URL and stops it afterwards."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(accounts))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.stripe_server", "--accounts", listing.name],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.unlink(listing.name)


@dataclass
class Sent:
    seconds: float
    """From the call's start to the last Stripe payout's outcome."""
    whole: float
    """The whole send_batch call."""
    stripe: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.stripe / self.seconds if self.seconds else 0.0


async def send(url: str, batch_id: uuid.UUID, fake_url: str, concurrency: int) -> Sent:
    settings = get_settings().model_copy(update={
        "stripe_secret_key": SecretStr(API_KEY), "stripe_api_base": fake_url})
    engine = create_engine(url, pool_size=concurrency + 2)
    sessions = create_sessionmaker(engine)
    with psycopg.connect(libpq_url(url)) as conn:
        stripe = conn.execute("SELECT count(*) FROM payouts WHERE batch_id = %s AND "
                              "payment_method = 'stripe'", (batch_id,)).fetchone()[0]
    done = {"count": 0, "at": 0.0}

    def progress(payouts: int) -> None:
        done["count"] += payouts
        if done["count"] <= stripe:
            done["at"] = time.perf_counter()

    try:
        async with StripeProvider(settings) as provider:
            started = time.perf_counter()
            report = await send_batch(sessions, batch_id, providers=Providers(stripe=provider),
                                      concurrency=concurrency, progress=progress)
            ended = time.perf_counter()
    finally:
        await engine.dispose()
    return Sent(done["at"] - started if stripe else 0.0, ended - started, stripe,
                {str(result): count for result, count in report.counts.items()})


async def send_reference(fake_url: str, accounts: list[str], transfers: int,
                         concurrency: int) -> float:
    """Plain POST /v1/transfers with httpx at the same concurrency: transfers/s."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=fake_url, limits=limits, headers={
            "Authorization": f"Bearer {API_KEY}"}) as client:
        async def one(index: int) -> None:
            async with gate:
                answer = await client.post("/v1/transfers", data={
                    "amount": "1000", "currency": "usd",
                    "destination": accounts[index % len(accounts)],
                    "transfer_group": "reference",
                    "metadata[payout_id]": f"reference-{index}"},
                    headers={"Idempotency-Key": f"reference-{index}"})
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(index) for index in range(transfers)))
        return transfers / (time.perf_counter() - started)


@dataclass
class SendCheck:
    stripe: int
    posts: int
    transfers: int
    twice: int
    """Stripe payouts with more than one transfer."""
    none: int
    """Stripe payouts with no transfer."""
    wrong: int
    """Transfers whose amount, currency or destination is not the payout's."""
    not_paid: int
    in_transit: int
    """Stripe payouts whose `payout` and `payout_paid` postings leave something in transit."""
    unbalanced: int

    @property
    def right(self) -> bool:
        return self.stripe > 0 and self.transfers == self.stripe and not (
            self.twice or self.none or self.wrong or self.not_paid or self.in_transit
            or self.unbalanced)


def fake_record(fake_url: str) -> dict:
    answer = httpx.get(f"{fake_url}/_fake/transfers",
                       headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
    answer.raise_for_status()
    return answer.json()


def check_send(url: str, batch_id: uuid.UUID, fake_url: str) -> SendCheck:
    record = fake_record(fake_url)
    by_payout = record["by_payout"]
    with psycopg.connect(libpq_url(url)) as conn:
        payouts = conn.execute(
            "SELECT id, net_amount, currency, destination_encrypted, status FROM payouts "
            "WHERE batch_id = %s AND payment_method = 'stripe'", (batch_id,)).fetchall()
        in_transit = conn.execute("""
            SELECT count(*) FROM payouts p WHERE p.batch_id = %s AND p.payment_method = 'stripe'
              AND (SELECT coalesce(sum(e.amount), 0) FROM ledger_postings lp
                   JOIN ledger_entries e ON e.posting_id = lp.id
                   WHERE lp.idempotency_key IN ('payout:' || p.id, 'payout-paid:' || p.id)
                     AND e.account = 'payouts:in_transit') <> 0""", (batch_id,)).fetchone()[0]
        unbalanced = unbalanced_postings(conn)
    from skinstack.payouts.readiness import Destination
    wrong = twice = none = 0
    for payout_id, net, currency, destination, _ in payouts:
        made = by_payout.get(str(payout_id), [])
        twice += len(made) > 1
        none += not made
        account = Destination.from_json(crypto.decrypt(destination)).stripe_account_id
        wrong += any(m != [net, currency.lower(), account] for m in made)
    return SendCheck(
        stripe=len(payouts), posts=record["posts"],
        transfers=sum(len(by_payout.get(str(p[0]), [])) for p in payouts),
        twice=twice, none=none, wrong=wrong,
        not_paid=sum(1 for p in payouts if p[4] != "paid"), in_transit=in_transit,
        unbalanced=unbalanced)


# --- the run ---------------------------------------------------------------------------------

def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores shared with other work (load average {load}); "
            f"PostgreSQL, this client and the fake Stripe server on the same machine")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--influencers", type=int, default=20_000)
    parser.add_argument("--commissions", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()
    configure_logging("WARNING")
    # The PayPal payouts wait (no PayPal provider is given) and the sender says so, as it should.
    logging.getLogger("skinstack.payouts.sender").setLevel(logging.ERROR)
    settings = get_settings()
    print(machine())
    with scratch_database("payouts", keep=args.keep) as url:
        began = time.perf_counter()
        data = setup(url, args.influencers, args.commissions, args.seed)
        print(f"data: {args.influencers:,} influencers, {data.commissions:,} approved "
              f"commissions ({data.reversals:,} of them refunded after approval, from the "
              f"available balance), period {data.period_start} to {data.period_end} "
              f"(loaded by COPY in {time.perf_counter() - began:.1f} s, not measured)")
        before = available_balances(url)
        expected = expected_payouts(data, before, settings)
        reference_seconds, reference_rows = batch_reference(url, data)
        dry = asyncio.run(make_batch(url, data, settings, dry_run=True))
        run = asyncio.run(make_batch(url, data, settings, dry_run=False))
        seconds, batch_id, made = run.seconds, run.batch_id, run.planned
        assert batch_id is not None
        met = seconds <= TARGET_BATCH_SECONDS
        stages = ", ".join(f"{name} {part:.1f} s" for name, part in run.stages.items())
        floor = reference_rows / reference_seconds
        print(f"batch: create_batch {seconds:6.1f} s, {made / seconds:7,.0f} payouts/s "
              f"({made:,} payouts; target ≤ {TARGET_BATCH_SECONDS} s "
              f"{'met' if met else 'NOT met'})\n       by stage: {stages}"
              f"\n       reference {reference_seconds:6.1f} s, {floor:7,.0f} rows/s "
              "(one SQL INSERT … SELECT GROUP BY of the "
              "available entries: "
              f"{reference_rows:,} rows, no readiness, items or ledger)"
              f"\n       dry run {dry.seconds:6.1f} s ({dry.planned:,} payouts planned, nothing "
              "written)")
        batch = check_batch(url, batch_id, expected)
        print(f"check: {batch.payouts:,} payouts for {len(expected):,} ready influencers over "
              f"the minimum; {batch.missing} missing, {batch.unexpected} unexpected, "
              f"{batch.wrong_gross} with a gross other than the balance before; "
              f"{batch.unpaid} commissions unpaid, {batch.not_one_item} paid not in exactly one "
              f"active item; {batch.left_available} paid balances not 0; {batch.unbalanced} "
              f"unbalanced postings: {'right' if batch.right else 'WRONG'}")
        with fake_stripe(sorted(data.accounts.values())) as fake_url:
            sent = asyncio.run(send(url, batch_id, fake_url, args.concurrency))
            sending = check_send(url, batch_id, fake_url)
            reference = asyncio.run(send_reference(fake_url, sorted(data.accounts.values()),
                                                   sent.stripe, args.concurrency))
        fast = sent.rate >= TARGET_SENT_PER_SECOND
        print(f"send: {sent.rate:7,.0f} Stripe payouts/s ({sent.stripe:,} in {sent.seconds:.1f} "
              f"s at concurrency {args.concurrency}; target ≥ {TARGET_SENT_PER_SECOND}/s "
              f"{'met' if fast else 'NOT met'}); the whole call {sent.whole:.1f} s with the "
              f"PayPal and ACH payouts: {dict(sorted(sent.counts.items()))}"
              f"\n      reference {reference:7,.0f} transfers/s (plain POST /v1/transfers with "
              f"httpx at concurrency {args.concurrency} to the same fake)")
        print(f"check: {sending.transfers:,} transfers for {sending.stripe:,} Stripe payouts "
              f"({sending.posts:,} POSTs); {sending.twice} paid twice, {sending.none} not at "
              f"all, {sending.wrong} with another amount or account; {sending.not_paid} not "
              f"paid; {sending.in_transit} left in transit; {sending.unbalanced} unbalanced "
              f"postings: {'right' if sending.right else 'WRONG'}")
        return 0 if batch.right and sending.right else 1


if __name__ == "__main__":
    sys.exit(main())
