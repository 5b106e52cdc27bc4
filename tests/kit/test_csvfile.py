"""The CSV writer every export uses: RFC 4180 files whose cells a spreadsheet never runs."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit.csvfile import TRIGGERS, csv_line, csv_stream, csv_stream_async, safe_cell

PLAIN_NEGATIVE = re.compile(r"-[0-9]+(\.[0-9]+)?")
cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=20) | st.sampled_from([
    "=1+1", "=HYPERLINK(\"http://evil.example\",\"x\")", "+1", "-1", "-12.50", "-1+1", "@SUM(A1)",
    "\t=1", "\r=1", "-", "'=1", "=cmd|' /C calc'!A0", "-0.5e3", " =1", ",=1", "\"=1\""])
rows = st.lists(st.lists(cells, min_size=1, max_size=5), max_size=20)


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _dangerous(text: str) -> bool:
    return text[:1] in TRIGGERS and not PLAIN_NEGATIVE.fullmatch(text)


@given(st.lists(cells, min_size=1, max_size=8))
def test_a_line_reads_back_as_its_cells_with_formulas_quoted(row: list[str]) -> None:
    (read,) = _read(csv_line(row))
    assert read == [("'" + cell) if _dangerous(cell) else cell for cell in row]
    for cell in read:
        assert cell[:1] not in TRIGGERS or PLAIN_NEGATIVE.fullmatch(cell)


@given(cells)
def test_quoting_is_one_quote_and_only_for_triggers(cell: str) -> None:
    safe = safe_cell(cell)
    assert safe in (cell, "'" + cell)
    assert (safe != cell) == _dangerous(cell)


def test_negative_amounts_stay_numbers_and_values_are_formatted() -> None:
    assert safe_cell("-12.50") == "-12.50" and safe_cell(Decimal("-12.50")) == "-12.50"
    assert safe_cell("+12.50") == "'+12.50" and safe_cell("-1+1") == "'-1+1"
    assert safe_cell(None) == "" and safe_cell(Decimal("1E+2")) == "100" and safe_cell(7) == "7"


@given(st.lists(cells, min_size=1, max_size=4), rows)
def test_the_stream_is_the_header_then_every_row(header: list[str],
                                                 body: list[list[str]]) -> None:
    text = "".join(csv_stream(header, iter(body)))
    assert text == "".join(csv_line(row) for row in [header, *body])

    async def collect() -> str:
        async def arriving():
            for row in body:
                yield row
        return "".join([chunk async for chunk in csv_stream_async(header, arriving())])

    assert asyncio.run(collect()) == text


def test_a_long_stream_comes_in_chunks() -> None:
    chunks = list(csv_stream(["name"], (["=x" * 50] for _ in range(5000))))
    assert len(chunks) > 1 and all(len(chunk) < 80 * 1024 for chunk in chunks)
    assert len(_read("".join(chunks))) == 5001
