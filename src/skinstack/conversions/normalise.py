"""Store and network payloads → normalised orders and adjustments. Pure: no I/O.

Every amount is parsed from its text as Decimal (JSON is decoded with `parse_float=Decimal`,
so a float never exists) and kept as integer minor units of the order's currency; an amount
with more decimals than its currency has is refused rather than rounded. Anything that cannot
be normalised raises `Unprocessable` with a reason a person can act on; the event is then
marked failed with that reason.

What the worker stores must be text PostgreSQL can store: a `Normalised` refuses, when it is
made, any text value (ids, names, codes, line items) holding a NUL character or an unpaired
surrogate, so every source's payload is refused here rather than by the database. JSON bodies
are refused past MAX_JSON_DEPTH levels of nesting before they are parsed.

Every body is read here: the intake reads what it verifies and what names an event with
`form_or_json`, `postback_parameters` and the `*_external_id` functions; the worker reads a
stored event the way its source sends it with `delivery()`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, urlsplit

from skinstack.kit.money import MoneyError, normalise_currency, to_decimal, to_minor
from skinstack.models.webhook_event import WebhookSource


class Unprocessable(ValueError):
    """The payload can never be normalised as it is (retrying will not help)."""


@dataclass(frozen=True)
class LineItem:
    line_id: str | None
    sku: str | None
    quantity: int
    unit_price: int
    discount: int
    """Discounts allocated to this line (all units), minor units."""

    def as_json(self) -> dict[str, Any]:
        return {"line_id": self.line_id, "sku": self.sku, "quantity": self.quantity,
                "unit_price": self.unit_price, "discount": self.discount}


@dataclass(frozen=True)
class Order:
    order_id: str
    occurred_at: datetime
    currency: str
    subtotal: int
    """Line items at price x quantity, before any discount (minor units), as the store states
    it; with `discounts`, what it says the goods came to, which commissions never exceed even
    when the line items add up to more."""
    discounts: int
    """Every discount on the order, line-level ones included."""
    tax: int
    shipping: int
    total: int
    order_name: str | None = None
    line_items: tuple[LineItem, ...] = ()
    discount_codes: tuple[str, ...] = ()
    click_ref: str | None = None
    device_id: str | None = None
    customer_email: str | None = None
    financial_status: str | None = None
    cancelled: bool = False
    is_test: bool = False
    tracking_id: str | None = None
    """Amazon's tracking id, which names an influencer through amazon_tracking_ids."""
    match_keys: tuple[str, ...] = ()
    """Other order ids that waiting adjustments may carry (Amazon: tracking id:ASIN)."""


@dataclass(frozen=True)
class Adjustment:
    external_id: str
    order_id: str
    kind: str  # refund | cancellation | reversal | adjustment
    occurred_at: datetime
    amount: int | None = None
    """Goods amount taken back in minor units; None takes back all of it."""
    currency: str | None = None
    line_items: tuple[dict[str, Any], ...] = ()
    reported_amount: int | None = None
    """For `adjustment`: the order's new amount as reported (the reduction is worked out
    against the stored conversion)."""


@dataclass(frozen=True)
class Normalised:
    """What an event reports. Made only of text PostgreSQL can store (else Unprocessable)."""
    orders: tuple[Order, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for order in self.orders:
            _check_storable(vars(order), f"order {order.order_id[:80]!r}: ")
        for adjustment in self.adjustments:
            _check_storable(vars(adjustment),
                            f"{adjustment.kind} {adjustment.external_id[:80]!r}: ")
        _check_storable(self.notes, "notes")


# --- text PostgreSQL can store --------------------------------------------------------------

def unstorable(text: str) -> str | None:
    """What in `text` PostgreSQL cannot store as text (a NUL, or an unpaired surrogate, which
    has no UTF-8 form), or None."""
    if "\x00" in text:
        return "a NUL character (U+0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"an unpaired surrogate (U+{ord(text[exc.start]):04X})"
    return None


def storable(text: str, what: str) -> str:
    """`text` when PostgreSQL can store it; else Unprocessable naming `what`."""
    reason = unstorable(text)
    if reason is not None:
        raise Unprocessable(f"{what} contains {reason}, which PostgreSQL cannot store")
    return text


_CONTAINERS = (tuple, list, dict, LineItem)


def _check_storable(value: Any, where: str) -> None:
    """Every text value inside `value` (a dict of fields, tuples, lists, line items), named by
    its path when it cannot be stored. Plain ASCII without NUL, nearly every value, costs one
    test."""
    if isinstance(value, LineItem):
        value = vars(value)
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(item, str):
            if item.isascii() and "\x00" not in item:
                continue
        elif not (isinstance(item, _CONTAINERS) and item):
            continue
        path = (f"{where}[{key}]" if isinstance(key, int) else
                f"{where}{key}" if where.endswith(" ") else f"{where}.{key}")
        if isinstance(item, str):
            storable(item, path)
        else:
            _check_storable(item, path)


# --- shared helpers -------------------------------------------------------------------------

MAX_JSON_DEPTH = 64
"""How deeply a JSON body may nest. The sources' payloads nest about six levels; the depth is
measured before parsing, so the parser's recursion never meets a body built to exhaust it."""

_ALL_BUT_MARKS = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_OPENING = frozenset(b"[{")


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether the brackets outside strings in the JSON text `body` open more than `limit`
    levels deep. Byte operations only (UTF-8 never uses these ASCII bytes inside a character):
    escaped backslashes, then escaped quotes go; every other byte but quotes and brackets goes;
    adjacent quotes go (an empty string, or two strings with no bracket between them: either way
    what lies between is not outside a string); what is left alternates outside, inside. A body
    that is not JSON may be misjudged only past the point where the parser stops reading it."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(None, _ALL_BUT_MARKS).replace(b'""', b"")
    depth = 0
    for outside in marks.split(b'"')[::2]:
        for mark in outside:
            if mark in _OPENING:
                depth += 1
                if depth > limit:
                    return True
            else:
                depth -= 1
    return False


def load_json(body: bytes) -> Any:
    """JSON (UTF-8, as RFC 8259 requires between systems) with every number kept exact (floats
    as Decimal, integers as int), nested at most MAX_JSON_DEPTH levels."""
    try:
        text = body.decode("utf-8-sig")
        if nested_deeper_than(body, MAX_JSON_DEPTH):
            raise Unprocessable(f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
        return json.loads(text, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unprocessable(f"the body is not valid JSON: {exc}") from None


def form_or_json(content_type: str, body: bytes) -> dict[str, Any] | None:
    """The fields of a form-encoded or JSON object body; None when it is neither."""
    if "json" in content_type:
        try:
            payload = load_json(body)
        except Unprocessable:
            return None
        return payload if isinstance(payload, dict) else None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError):
        return None


def _object(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise Unprocessable(f"{what} must be a JSON object")
    return payload


def _money(value: Any, currency: str, what: str, *, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise Unprocessable(f"{what} is missing")
        return default
    if isinstance(value, float):  # never produced by load_json; refuse rather than guess
        raise Unprocessable(f"{what} must be a decimal string")
    try:
        return to_minor(value, currency)
    except MoneyError as exc:
        raise Unprocessable(f"{what}: {exc}") from None


def _currency(value: Any, what: str = "currency") -> str:
    try:
        return normalise_currency(value)
    except MoneyError as exc:
        raise Unprocessable(f"{what}: {exc}") from None


def _when(value: Any, what: str) -> datetime:
    """An RFC 3339 / ISO 8601 time (a date alone is midnight UTC) or Unix seconds."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise Unprocessable(f"{what} is not a valid time") from None
    if not isinstance(value, str) or not value.strip():
        raise Unprocessable(f"{what} is missing")
    text = value.strip()
    if text.isdigit():
        return _when(int(text), what)
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        try:
            parsed = datetime.combine(datetime.strptime(text, "%m/%d/%Y").date(),
                                      datetime.min.time())
        except ValueError:
            raise Unprocessable(f"{what} {text[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def _quantity(value: Any, what: str) -> int:
    try:
        quantity = int(str(value).strip())
    except ValueError:
        raise Unprocessable(f"{what} must be a whole number") from None
    if quantity < 0:
        raise Unprocessable(f"{what} must not be negative")
    return quantity


CLICK_PARAMETERS = ("aff_sub", "click_id", "skinstack_click_id", "subid1", "sub_id")
DEVICE_PARAMETERS = ("skinstack_device_id", "device_id")


def click_ref_from_landing_site(landing_site: str | None) -> str | None:
    """`aff_sub` from a landing site: a full URL, a bare path with a query, or a bare query."""
    if not landing_site:
        return None
    query = (urlsplit(landing_site).query if "?" in landing_site
             else landing_site.split("#", 1)[0])
    values = parse_qs(query, keep_blank_values=False).get("aff_sub")
    return _text(values[0], 100) if values else None


def _named(attributes: Any, names: Iterable[str]) -> str | None:
    """The first of `names` among Shopify note_attributes ([{name, value}])."""
    if not isinstance(attributes, list):
        return None
    found = {str(item.get("name", "")).strip().lower(): item.get("value")
             for item in attributes if isinstance(item, dict)}
    for name in names:
        if found.get(name):
            return _text(found[name], 100)
    return None


# --- Shopify --------------------------------------------------------------------------------

ORDER_TOPICS = {"orders/create", "orders/paid", "orders/cancelled"}
REFUND_TOPICS = {"refunds/create"}
SHOPIFY_TOPICS = ORDER_TOPICS | REFUND_TOPICS


def _shop_amount(resource: Mapping[str, Any], name: str) -> Any:
    """`name` in shop money when the `_set` form is there (Shopify's presentment currency can
    differ from the shop's), else the plain field."""
    money_set = resource.get(f"{name}_set")
    if isinstance(money_set, dict) and isinstance(money_set.get("shop_money"), dict):
        return money_set["shop_money"].get("amount")
    return resource.get(name)


def shopify(topic: str, payload: Any) -> Normalised:
    payload = _object(payload, "a Shopify webhook body")
    if topic in REFUND_TOPICS:
        return Normalised(adjustments=(shopify_refund(payload),))
    if topic not in ORDER_TOPICS:
        raise Unprocessable(f"Shopify topic {topic!r} is not one SkinStack handles")
    order = shopify_order(payload)
    if not order.cancelled:
        return Normalised(orders=(order,))
    cancellation = Adjustment(external_id=f"cancel:{order.order_id}", order_id=order.order_id,
                              kind="cancellation",
                              occurred_at=_when(payload.get("cancelled_at"), "cancelled_at"),
                              currency=order.currency)
    return Normalised(orders=(order,), adjustments=(cancellation,))


def shopify_order(payload: Mapping[str, Any]) -> Order:
    if payload.get("id") in (None, ""):
        raise Unprocessable("the order has no id")
    currency = _currency(payload.get("currency"))
    lines = []
    for index, item in enumerate(payload.get("line_items") or []):
        if not isinstance(item, dict):
            raise Unprocessable(f"line_items[{index}] must be an object")
        quantity = _quantity(item.get("quantity", 0), f"line_items[{index}].quantity")
        allocations = item.get("discount_allocations")
        if isinstance(allocations, list) and allocations:
            discount = sum(_money(_shop_amount(a, "amount"), currency,
                                  f"line_items[{index}].discount_allocations")
                           for a in allocations if isinstance(a, dict))
        else:
            discount = _money(_shop_amount(item, "total_discount"), currency,
                              f"line_items[{index}].total_discount", default=0)
        lines.append(LineItem(
            line_id=_text(item.get("id"), 64), sku=_text(item.get("sku"), 100),
            quantity=quantity,
            unit_price=_money(_shop_amount(item, "price"), currency, f"line_items[{index}].price"),
            discount=discount))
    line_total = sum(line.unit_price * line.quantity for line in lines)
    discounts = _money(_shop_amount(payload, "total_discounts"), currency, "total_discounts",
                       default=0)
    subtotal = _money(_shop_amount(payload, "total_line_items_price"), currency,
                      "total_line_items_price", default=line_total)
    after_discounts = _shop_amount(payload, "subtotal_price")
    if after_discounts not in (None, ""):
        # subtotal_price is the goods after discounts: the store saying less there than its
        # lines' prices less its discounts is believed (commissions never exceed it).
        subtotal = min(subtotal, _money(after_discounts, currency, "subtotal_price") + discounts)
    shipping_set = _shop_amount(payload, "total_shipping_price")
    if shipping_set is not None:
        shipping = _money(shipping_set, currency, "total_shipping_price_set")
    else:
        shipping = sum(_money(line.get("price"), currency, "shipping_lines.price", default=0)
                       for line in payload.get("shipping_lines") or [] if isinstance(line, dict))
    attributes = payload.get("note_attributes")
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    codes = tuple(dict.fromkeys(
        text for code in payload.get("discount_codes") or []
        if isinstance(code, dict) and (text := _text(code.get("code"), 100))))
    return Order(
        order_id=str(payload["id"]),
        order_name=_text(payload.get("name"), 100),
        occurred_at=_when(payload.get("processed_at") or payload.get("created_at"), "created_at"),
        currency=currency,
        subtotal=subtotal,
        discounts=discounts,
        tax=_money(_shop_amount(payload, "total_tax"), currency, "total_tax", default=0),
        shipping=shipping,
        total=_money(_shop_amount(payload, "total_price"), currency, "total_price"),
        line_items=tuple(lines),
        discount_codes=codes,
        click_ref=(click_ref_from_landing_site(payload.get("landing_site"))
                   or _named(attributes, CLICK_PARAMETERS)),
        device_id=_named(attributes, DEVICE_PARAMETERS),
        customer_email=_text(payload.get("email") or payload.get("contact_email")
                             or customer.get("email"), 320),
        financial_status=_text(payload.get("financial_status"), 30),
        cancelled=bool(payload.get("cancelled_at")),
        is_test=payload.get("test") is True,
    )


def shopify_refund(payload: Mapping[str, Any]) -> Adjustment:
    if payload.get("id") in (None, "") or payload.get("order_id") in (None, ""):
        raise Unprocessable("the refund has no id or order_id")
    currency = None
    items = []
    amount = 0
    for index, item in enumerate(payload.get("refund_line_items") or []):
        if not isinstance(item, dict):
            raise Unprocessable(f"refund_line_items[{index}] must be an object")
        subtotal_set = item.get("subtotal_set")
        if isinstance(subtotal_set, dict) and isinstance(subtotal_set.get("shop_money"), dict):
            currency = currency or _text(subtotal_set["shop_money"].get("currency_code"), 3)
        line = item.get("line_item") if isinstance(item.get("line_item"), dict) else {}
        # The refund's currency is the order's; it is checked against the conversion later.
        quantity = _quantity(item.get("quantity", 0), f"refund_line_items[{index}].quantity")
        where = f"refund_line_items[{index}]"
        if _shop_amount(item, "subtotal") is not None:
            line_amount = _money(_shop_amount(item, "subtotal"), currency or "USD",
                                 f"{where}.subtotal")
        else:  # older payloads: the line's price for the units refunded, less their discount
            line_amount = _refunded_line(line, quantity, currency or "USD", where)
        amount += line_amount
        items.append({"line_id": _text(item.get("line_item_id") or line.get("id"), 64),
                      "sku": _text(line.get("sku"), 100),
                      "quantity": quantity, "amount": line_amount})
    return Adjustment(
        external_id=f"refund:{payload['id']}", order_id=str(payload["order_id"]), kind="refund",
        occurred_at=_when(payload.get("processed_at") or payload.get("created_at"), "created_at"),
        amount=amount, currency=_currency(currency) if currency else None,
        line_items=tuple(items))


def _refunded_line(line: Mapping[str, Any], quantity: int, currency: str, where: str) -> int:
    """price x units refunded, less the line's discount shared per unit; the discount share
    is rounded half up to the minor unit (the only rounding in normalisation)."""
    price = _money(_shop_amount(line, "price"), currency, f"{where}.line_item.price")
    discount = _money(_shop_amount(line, "total_discount"), currency,
                      f"{where}.line_item.total_discount", default=0)
    ordered = _quantity(line.get("quantity") or quantity or 1, f"{where}.line_item.quantity")
    share = (Decimal(discount) * quantity / max(ordered, 1)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    return price * quantity - int(share)


# --- Impact ---------------------------------------------------------------------------------

IMPACT_REVERSED_STATES = {"REVERSED", "REJECTED"}


def _lowered(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in payload.items()}


def _impact_action(payload: Any) -> tuple[dict[str, Any], str, str]:
    """(fields with lower-case names, ActionId, State) of an Impact postback."""
    fields = _lowered(_object(payload, "an Impact postback"))
    action = _text(fields.get("actionid"), 100)
    if not action:
        raise Unprocessable("ActionId is missing")
    state = (_text(fields.get("state"), 30) or "PENDING").upper()
    return fields, storable(action, "ActionId"), storable(state, "State")


def impact_external_id(account_id: str, payload: Any) -> str:
    """ActionId and State identify an Impact event; the amount is part of it too, so that a
    reduced amount reported in the same state is a new event, not a duplicate."""
    fields, action, state = _impact_action(payload)
    amount = storable(_text(fields.get("amount"), 40) or "", "Amount")
    return f"{account_id}:{action}:{state}:{amount}"


def impact(payload: Any, *, default_currency: str) -> Normalised:
    fields, action, state = _impact_action(payload)
    order_id = _text(fields.get("orderid"), 255) or action
    occurred_at = _when(fields.get("eventdate") or fields.get("creationdate"), "EventDate")
    currency = _currency(fields.get("currency") or default_currency)
    if state in IMPACT_REVERSED_STATES:
        return Normalised(adjustments=(Adjustment(
            external_id=f"impact:{action}:{state}", order_id=order_id, kind="reversal",
            occurred_at=occurred_at, currency=currency),))
    amount = _money(fields.get("amount"), currency, "Amount")
    if amount < 0:
        raise Unprocessable("Amount must not be negative")
    order = Order(order_id=order_id, occurred_at=occurred_at, currency=currency,
                  subtotal=amount, discounts=0, tax=0, shipping=0, total=amount,
                  discount_codes=tuple(c for c in [_text(fields.get("promocode"), 100)] if c),
                  click_ref=_text(fields.get("subid1"), 100),
                  device_id=_text(fields.get("subid2"), 64) if fields.get("subid2") else None,
                  customer_email=_text(fields.get("customeremail"), 320),
                  financial_status=state.lower())
    reduction = Adjustment(external_id=f"impact:{action}:{state}:{amount}", order_id=order_id,
                           kind="adjustment", occurred_at=occurred_at, currency=currency,
                           reported_amount=amount)
    return Normalised(orders=(order,), adjustments=(reduction,))


# --- Refersion ------------------------------------------------------------------------------

REFERSION_REVERSED = {"DENIED", "REJECTED", "REVERSED", "CANCELLED", "CANCELED"}


def _refersion_conversion(payload: Any) -> tuple[dict[str, Any], str, str]:
    """(fields with lower-case names, conversion id, status as sent, upper case)."""
    fields = _lowered(_object(payload, "a Refersion webhook body"))
    conversion = _text(fields.get("id") or fields.get("conversion_id"), 100)
    if not conversion:
        raise Unprocessable("the Refersion conversion has no id")
    status = (_text(fields.get("status"), 30) or "").upper()
    return (fields, storable(conversion, "the Refersion conversion's id"),
            storable(status, "status"))


def refersion_external_id(public_key: str, payload: Any) -> str:
    _, conversion, status = _refersion_conversion(payload)
    return f"{public_key}:{conversion}:{status}"


def refersion(payload: Any, *, default_currency: str) -> Normalised:
    fields, conversion, status = _refersion_conversion(payload)
    order_id = _text(fields.get("order_id"), 255)
    if not order_id:
        raise Unprocessable("the Refersion conversion has no id or order_id")
    status = status or "PENDING"
    currency = _currency(fields.get("currency") or default_currency)
    occurred_at = _when(fields.get("created") or fields.get("created_at"), "created")
    if status in REFERSION_REVERSED:
        return Normalised(adjustments=(Adjustment(
            external_id=f"refersion:{conversion}:{status}", order_id=order_id, kind="reversal",
            occurred_at=occurred_at, currency=currency),))
    lines = []
    for index, item in enumerate(fields.get("items") or []):
        if not isinstance(item, dict):
            raise Unprocessable(f"items[{index}] must be an object")
        lines.append(LineItem(
            line_id=_text(item.get("id"), 64), sku=_text(item.get("sku"), 100),
            quantity=_quantity(item.get("quantity", 1), f"items[{index}].quantity"),
            unit_price=_money(item.get("price"), currency, f"items[{index}].price"),
            discount=_money(item.get("discount"), currency, f"items[{index}].discount",
                            default=0)))
    line_total = sum(line.unit_price * line.quantity for line in lines)
    total = _money(fields.get("total") or fields.get("sale_total"), currency, "total")
    customer = fields.get("customer") if isinstance(fields.get("customer"), dict) else {}
    return Normalised(orders=(Order(
        order_id=order_id, occurred_at=occurred_at, currency=currency,
        subtotal=_money(fields.get("subtotal"), currency, "subtotal",
                        default=line_total or total),
        discounts=_money(fields.get("discount_total"), currency, "discount_total", default=0),
        tax=_money(fields.get("tax"), currency, "tax", default=0),
        shipping=_money(fields.get("shipping"), currency, "shipping", default=0),
        total=total, line_items=tuple(lines),
        discount_codes=tuple(c for c in [_text(fields.get("coupon_code"), 100)] if c),
        click_ref=_text(fields.get("sub_id") or fields.get("aff_sub"), 100),
        customer_email=_text(fields.get("email") or customer.get("email"), 320),
        financial_status=status.lower()),))


# --- the generic postback -------------------------------------------------------------------

POSTBACK_EVENTS = {"conversion", "refund", "reversal"}


def postback_parameters(content_type: str, body: bytes) -> dict[str, str]:
    """A postback's parameters as the strings that were signed (JSON numbers keep their text):
    a form, or a JSON object of strings; else Unprocessable."""
    if "json" in content_type:
        try:
            text = body.decode("utf-8-sig")  # the depth is measured on UTF-8 bytes
            if nested_deeper_than(body, MAX_JSON_DEPTH):
                raise Unprocessable(f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
            payload = json.loads(text, parse_float=str, parse_int=str)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Unprocessable(f"the body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict) or not all(
                isinstance(value, str) for value in payload.values()):
            raise Unprocessable("the body is not a JSON object of strings")
        return payload
    fields = form_or_json(content_type, body)
    if fields is None:
        raise Unprocessable("the body is not a form")
    return fields


def postback_external_id(integration_id: str, params: Mapping[str, str]) -> str:
    event = params.get("event", "conversion")
    given = params.get("event_id")
    if given:
        return f"{integration_id}:{given[:200]}"
    return f"{integration_id}:{event}:{params.get('order_id', '')[:200]}:{params.get('amount', '')}"


def postback(params: Mapping[str, str], *, default_currency: str) -> Normalised:
    event = params.get("event", "conversion")
    if event not in POSTBACK_EVENTS:
        raise Unprocessable(f"event must be one of {', '.join(sorted(POSTBACK_EVENTS))}")
    order_id = _text(params.get("order_id"), 255)
    if not order_id:
        raise Unprocessable("order_id is missing")
    currency = _currency(params.get("currency") or default_currency)
    occurred_at = _when(params.get("occurred_at") or params.get("timestamp"), "occurred_at")
    # The postback's own event id is its identity even where nothing stores it.
    external = (storable(params.get("event_id") or "", "event_id")
                or f"{event}:{order_id}:{params.get('amount', '')}")
    if event == "reversal":
        return Normalised(adjustments=(Adjustment(
            external_id=f"postback:{external}", order_id=order_id, kind="reversal",
            occurred_at=occurred_at, currency=currency),))
    amount = _money(params.get("amount"), currency, "amount")
    if amount < 0:
        raise Unprocessable("amount must not be negative")
    if event == "refund":
        return Normalised(adjustments=(Adjustment(
            external_id=f"postback:{external}", order_id=order_id, kind="refund",
            occurred_at=occurred_at, amount=amount, currency=currency),))
    return Normalised(orders=(Order(
        order_id=order_id, occurred_at=occurred_at, currency=currency, subtotal=amount,
        discounts=0, tax=0, shipping=0, total=amount,
        discount_codes=tuple(c for c in [_text(params.get("coupon"), 100)] if c),
        click_ref=_text(params.get("click_id"), 100),
        device_id=_text(params.get("device_id"), 64),
        customer_email=_text(params.get("email"), 320)),))


# --- Amazon Associates earnings report ------------------------------------------------------

_SYMBOLS = {"$": "USD", "£": "GBP", "€": "EUR", "¥": "JPY", "₹": "INR"}
_HEADER = re.compile(r"[^a-z0-9]+")


def _column(name: str) -> str:
    return _HEADER.sub(" ", name.lower()).strip()


AMAZON_COLUMNS = {
    "tracking id": "tracking_id", "asin": "asin", "date shipped": "date_shipped",
    "price": "price", "items shipped": "items_shipped", "returns": "returns",
    "revenue": "revenue", "ad fees": "ad_fees", "name": "name", "product title": "name",
    "sub tag": "sub_tag", "subtag": "sub_tag", "ascsubtag": "sub_tag",
}


def decode_report(body: bytes) -> str:
    """An uploaded report's text: UTF-8 (a BOM allowed), else Windows-1252, as Excel exports
    it on Windows."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def amazon_report(text: str, *, default_currency: str = "USD") -> Normalised:
    """An Associates earnings report (comma- or tab-separated; title rows above the header are
    skipped). A row with items shipped is an order; a row with returns or negative revenue is a
    return of that tracking id's ASIN. Each row's order id is a digest of the row and of how
    many identical rows came before it, so the same report (or an overlapping one) imported
    again makes nothing new. A file the csv module cannot read (a field over its limit, a NUL
    in a cell) is Unprocessable, as any other unreadable report."""
    try:
        return _amazon_report(text, default_currency=default_currency)
    except csv.Error as exc:
        raise Unprocessable(f"the report is not readable as CSV: {exc}") from None


def _amazon_report(text: str, *, default_currency: str) -> Normalised:
    lines = text.lstrip("\ufeff").splitlines()
    start = next((index for index, line in enumerate(lines)
                  if "tracking id" in line.lower() and "asin" in line.lower()), None)
    if start is None:
        raise Unprocessable("no header row with 'Tracking ID' and 'ASIN' columns")
    dialect = "excel-tab" if "\t" in lines[start] else "excel"
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), dialect=dialect)
    header = next(reader)
    currency = default_currency
    names = []
    for raw in header:
        symbol = next((s for s in _SYMBOLS if s in raw), None)
        if symbol:
            currency = _SYMBOLS[symbol]
        names.append(AMAZON_COLUMNS.get(_column(raw.split("(")[0])))
    for needed in ("tracking_id", "asin", "date_shipped", "revenue"):
        if needed not in names:
            raise Unprocessable(f"the report has no {needed.replace('_', ' ')} column")
    seen: Counter[tuple[str, ...]] = Counter()
    orders: list[Order] = []
    returns: list[Adjustment] = []
    for number, row in enumerate(reader, start=start + 2):
        if not any(cell.strip() for cell in row):
            continue
        values = {name: cell.strip() for name, cell in zip(names, row, strict=False) if name}
        if not values.get("tracking_id") or not values.get("asin"):
            continue  # totals and footer rows
        key = tuple(row)
        seen[key] += 1
        digest = hashlib.sha256(
            json.dumps([list(key), seen[key]]).encode()).hexdigest()[:24]
        where = f"row {number}"
        tracking, asin = values["tracking_id"][:128], values["asin"][:20]
        shipped_on = _when(values["date_shipped"], f"{where}: date shipped")
        revenue = _money(_amazon_number(values.get("revenue")), currency, f"{where}: revenue")
        shipped = _quantity(values.get("items_shipped") or "0", f"{where}: items shipped")
        returned = _quantity(values.get("returns") or "0", f"{where}: returns")
        order_id = f"{tracking}:{asin}:{shipped_on.date().isoformat()}:{digest}"
        if revenue < 0 or (returned and not shipped):
            returns.append(Adjustment(
                external_id=f"amazon:{digest}", order_id=f"{tracking}:{asin}", kind="refund",
                occurred_at=shipped_on, amount=abs(revenue), currency=currency,
                # No units returned (a price adjustment) is no units: the revenue counts.
                line_items=({"sku": asin, "quantity": returned, "amount": abs(revenue)},)))
            continue
        price = _money(_amazon_number(values.get("price")), currency, f"{where}: price",
                       default=revenue // max(shipped, 1))
        orders.append(Order(
            order_id=order_id, order_name=(values.get("name") or asin)[:100],
            occurred_at=shipped_on, currency=currency, subtotal=revenue, discounts=0, tax=0,
            shipping=0, total=revenue,
            line_items=(LineItem(line_id=None, sku=asin, quantity=shipped, unit_price=price,
                                 discount=max(price * shipped - revenue, 0)),),
            click_ref=_text(values.get("sub_tag"), 100), tracking_id=tracking,
            match_keys=(f"{tracking}:{asin}",)))
    return Normalised(orders=tuple(orders), adjustments=tuple(returns))


def _amazon_number(value: str | None) -> str | None:
    """Amazon writes "1,234.56" and "(12.00)" for negatives."""
    if value is None:
        return None
    text = value.replace(",", "").strip()
    for symbol in _SYMBOLS:
        text = text.replace(symbol, "")
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]
    try:
        to_decimal(text)
    except MoneyError:
        raise Unprocessable(f"{value!r} is not an amount") from None
    return text


# --- a stored delivery, read the way its source sends it ------------------------------------

DEFAULT_CURRENCY = "USD"
"""The currency of an Impact, Refersion or postback amount that names none."""


class Delivery(Protocol):
    """What `delivery()` reads of an inbox event (a row of the inbox, or the model)."""

    @property
    def source(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, Any]: ...
    @property
    def body(self) -> bytes: ...


def delivery(event: Delivery) -> Normalised:
    """The stored body, parsed the way its source sends it."""
    content_type = event.headers.get("content-type", "")
    match event.source:
        case WebhookSource.shopify:
            return shopify(event.topic, load_json(event.body))
        case WebhookSource.impact:
            fields = (load_json(event.body) if "json" in content_type
                      else form_or_json(content_type, event.body))
            if fields is None:
                raise Unprocessable("the body is neither a form nor a JSON object")
            return impact(fields, default_currency=DEFAULT_CURRENCY)
        case WebhookSource.refersion:
            return refersion(load_json(event.body), default_currency=DEFAULT_CURRENCY)
        case WebhookSource.postback:
            return postback(postback_parameters(content_type, event.body),
                            default_currency=DEFAULT_CURRENCY)
        case WebhookSource.amazon:
            return amazon_report(decode_report(event.body))
    raise Unprocessable(f"unknown source {event.source!r}")
