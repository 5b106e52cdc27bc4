"""The benchmarks measure what they say: the attribution benchmark's two figures on a tiny data
set (attribution alone writes credits and nothing else; the whole chain settles commissions and
posts them), and its runs' scratch databases (copies start from the same data and go away); the
payouts benchmark's batch and sending on a small data set, with its checks."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from sqlalchemy import make_url

from skinstack.config import get_settings
from skinstack.db import libpq_url

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    """A benchmark script as a module (its helpers import each other from benchmarks/)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    if name.startswith("_"):
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load("attribution")
scratch = _load("_scratch")
payouts = _load("payouts")


def _exists(server_url: str, name: str) -> bool:
    with psycopg.connect(libpq_url(server_url)) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


@contextmanager
def _on_server(server_url: str) -> Iterator[None]:
    """DATABASE_URL is the tests' server meanwhile (the server _scratch makes its databases
    on)."""
    before = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = server_url
    try:
        yield
    finally:
        if before is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = before


@pytest.fixture(scope="module")
def data_set(server_url: str) -> Iterator[tuple[str, str]]:
    """(URL, program id) of a scratch database with the benchmark's data, 300 clicks over 60
    devices and 30 orders, on the tests' server."""
    with _on_server(server_url):
        with scratch.scratch_database("test") as url:
            yield url, bench.setup(url, clicks=300, devices=60, conversions=30, seed=7)
        assert not _exists(server_url, make_url(url).database)


def _counts(url: str) -> tuple[int, int]:
    """(conversions attributed, commissions)."""
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM conversions "
                            "WHERE attributed_at IS NOT NULL), "
                            "(SELECT count(*) FROM commissions)").fetchone()


def test_a_copy_starts_from_the_same_data_leaves_it_alone_and_is_dropped(
        server_url: str, data_set: tuple[str, str]) -> None:
    url, program_id = data_set
    with scratch.copy_of(url) as copy:
        assert bench.rerun_order(copy, program_id) == bench.rerun_order(url, program_id)
        with psycopg.connect(libpq_url(copy), autocommit=True) as conn:
            conn.execute("UPDATE conversions SET attributed_at = now()")
        assert _counts(copy)[0] == 30
        assert _counts(url)[0] == 0
    assert not _exists(server_url, make_url(copy).database)


async def test_attribution_alone_writes_credits_and_no_commissions(
        data_set: tuple[str, str]) -> None:
    url, program_id = data_set
    with scratch.copy_of(url) as copy:
        bench.use_model(copy, program_id, "linear")
        outcome = bench.check(copy, await bench.attribution_alone(copy, program_id, batch=7))
    assert outcome.conversions == 30
    assert outcome.credited > 0
    assert outcome.weights_off == 0
    assert (outcome.commissions, outcome.postings) == (0, 0)


async def test_the_whole_chain_settles_one_commission_per_credit_and_posts_it(
        data_set: tuple[str, str]) -> None:
    url, program_id = data_set
    with scratch.copy_of(url) as copy:
        bench.use_model(copy, program_id, "linear")
        outcome = bench.check(copy, await bench.whole_chain(copy, program_id, batch=7))
    assert outcome.conversions == 30
    assert outcome.credited > 0
    assert outcome.commissions == outcome.credited_pairs > 0
    assert outcome.postings == outcome.commissions
    assert outcome.unbalanced == 0


def test_the_reference_credits_creditable_clicks_only(data_set: tuple[str, str]) -> None:
    """The reference's last click by sub-id: the flagged clicks carry a flag that is not
    creditable, and a repeat (creditable, not counted) is credited like attribution does."""
    url, _ = data_set
    with scratch.copy_of(url) as copy, psycopg.connect(libpq_url(copy),
                                                       autocommit=True) as conn:
        named = conn.execute("SELECT count(*) FROM conversions WHERE click_id IS NOT NULL"
                             ).fetchone()[0]
        # The orders' sub-id clicks become repeats: not counted, still creditable.
        conn.execute("UPDATE clicks SET counted = false, fraud_flags = '{duplicate}' "
                     "WHERE id IN (SELECT click_id FROM conversions)")
        conn.execute("CREATE TABLE reference_attributions (conversion_id uuid, influencer_id "
                     "uuid, click_id uuid, clicked_at timestamptz)")
        assert conn.execute(bench.REFERENCE_ATTRIBUTIONS).rowcount == named > 0
        conn.execute("UPDATE clicks SET fraud_flags = ARRAY[%s]::varchar[] "
                     "WHERE id IN (SELECT click_id FROM conversions)", (bench.FLAG,))
        conn.execute("TRUNCATE reference_attributions")
        assert conn.execute(bench.REFERENCE_ATTRIBUTIONS).rowcount == 0


# --- payouts ---------------------------------------------------------------------------------

async def test_the_payouts_benchmark_pays_each_ready_balance_once_and_sends_each_stripe_payout_once(
        server_url: str) -> None:
    """The payouts benchmark on 200 influencers and 4,000 commissions: the dry run plans what
    the batch makes; the batch pays exactly the ready balances over the minimum (the groups
    that must wait are there and get nothing); sending makes one transfer per Stripe payout on
    the fake in its own process; the references run."""
    settings = get_settings()
    with _on_server(server_url), scratch.scratch_database("test_payouts") as url:
        data = payouts.setup(url, influencers=200, commissions=4000, seed=7)
        assert {"no_tax", "cooldown", "under_minimum", "paypal", "ach"} <= set(
            data.kinds.values())
        assert data.reversals > 0
        expected = payouts.expected_payouts(data, payouts.available_balances(url), settings)
        assert not {data.kinds[i] for i in expected} - payouts.READY

        dry = await payouts.make_batch(url, data, settings, dry_run=True)
        assert dry.batch_id is None and dry.planned == len(expected) > 0
        _, rows = payouts.batch_reference(url, data)
        assert rows >= len(expected)
        run = await payouts.make_batch(url, data, settings, dry_run=False)
        batch_id = run.batch_id
        assert batch_id is not None and run.planned == len(expected)
        assert list(run.stages) == ["candidates", "readiness and plan", "writes", "commit"]
        batch = payouts.check_batch(url, batch_id, expected)
        assert batch.right, batch

        accounts = sorted(data.accounts.values())
        with payouts.fake_stripe(accounts) as fake_url:
            sent = await payouts.send(url, batch_id, fake_url, concurrency=4)
            sending = payouts.check_send(url, batch_id, fake_url)
            assert await payouts.send_reference(fake_url, accounts, 20, concurrency=4) > 0
        assert sending.right, sending
        assert sent.stripe == sending.stripe == sent.counts["paid"] == sending.posts > 0
