"""Statements as documents: built from stored rows, rendered as PDF (read back with pypdf) and
CSV (read back with the csv module); totals are the sums of the lines, exactly."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pypdf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit.money import format_minor
from skinstack.payouts.statements import (
    MISSING_GLYPH,
    NO_PRODUCT,
    CommissionLine,
    ReversalLine,
    Statement,
    StatementMismatch,
    build,
    grouped,
    printable,
    products_of,
    render_csv,
    render_pdf,
)

MADE = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def statement(commissions: list[CommissionLine], reversals: list[ReversalLine] = (),
              processing_fees: int = 96, currency: str = "USD", **fields: Any) -> Statement:
    values: dict[str, Any] = dict(
        payout_id=uuid.uuid4(), batch_id=uuid.uuid4(), influencer_id=uuid.uuid4(),
        display_name="Glowing Gabi", legal_name="Gabriela Q. Public",
        period_start=date(2026, 11, 1), period_end=date(2026, 11, 30), currency=currency,
        payment_method="stripe", destination_hint="acct_…TEST", status="paid",
        payment_reference="tr_123", made_at=MADE, paid_at=MADE, failed_reason=None,
        commissions=tuple(commissions), reversals=tuple(reversals),
        processing_fees=processing_fees)
    return Statement(**(values | fields))


def line(order_id: str, net: int, fee: int, products: str = "VITC-30, MASK-1",
         day: int = 3) -> CommissionLine:
    return CommissionLine(commission_id=uuid.uuid4(), order_id=order_id,
                          order_date=date(2026, 11, day), products=products, gross=net + fee,
                          platform_fee=fee, net=net)


def reversal(order_id: str, amount: int, kind: str = "refund", fee: int = 0) -> ReversalLine:
    return ReversalLine(reversal_id=uuid.uuid4(), order_id=order_id, date=date(2026, 11, 20),
                        kind=kind, amount=amount, platform_fee=fee)


def pdf_pages(document: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(document))
    return [page.extract_text() for page in reader.pages]


def csv_sections(document: bytes) -> list[list[list[str]]]:
    """The CSV's sections (split at blank rows), each a list of rows."""
    rows = list(csv.reader(io.StringIO(document.decode(), newline="")))
    sections: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            sections[-1].append(row)
        else:
            sections.append([])
    return sections


SEED = [line("1001", 840, 210), line("1002", 1200, 300, products="MASK-1"),
        line("1003", 480, 120, products="TONER")]


def test_the_pdf_opens_and_holds_every_order_and_the_totals() -> None:
    made = statement(SEED, [reversal("1003", 240, fee=60)])
    totals = made.totals
    assert (totals.commissions_net, totals.reversals, totals.gross_amount,
            totals.platform_fees, totals.processing_fees, totals.net_amount) == (
        2520, 240, 2280, 570, 96, 2184)
    document = render_pdf(made)
    assert document.startswith(b"%PDF-")
    text = "\n".join(pdf_pages(document))
    for order_id in ("1001", "1002", "1003"):
        assert order_id in text
    for figure in ("25.20 USD", "-2.40 USD", "22.80 USD", "-0.96 USD", "21.84 USD",
                   "5.70 USD", "10.50", "8.40", "-3.00", "-0.60"):
        assert figure in text
    assert "Gabriela Q. Public" in text and "refund" in text and "tr_123" in text
    assert "2026-11-01 to 2026-11-30" in text and "page 1 of 1" in text


def test_names_in_any_script_render_and_what_no_font_has_is_marked_not_dropped() -> None:
    name = "Zoë Łukasz 山田花子 김민지 Ωμέγα Привет"
    made = statement([line("2001", 500, 100, products="Crème brûlée 精华液 세럼")],
                     display_name=name + "\x07", legal_name="Zoë Ł. \U00013000")
    document = render_pdf(made)
    text = "\n".join(pdf_pages(document))
    assert name in text
    assert b"DroidSansFallback" in document  # embedded only when a text needs it
    assert b"DroidSansFallback" not in render_pdf(statement(SEED))
    assert "Crème brûlée 精华液 세럼" in text
    assert f"Zoë Ł. {MISSING_GLYPH}" in text  # an Egyptian hieroglyph: in neither font
    assert printable("a\tb\nc\x00") == "a b c "
    csv_text = render_csv(made).decode()
    assert name + "\x07" in csv_text and "\U00013000" in csv_text  # the CSV keeps them exactly


def test_three_hundred_lines_run_over_pages_with_the_header_on_each() -> None:
    lines = [line(f"ORD-{n:04d}", 1000 + n, 250, day=1 + n % 28) for n in range(300)]
    made = statement(lines, [reversal("ORD-0007", 500)], processing_fees=50)
    pages = pdf_pages(render_pdf(made))
    assert len(pages) >= 4
    text = "\n".join(pages)
    for n in range(300):
        assert f"ORD-{n:04d}" in text
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in page
        if "ORD-" in page:  # every page with lines starts its table with the header
            assert "Order Date Products Gross Platform fee Net" in page or (
                "Order Date Kind Gross Platform fee Taken back" in page)
    net = sum(1000 + n for n in range(300)) - 500
    assert f"{grouped(net, 'USD')} USD" in pages[-1]
    assert f"{grouped(net - 50, 'USD')} USD" in pages[-1]


def test_the_csv_has_every_line_and_its_totals() -> None:
    made = statement([*SEED, line("1004", 100, 0, products='=HYPERLINK("x")')],
                     [reversal("1003", 240, fee=60),
                      reversal("1001", 840, kind="cancellation", fee=210)])
    details, lines, totals = csv_sections(render_csv(made))
    assert details[0] == ["statement", "value"]
    assert dict(details[1:])["payout_id"] == str(made.payout_id)
    assert dict(details[1:])["legal_name"] == "Gabriela Q. Public"
    assert lines[0] == ["line", "order_id", "date", "products_or_kind", "gross",
                        "platform_fee", "net"]
    assert lines[1] == ["commission", "1001", "2026-11-03", "VITC-30, MASK-1", "10.50", "2.10",
                        "8.40"]
    assert lines[4][3] == "'=HYPERLINK(\"x\")"  # neutralised for spreadsheets
    assert [row[0] for row in lines[1:]] == ["commission"] * 4 + ["reversal"] * 2
    assert lines[5] == ["reversal", "1003", "2026-11-20", "refund", "-3.00", "-0.60", "-2.40"]
    assert dict(totals[1:]) == {"commissions_net": "26.20", "reversals": "-10.80",
                                "gross_amount": "15.40", "platform_fees": "3.60",
                                "processing_fees": "0.96", "net_amount": "14.44"}
    # the net column adds up to the balance paid out
    assert sum(int(row[6].replace(".", "")) for row in lines[1:]) == 1540


@given(nets=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**8)), max_size=30),
       taken=st.lists(st.tuples(st.integers(1, 10**8), st.integers(0, 10**7)), max_size=10),
       fee=st.integers(0, 10**6), currency=st.sampled_from(["USD", "JPY", "KWD"]))
def test_totals_are_the_sums_of_the_lines(nets: list[tuple[int, int]],
                                          taken: list[tuple[int, int]],
                                          fee: int, currency: str) -> None:
    made = statement([line(f"O{n}", net, platform) for n, (net, platform) in enumerate(nets)],
                     [reversal(f"O{n}", amount, fee=platform)
                      for n, (amount, platform) in enumerate(taken)],
                     processing_fees=fee, currency=currency)
    totals = made.totals
    assert totals.commissions_net == sum(net for net, _ in nets)
    assert totals.platform_fees == (sum(platform for _, platform in nets)
                                    - sum(platform for _, platform in taken))
    assert totals.reversals == sum(amount for amount, _ in taken)
    assert totals.gross_amount == totals.commissions_net - totals.reversals
    assert totals.net_amount == totals.gross_amount - fee
    _, lines, total_rows = csv_sections(render_csv(made))
    written = dict(total_rows[1:])
    assert written["gross_amount"] == format_minor(totals.gross_amount, currency)
    assert written["net_amount"] == format_minor(totals.net_amount, currency)
    for row, commission in zip(lines[1:], made.commissions, strict=False):
        assert row[4:] == [format_minor(commission.gross, currency),
                           format_minor(commission.platform_fee, currency),
                           format_minor(commission.net, currency)]


@pytest.mark.parametrize(("minor", "currency", "shown"), [
    (123456, "USD", "1,234.56"), (-240, "USD", "-2.40"), (1500, "JPY", "1,500"),
    (1234567, "KWD", "1,234.567"), (0, "USD", "0.00"), (10**15, "USD", "10,000,000,000,000.00")])
def test_amounts_are_formatted_exactly(minor: int, currency: str, shown: str) -> None:
    assert grouped(minor, currency) == shown


@given(minor=st.integers(-(10**15), 10**15), currency=st.sampled_from(["USD", "JPY", "KWD"]))
def test_grouping_changes_nothing_but_the_commas(minor: int, currency: str) -> None:
    assert grouped(minor, currency).replace(",", "") == format_minor(minor, currency)


# --- build(): from the stored rows ----------------------------------------------------------

def payout_row(gross: int, **fields: Any) -> SimpleNamespace:
    return SimpleNamespace(**({
        "id": uuid.uuid4(), "batch_id": uuid.uuid4(), "influencer_id": uuid.uuid4(),
        "display_name": "Gabi", "legal_name": None, "period_start": date(2026, 11, 1),
        "period_end": date(2026, 11, 30), "currency": "USD", "payment_method": "paypal",
        "destination_hint": "g…@example.com", "status": "paid", "payment_reference": None,
        "created_at": MADE, "completed_at": MADE, "failed_reason": None,
        "gross_amount": gross, "processing_fees": 30} | fields))


def item_row(amount: int, *, reversal: bool = False, **fields: Any) -> SimpleNamespace:
    return SimpleNamespace(**({
        "commission_id": uuid.uuid4(), "reversal_id": uuid.uuid4() if reversal else None,
        "amount": amount, "platform_fee": 0 if reversal else amount // 4, "order_id": "77",
        "order_at": datetime(2026, 11, 4, 23, 30, tzinfo=UTC),
        "line_items": [{"sku": "VITC-30", "quantity": 2}, {"sku": "MASK-1"}],
        "reversal_kind": "refund" if reversal else None,
        "reversal_at": datetime(2026, 11, 9, tzinfo=UTC) if reversal else None} | fields))


def test_build_makes_a_line_per_item_from_the_stored_rows() -> None:
    made = build(payout_row(1000 - 200), [
        item_row(200, order_id="B", order_at=datetime(2026, 11, 2, tzinfo=UTC)),
        item_row(800, order_id="A", line_items=[]),
        item_row(-200, reversal=True, order_id="B", platform_fee=-50)])
    assert [(c.order_id, c.order_date, c.products, c.gross, c.platform_fee, c.net)
            for c in made.commissions] == [
        ("B", date(2026, 11, 2), "VITC-30, MASK-1", 250, 50, 200),
        ("A", date(2026, 11, 4), NO_PRODUCT, 1000, 200, 800)]
    assert [(r.order_id, r.date, r.kind, r.amount, r.platform_fee) for r in made.reversals] == [
        ("B", date(2026, 11, 9), "refund", 200, 50)]
    assert made.totals.platform_fees == 50 + 200 - 50
    assert made.totals.gross_amount == 800 and made.totals.net_amount == 770
    assert made.paid_at == MADE and made.legal_name is None


def test_a_failed_payout_states_what_it_tried_to_pay_and_has_no_paid_date() -> None:
    made = build(payout_row(500, status="failed", failed_reason="account closed"),
                 [item_row(500)])
    assert made.paid_at is None and made.failed_reason == "account closed"
    text = "\n".join(pdf_pages(render_pdf(made)))
    assert "failed: account closed" in text and "Paid —" in text


def test_a_payout_whose_items_disagree_with_it_is_refused() -> None:
    with pytest.raises(StatementMismatch, match="come to 500"):
        build(payout_row(501), [item_row(500)])


@pytest.mark.parametrize(("line_items", "shown"), [
    ([{"sku": "A"}, {"sku": "B"}, {"sku": "A"}], "A, B"),
    ([{"title": "Vitamin C Serum", "sku": "VITC-30"}], "Vitamin C Serum"),
    ([{"sku": None, "quantity": 1}], NO_PRODUCT),
    ([{"sku": "  "}, "not an object"], NO_PRODUCT),
    (None, NO_PRODUCT),
    ([{"sku": 12345}], "12345")])
def test_products_are_the_orders_skus_or_titles(line_items: Any, shown: str) -> None:
    assert products_of(line_items) == shown
