"""CSV the service writes (statements, exports): streamed, and inert when a spreadsheet opens it.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` as a formula (and some also
after a tab, carriage return, line feed or NUL), so a product name like `=HYPERLINK(...)`
stored verbatim from an import would run on the machine of whoever opens an export. Following
OWASP's CSV injection guidance (and ASVS 5.0 requirement 1.2.10), every cell that begins with
one of those characters gets a leading `'`, which spreadsheets read as "this is text" and do
not show.

One exception, on purpose: a cell that is exactly a plain decimal number with a leading minus
(`-12.50`, what refunds and clawbacks look like) is left alone. It cannot be a formula, and
quoting it would turn every negative amount into text a spreadsheet will not add up. `+12.50`
and `-1+1` are not plain numbers and are quoted.

Reading the file back with the `csv` module gives each cell exactly as written, except that
a neutralised one keeps its `'` in front (the file is for people and spreadsheets; a program
that needs the stored text exactly should use the JSON API).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from decimal import Decimal

TRIGGERS = frozenset("=+-@\t\r\n\x00")
_PLAIN_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
CHUNK_CHARS = 64 * 1024


def safe_cell(value: object) -> str:
    """The cell's text, with a `'` in front when a spreadsheet would read it as a formula."""
    if value is None:
        text = ""
    elif isinstance(value, Decimal):
        text = format(value, "f")  # never an exponent: "1E+2" would read as a number anyway
    else:
        text = str(value)
    if text[:1] in TRIGGERS and not _PLAIN_NEGATIVE_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Lines:
    """Formats rows as RFC 4180 CSV lines (quoted where needed, CRLF), every cell made safe."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def add(self, row: Iterable[object]) -> None:
        self.writer.writerow([safe_cell(value) for value in row])

    def full(self) -> bool:
        return self.buffer.tell() >= CHUNK_CHARS

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def csv_line(row: Iterable[object]) -> str:
    """One row as a CSV line, CRLF included."""
    lines = _Lines()
    lines.add(row)
    return lines.take()


def csv_stream(header: Sequence[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The file in chunks of about 64 KiB (for a StreamingResponse): the header, then a line
    per row, read lazily from `rows`."""
    lines = _Lines()
    lines.add(header)
    for row in rows:
        lines.add(row)
        if lines.full():
            yield lines.take()
    if tail := lines.take():
        yield tail


async def csv_stream_async(header: Sequence[str], rows: AsyncIterable[Iterable[object]]
                           ) -> AsyncIterator[str]:
    """csv_stream() over rows that arrive asynchronously (a server-side cursor)."""
    lines = _Lines()
    lines.add(header)
    async for row in rows:
        lines.add(row)
        if lines.full():
            yield lines.take()
    if tail := lines.take():
        yield tail
