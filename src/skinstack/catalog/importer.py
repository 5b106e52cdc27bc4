"""Bulk product import from CSV or Shopify's products.json, streamed in batches.

The file is read row by row (csv module, or ijson for JSON), so memory grows with the batch, not
with the file. Each good row is upserted on (merchant, external_id); an identical row changes
nothing, so importing the same file twice creates and updates nothing. Every bad row is
reported with its row number (CSV: the line's record number counting the header as row 1, as a
spreadsheet shows it; JSON: the product's position, from 1) and the reason, and the good rows
still land.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import html
import io
import operator
import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import IO, Any, Literal

import ijson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.catalog import repository
from skinstack.catalog.schemas import ImportReport, ImportRowError, ProductIn
from skinstack.catalog.service import merchant_hosts, product_columns
from skinstack.compliance import audit
from skinstack.errors import AppError, InvalidInput
from skinstack.kit import ids
from skinstack.kit.money import MoneyError, to_decimal
from skinstack.models import CATEGORIES, Merchant

Format = Literal["csv", "shopify"]
BATCH_SIZE = 2000
REQUIRED_COLUMNS = ("external_id", "name", "price", "product_url")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "category", "description", "image_url", "in_stock",
                 "program_id", "currency")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_TAGS = re.compile(r"<[^>]+>")


class UnreadableFile(AppError):
    status, title, code = 422, "Unprocessable Content", "unreadable_import"


def detect_format(head: bytes, content_type: str | None = None,
                  filename: str | None = None) -> Format:
    """CSV or Shopify JSON, from the content type, else the file name, else the first byte."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in {"application/json", "text/json"}:
        return "shopify"
    if kind in {"text/csv", "application/csv", "text/plain"}:
        return "csv"
    if filename and filename.lower().endswith(".json"):
        return "shopify"
    if filename and filename.lower().endswith(".csv"):
        return "csv"
    return "shopify" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in {b"{", b"["} else "csv"


def csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, raw fields) of a CSV file with a header row; UTF-8 with or without BOM."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile("The file is empty: a header row is needed.") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFile(f"The file is not UTF-8 CSV: {exc}") from None
    columns = [name.strip().lower() for name in header]
    if missing := [name for name in REQUIRED_COLUMNS if name not in columns]:
        raise UnreadableFile(f"The header row lacks the columns: {', '.join(missing)}.")
    known = [(index, name) for index, name in enumerate(columns) if name in KNOWN_COLUMNS]
    width = len(columns)
    row_number = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            row_number += 1
            yield row_number, {"__error__": f"unreadable row: {exc}"}
            continue
        row_number += 1
        if not "".join(values).strip():
            continue  # blank line
        if len(values) > width:
            yield row_number, {"__error__": f"{len(values)} fields, the header has {width}"}
            continue
        count = len(values)
        yield row_number, {name: values[index] for index, name in known if index < count}


def shopify_rows(stream: IO[bytes], *, website_url: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, raw fields) of Shopify's products.json ({"products": [...]}), one per product.

    Anything else (another JSON document, `{"products": 3}`, a bare array) is UnreadableFile.
    Price: the lowest variant price; in stock: any variant available or with inventory; URL:
    the store's /products/{handle}; category: product_type when it names one of ours.
    """
    base = website_url.rstrip("/")
    try:
        events = ijson.parse(stream)
        _expect_products_array(events)
        # The events before the array are spent; items() only needs those inside it.
        for position, item in enumerate(ijson.items(events, "products.item"), start=1):
            if not isinstance(item, dict):
                yield position, {"__error__": "a product must be a JSON object"}
                continue
            yield position, _shopify_product(item, base)
    except ijson.JSONError as exc:
        raise UnreadableFile(f"The file is not valid JSON: {exc}") from None


NOT_PRODUCTS_JSON = ('The JSON is not a Shopify products.json: it must be an object with a '
                     '"products" array.')


def _expect_products_array(events: Iterator[tuple[str, str, Any]]) -> None:
    """Reads `events` up to the start of the top-level "products" array, or refuses the file."""
    first = next(events, None)
    if first is None or first[:2] != ("", "start_map"):
        raise UnreadableFile(NOT_PRODUCTS_JSON)
    for prefix, event, value in events:
        if prefix == "" and event == "map_key" and value == "products":
            if next(events, ("", "", None))[1] != "start_array":
                raise UnreadableFile(NOT_PRODUCTS_JSON)
            return
    raise UnreadableFile(NOT_PRODUCTS_JSON)


def _text(value: Any) -> str | None:
    """A JSON string or number as text; None for anything else (objects, lists, booleans)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


def _shopify_product(item: dict[str, Any], base: str) -> dict[str, Any]:
    """One product's raw fields; a value of the wrong JSON type counts as missing, so the
    row's validation names it instead of the import failing."""
    variants = [variant for variant in _list(item.get("variants")) if isinstance(variant, dict)]
    prices = []
    for variant in variants:
        try:
            prices.append(to_decimal(variant.get("price")))
        except MoneyError:
            continue
    available = any(
        variant.get("available") is True
        or (isinstance(quantity := variant.get("inventory_quantity"), int | Decimal)
            and not isinstance(quantity, bool) and quantity > 0)
        or variant.get("inventory_management") in (None, "")
        for variant in variants)
    image = item.get("image") or next(iter(_list(item.get("images"))), None)
    body = _text(item.get("body_html")) or ""
    category = (_text(item.get("product_type")) or "").strip().lower().replace(" ", "_")
    handle = _text(item.get("handle"))
    return {
        "external_id": _text(item.get("id")) or "",
        "name": _text(item.get("title")) or "",
        "description": html.unescape(_TAGS.sub(" ", body)).strip() or None,
        "price": str(min(prices)) if prices else "",
        "product_url": f"{base}/products/{handle}" if handle else "",
        "image_url": _text(image.get("src")) if isinstance(image, dict) else None,
        "category": category if category in CATEGORIES else None,
        "in_stock": available if variants else True,
        "currency": _text(item.get("currency")),
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    """Blank cells mean "not given"; in_stock words become booleans; categories normalised."""
    fields = {}
    for key, value in raw.items():
        if value.__class__ is str:
            value = value.strip()
            if not value:
                continue
        elif value is None:
            continue
        fields[key] = value
    stock = fields.get("in_stock")
    if isinstance(stock, str):
        lowered = stock.lower()
        fields["in_stock"] = True if lowered in _TRUE else False if lowered in _FALSE else stock
    if isinstance(fields.get("category"), str):
        fields["category"] = fields["category"].lower().replace(" ", "_").replace("-", "_")
    return fields


def _reason(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in issue['loc']) or 'row'}: {issue['msg']}"
                     for issue in error.errors(include_url=False, include_input=False))


_STAGE_ROW = operator.itemgetter(*repository.IMPORT_COLUMNS)


def planned_batches(rows: Iterator[tuple[int, dict[str, Any]]], *, merchant: Merchant,
                    hosts: set[str], program_ids: set[uuid.UUID],
                    errors: list[ImportRowError], size: int = BATCH_SIZE,
                    ) -> Iterator[list[tuple[Any, ...]]]:
    """The good rows, checked as one product at a time would be, in batches of stage rows
    (repository.IMPORT_COLUMNS); each bad row is appended to `errors`. Pure: no database."""
    first_row: dict[str, int] = {}  # external_id -> row: a file may not name a product twice
    batch: list[tuple[Any, ...]] = []
    for row_number, raw in rows:
        if "__error__" in raw:
            errors.append(ImportRowError(row=row_number, error=raw["__error__"]))
            continue
        try:
            data = ProductIn.model_validate(_clean(raw))
            columns = product_columns(data, merchant=merchant, hosts=hosts,
                                      program_ids=program_ids)
        except ValidationError as exc:
            errors.append(ImportRowError(row=row_number, error=_reason(exc)))
            continue
        except InvalidInput as exc:
            errors.append(ImportRowError(row=row_number,
                                         error=f"{exc.errors[0]['field']}: {exc.detail}"
                                         if exc.errors else exc.detail))
            continue
        if (seen := first_row.get(data.external_id)) is not None:
            errors.append(ImportRowError(
                row=row_number, error=f"external_id {data.external_id!r} is already on row {seen}"))
            continue
        first_row[data.external_id] = row_number
        # Time-ordered ids: the primary key and (created_at, id) indexes grow at one end
        # instead of taking each new product at a random place (their upkeep took a third
        # less time in a 100,000-row insert).
        columns["id"] = ids.uuid7()
        columns["external_id"] = data.external_id
        batch.append(_STAGE_ROW(columns))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_products(
    *,
    session: AsyncSession,
    merchant: Merchant,
    stream: IO[bytes],
    format: Format,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Imports every good row of `stream` for `merchant`; reports every bad one.

    Reading and checking (pure Python) and writing (PostgreSQL) overlap: the next batch is
    read and checked in a worker thread while the database merges the previous one, so the
    import takes about as long as the slower of the two rather than their sum.
    """
    hasher = hashlib.sha256()
    counted = _Hashing(stream, hasher)
    buffered = io.BufferedReader(counted, buffer_size=1 << 16)
    rows = (csv_rows(buffered) if format == "csv"
            else shopify_rows(buffered, website_url=merchant.website_url))
    program_ids = await repository.own_program_ids(session=session, merchant_id=merchant.id)
    report = ImportReport()
    batches = planned_batches(rows, merchant=merchant, hosts=merchant_hosts(merchant),
                              program_ids=program_ids, errors=report.errors)

    async def write(batch: list[tuple[Any, ...]]) -> None:
        created, updated = await repository.upsert_products(session=session, rows=batch)
        report.created += created
        report.updated += updated
        report.unchanged += len(batch) - created - updated
        if progress:
            progress(counted.consumed)

    writing: asyncio.Task[None] | None = None
    try:
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            if writing is not None:
                await writing
            writing = asyncio.create_task(write(batch))
        if writing is not None:
            await writing
    except BaseException as exc:
        # Never leave a write running on the session the caller is about to roll back.
        if writing is not None:
            if isinstance(exc, asyncio.CancelledError):
                writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)
        raise
    audit.record(session.sync_session, action="product.import", resource_type="products",
                 resource_id=None, changes={
                     "merchant_id": merchant.id, "format": format, "sha256": hasher.hexdigest(),
                     "created": report.created, "updated": report.updated,
                     "unchanged": report.unchanged, "errors": len(report.errors)})
    return report


class _Hashing(io.RawIOBase):
    """Reads through to `inner`, hashing and counting the bytes (for the audit and progress)."""

    def __init__(self, inner: IO[bytes], hasher: Any) -> None:
        self.inner = inner
        self.hasher = hasher
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        self.hasher.update(data)
        self.consumed += len(data)
        buffer[: len(data)] = data
        return len(data)
