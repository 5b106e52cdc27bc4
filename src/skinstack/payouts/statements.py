"""Payout statements: what one payout settled, line by line, as a PDF (fpdf2) and as CSV. Pure:
`build()` turns the stored rows (statement_queries) into a `Statement`, the renderers turn that
into bytes; nothing here reads the database.

Rules (tested in tests/payouts/test_statements.py):
- Every amount is the integer minor units stored, formatted exactly (kit.money: no float, no
  rounding anywhere; the PDF groups thousands, `1,234.56`, the CSV does not, `1234.56`).
- A commission line is a payout item of an approval posting: `net` is what the approval moved
  to the available balance (the item's amount), `platform_fee` the platform's fee inside it
  (the item's platform_fee) and `gross` their sum. A reversal line is a payout item of a
  reversal taken from the available balance: `amount` is what it took back (minus the item's
  amount) and `platform_fee` the platform's fee given back with it (minus the item's
  platform_fee, which the batch stores negative).
- The totals are the sums of the lines, never read from elsewhere: commissions net = Σ net,
  reversals = Σ amounts taken back, gross_amount (the balance paid out) = commissions net -
  reversals, platform_fees = Σ the commissions' platform fees - Σ the reversals', net_amount =
  gross_amount - the payout's processing fee. `build()` refuses (StatementMismatch) a payout
  whose stored gross_amount disagrees with its lines, rather than print figures that
  contradict it (its platform_fees is not compared: the batch floors it at zero).
- A statement lists every item the payout was made with, released ones included: a failed or
  returned payout's statement shows what it tried to pay, with its status.
- Products: the SKUs or titles of the order's line items as the store reported them, else "—".
- Names and products may be in any script: the PDF embeds DejaVu Sans with Droid Sans Fallback
  for Chinese, Japanese and Korean (fonts/README.md; loaded only when a text of the statement
  needs it, since parsing it is most of a short statement's time); a character neither has is
  drawn as U+FFFD, never dropped; control characters become spaces. Right-to-left scripts are
  drawn unshaped, left to right (shaping needs uharfbuzz, not a dependency); the CSV has every
  name exactly.
- Table headers repeat on every page; each page says "page n of N".
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from skinstack.kit.csvfile import csv_stream
from skinstack.kit.money import exponent, format_minor, from_minor
from skinstack.models import PayoutStatus

if TYPE_CHECKING:
    from skinstack.payouts.statement_queries import ItemRow, PayoutRow

NO_PRODUCT = "—"
MISSING_GLYPH = "\N{REPLACEMENT CHARACTER}"


class StatementMismatch(RuntimeError):
    """A payout's stored figures disagree with the items it was made of (a bug, never shown)."""


@dataclass(frozen=True)
class CommissionLine:
    commission_id: uuid.UUID
    order_id: str
    order_date: date
    products: str
    gross: int
    platform_fee: int
    net: int


@dataclass(frozen=True)
class ReversalLine:
    reversal_id: uuid.UUID
    order_id: str
    date: date
    kind: str
    amount: int
    """Minor units taken back from the balance (positive)."""
    platform_fee: int = 0
    """The platform's fee given back with it (positive)."""


@dataclass(frozen=True)
class Totals:
    commissions_net: int
    reversals: int
    """Taken back (positive); the balance paid out is commissions_net - reversals."""
    gross_amount: int
    platform_fees: int
    processing_fees: int
    net_amount: int


@dataclass(frozen=True)
class Statement:
    payout_id: uuid.UUID
    batch_id: uuid.UUID
    influencer_id: uuid.UUID
    display_name: str
    legal_name: str | None
    period_start: date
    period_end: date
    currency: str
    payment_method: str
    destination_hint: str
    status: str
    payment_reference: str | None
    made_at: datetime
    paid_at: datetime | None
    """When the provider paid it (status paid), else None."""
    failed_reason: str | None
    commissions: tuple[CommissionLine, ...]
    reversals: tuple[ReversalLine, ...]
    processing_fees: int

    @property
    def totals(self) -> Totals:
        commissions_net = sum(line.net for line in self.commissions)
        reversals = sum(line.amount for line in self.reversals)
        gross = commissions_net - reversals
        return Totals(commissions_net=commissions_net, reversals=reversals, gross_amount=gross,
                      platform_fees=sum(line.platform_fee for line in self.commissions)
                      - sum(line.platform_fee for line in self.reversals),
                      processing_fees=self.processing_fees,
                      net_amount=gross - self.processing_fees)


# --- from the stored rows ---------------------------------------------------------------------



def products_of(line_items: Iterable[dict[str, Any]] | None) -> str:
    """The order's SKUs or titles (title first), each once, in the order's order; else "—"."""
    names: list[str] = []
    for item in line_items or ():
        if not isinstance(item, dict):
            continue
        for key in ("title", "name", "sku"):
            value = item.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) \
                    and str(value).strip():
                name = str(value).strip()
                if name not in names:
                    names.append(name)
                break
    return ", ".join(names) or NO_PRODUCT


def _day(moment: datetime | None) -> date:
    assert moment is not None
    return moment.astimezone(UTC).date()


def build(payout: PayoutRow, items: Sequence[ItemRow]) -> Statement:
    """The statement of a payout from its row and its items (StatementMismatch when the stored
    gross disagrees with the items)."""
    commissions: list[CommissionLine] = []
    reversals: list[ReversalLine] = []
    for item in items:
        if item.reversal_id is not None:
            reversals.append(ReversalLine(
                reversal_id=item.reversal_id, order_id=item.order_id or NO_PRODUCT,
                date=_day(item.reversal_at), kind=item.reversal_kind or "reversal",
                amount=-item.amount, platform_fee=-item.platform_fee))
        else:
            assert item.commission_id is not None
            commissions.append(CommissionLine(
                commission_id=item.commission_id, order_id=item.order_id or NO_PRODUCT,
                order_date=_day(item.order_at), products=products_of(item.line_items),
                gross=item.amount + item.platform_fee, platform_fee=item.platform_fee,
                net=item.amount))
    commissions.sort(key=lambda line: (line.order_date, line.order_id, line.commission_id))
    reversals.sort(key=lambda line: (line.date, line.order_id, line.reversal_id))
    statement = Statement(
        payout_id=payout.id, batch_id=payout.batch_id, influencer_id=payout.influencer_id,
        display_name=payout.display_name, legal_name=payout.legal_name,
        period_start=payout.period_start, period_end=payout.period_end,
        currency=payout.currency, payment_method=payout.payment_method,
        destination_hint=payout.destination_hint, status=payout.status,
        payment_reference=payout.payment_reference, made_at=payout.created_at,
        paid_at=payout.completed_at if payout.status == PayoutStatus.paid else None,
        failed_reason=payout.failed_reason, commissions=tuple(commissions),
        reversals=tuple(reversals), processing_fees=payout.processing_fees)
    if statement.totals.gross_amount != payout.gross_amount:
        raise StatementMismatch(
            f"payout {payout.id}: its items come to {statement.totals.gross_amount}, "
            f"its gross_amount is {payout.gross_amount}")
    return statement


# --- CSV ------------------------------------------------------------------------------------

def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def csv_rows(statement: Statement) -> Iterator[list[object]]:
    """The rows after the header: the statement's details, a blank row, the lines (signed as
    they move the balance, so the `net` column adds up to gross_amount), a blank row, the
    totals."""
    currency = statement.currency

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    yield from (
        ["payout_id", statement.payout_id], ["batch_id", statement.batch_id],
        ["influencer_id", statement.influencer_id], ["influencer", statement.display_name],
        ["legal_name", statement.legal_name], ["period_start", statement.period_start],
        ["period_end", statement.period_end], ["currency", currency],
        ["payment_method", statement.payment_method],
        ["destination", statement.destination_hint], ["status", statement.status],
        ["payment_reference", statement.payment_reference],
        ["made_at", _when(statement.made_at)], ["paid_at", _when(statement.paid_at)],
        ["failed_reason", statement.failed_reason])
    yield []
    yield ["line", "order_id", "date", "products_or_kind", "gross", "platform_fee", "net"]
    for line in statement.commissions:
        yield ["commission", line.order_id, line.order_date, line.products, money(line.gross),
               money(line.platform_fee), money(line.net)]
    for reversal in statement.reversals:
        yield ["reversal", reversal.order_id, reversal.date, reversal.kind,
               money(-reversal.amount - reversal.platform_fee), money(-reversal.platform_fee),
               money(-reversal.amount)]
    totals = statement.totals
    yield []
    yield ["total", "amount"]
    yield from (["commissions_net", money(totals.commissions_net)],
                ["reversals", money(-totals.reversals)],
                ["gross_amount", money(totals.gross_amount)],
                ["platform_fees", money(totals.platform_fees)],
                ["processing_fees", money(totals.processing_fees)],
                ["net_amount", money(totals.net_amount)])


def render_csv(statement: Statement) -> bytes:
    """The statement as one UTF-8 CSV file (kit.csvfile: RFC 4180, spreadsheet-safe cells)."""
    return "".join(csv_stream(["statement", "value"], csv_rows(statement))).encode()


# --- PDF ------------------------------------------------------------------------------------

FONTS = resources.files("skinstack.payouts") / "fonts"
SANS, SANS_BOLD, FALLBACK = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DroidSansFallback.ttf"


@cache
def _glyphs(name: str) -> frozenset[int]:
    """The code points a shipped font has a glyph for."""
    with resources.as_file(FONTS / name) as path:
        font = TTFont(path, lazy=True)
        try:
            return frozenset(font.getBestCmap())
        finally:
            font.close()


def printable(text: str | None) -> str:
    """`text` as the PDF can draw it: control characters as spaces, anything neither the
    regular font nor the fallback has as U+FFFD."""
    sans, fallback = _glyphs(SANS), _glyphs(FALLBACK)
    out = []
    for char in text or "":
        if unicodedata.category(char) == "Cc":
            out.append(" ")
        elif ord(char) in sans or ord(char) in fallback:
            out.append(char)
        else:
            out.append(MISSING_GLYPH)
    return "".join(out)


def _needs_fallback(statement: Statement) -> bool:
    """Whether any text of the statement has a character DejaVu Sans lacks (the fallback font
    is then loaded: parsing it is most of a short statement's rendering time)."""
    sans = _glyphs(SANS)
    texts = [statement.display_name, statement.legal_name or "", statement.destination_hint,
             statement.payment_reference or "", statement.failed_reason or "",
             *(line.products for line in statement.commissions),
             *(line.order_id for line in statement.commissions),
             *(line.order_id for line in statement.reversals)]
    return any(ord(char) not in sans for text in texts for char in text)


def grouped(minor: int, currency: str) -> str:
    """An amount with thousands grouped and the currency's decimals ("1,234.56"), exact."""
    return format(from_minor(minor, currency), f",.{exponent(currency)}f")


class _Document(FPDF):
    def __init__(self, footer_text: str, *, fallback: bool) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        for style, name in (("", SANS), ("B", SANS_BOLD)):
            with resources.as_file(FONTS / name) as path:
                self.add_font("sans", style, Path(path))
        families = ["sans"]  # bold text falls back to the regular face's glyphs
        if fallback:
            with resources.as_file(FONTS / FALLBACK) as path:
                self.add_font("fallback", "", Path(path))
            families.append("fallback")
        self.set_fallback_fonts(families, exact_match=False)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("sans", size=7.5)
        self.set_text_color(110)
        self.cell(0, 5, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)


ROW = 5.0
COMMISSION_COLUMNS = (("Order", 32, "L"), ("Date", 20, "L"), ("Products", 62, "L"),
                      ("Gross", 22, "R"), ("Platform fee", 22, "R"), ("Net", 22, "R"))
REVERSAL_COLUMNS = (("Order", 32, "L"), ("Date", 20, "L"), ("Kind", 62, "L"),
                    ("Gross", 22, "R"), ("Platform fee", 22, "R"), ("Taken back", 22, "R"))


def _fitted(pdf: FPDF, text: str, width: float) -> str:
    """`text` cut with "…" to fit a cell `width` wide (with its padding)."""
    room = width - 2 * pdf.c_margin
    if pdf.get_string_width(text) <= room:
        return text
    fits, too_long = 0, len(text)  # the longest prefix that fits with "…": binary search
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if pdf.get_string_width(text[:middle] + "…") <= room:
            fits = middle
        else:
            too_long = middle
    return text[:fits] + "…"


def _table(pdf: _Document, title: str, columns: tuple[tuple[str, float, str], ...],
           rows: Sequence[tuple[str, ...]]) -> None:
    """A titled table whose header row is repeated at the top of every page it runs onto."""

    def header() -> None:
        pdf.set_font("sans", "B", 8)
        pdf.set_fill_color(235)
        for name, width, align in columns:
            pdf.cell(width, ROW + 1, name, border="B", align=align, fill=True)
        pdf.ln(ROW + 1)
        pdf.set_font("sans", size=8)

    if pdf.will_page_break(4 * ROW + 8):
        pdf.add_page()
    pdf.set_font("sans", "B", 10)
    pdf.cell(0, 7, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    header()
    for row in rows:
        if pdf.will_page_break(ROW):
            pdf.add_page()
            header()
        for text, (_, width, align) in zip(row, columns, strict=True):
            pdf.cell(width, ROW, _fitted(pdf, printable(text), width), align=align)
        pdf.ln(ROW)
    pdf.ln(3)


def render_pdf(statement: Statement) -> bytes:
    """The statement as a PDF: details, the commissions, the reversals, the totals."""
    currency = statement.currency

    def money(minor: int) -> str:
        return grouped(minor, currency)

    pdf = _Document(f"SkinStack payout statement {statement.payout_id}",
                    fallback=_needs_fallback(statement))
    pdf.set_title(f"Payout statement {statement.payout_id}")
    pdf.set_author("SkinStack")
    pdf.set_creation_date(statement.made_at)
    pdf.add_page()
    pdf.set_font("sans", "B", 16)
    pdf.cell(0, 9, "Payout statement", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("sans", "B", 11)
    pdf.cell(0, 7, printable(statement.display_name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    details = [
        ("Legal name", statement.legal_name or "not on file"),
        ("Period", f"{statement.period_start.isoformat()} to {statement.period_end.isoformat()}"),
        ("Currency", currency),
        ("Method", f"{statement.payment_method} ({statement.destination_hint})"),
        ("Status", statement.status + (f": {statement.failed_reason}"
                                       if statement.failed_reason else "")),
        ("Payment reference", statement.payment_reference or "—"),
        ("Made", _stamp(statement.made_at)),
        ("Paid", _stamp(statement.paid_at)),
        ("Payout", str(statement.payout_id)),
        ("Batch", str(statement.batch_id)),
    ]
    for label, value in details:
        pdf.set_font("sans", "B", 8.5)
        pdf.cell(35, ROW, label)
        pdf.set_font("sans", size=8.5)
        pdf.cell(0, ROW, _fitted(pdf, printable(value), pdf.epw - 35),
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    _table(pdf, f"Commissions ({len(statement.commissions)})", COMMISSION_COLUMNS, [
        (line.order_id, line.order_date.isoformat(), line.products, money(line.gross),
         money(line.platform_fee), money(line.net)) for line in statement.commissions])
    if statement.reversals:
        _table(pdf, f"Reversals and clawbacks ({len(statement.reversals)})", REVERSAL_COLUMNS, [
            (line.order_id, line.date.isoformat(), line.kind,
             money(-line.amount - line.platform_fee), money(-line.platform_fee),
             money(-line.amount)) for line in statement.reversals])
    totals = statement.totals
    summary = [
        ("Commissions (after platform fees)", money(totals.commissions_net)),
        ("Reversals and clawbacks", money(-totals.reversals)),
        ("Balance paid out", money(totals.gross_amount)),
        ("Processing fee", money(-totals.processing_fees)),
        ("Net paid to you", money(totals.net_amount)),
        ("Platform fees inside the above (for information)", money(totals.platform_fees)),
    ]
    if pdf.will_page_break(len(summary) * ROW + 10):
        pdf.add_page()
    pdf.set_font("sans", "B", 10)
    pdf.cell(0, 7, f"Totals ({currency})", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for label, value in summary:
        pdf.set_font("sans", "B" if label == "Net paid to you" else "", 9)
        pdf.cell(pdf.epw - 40, ROW + 0.5, label)
        pdf.cell(40, ROW + 0.5, f"{value} {currency}", align="R",
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
