"""Attribution models (pure: no I/O, no database, no clock).

`attribute()` decides which influencers an order's credit goes to and in what shares;
`learn()` learns the data-driven model's removal effects from a program's recent click paths;
`split()` turns raw shares into exact weights. Rules (tested in tests/attribution):

Converting touch
- A click is eligible when it belongs to the order's merchant, is creditable (not `flagged`:
  no bot, link-preview, headless, HEAD or empty user-agent flag; a repeat or velocity flag keeps
  a click out of click counts, not out of credit, see fraud.clicks), and
  `order.at - window <= click.at <= order.at` (both ends inclusive). Ineligible clicks never get
  credit, under any model.
- sub_id (confidence 1.00): the click whose id is `order.click_id`, if eligible. If it exists but
  is ineligible, the reason why (another merchant, flagged, after the order, outside the window,
  checked in that order) is carried into the outcome's reason. Ids are expected to be unique; if
  several clicks share the id, the latest eligible one is used.
- coupon (0.90): the first of `order.coupons` by `code.casefold()` (ties by code, influencer,
  program); no click.
- network (1.00): `order.named_influencer_id` with `order.program_id`; no click.
- device (0.70): the latest eligible click whose device_id equals `order.device_id`.
- Priority: sub_id > coupon > network > device; with `coupon_first`: coupon > sub_id > network >
  device. No touch at all: no credits, and the reason says why.

Models (`MODELS`)
- last_click: the converting touch gets weight 1.
- Path models (first_click, linear, time_decay, position_based, data_driven) need a click: a
  coupon or network touch gets weight 1 under every model (Outcome.model stays the program's
  model; the reason says path models need a click).
- The path: the eligible clicks on the converting click's device (just the converting click when
  its device_id is None) at or before the converting click by (at, id), in (at, id) order; it
  always ends at the converting click. Path clicks other than the converting one get match_type
  "path" and confidence 0.50; the converting click keeps its own match type and confidence.
- One touch, one click in the path: a repeat (`Touch.repeat`) that comes less than
  REPEAT_WINDOW after the previous path click on the same link is the same touch as that click
  (the same device clicked the link again). Each such run of clicks stands in the path as one
  click: the converting click if it is in the run, else the run's first click. A repeat with no
  click of its device on its link in the hour before (its IP and user agent were another
  device's, as behind a carrier's NAT) is a touch of its own.
- first_click: the first path click gets 1. linear: equal raw shares.
- time_decay: raw share 2 ** (-age / half_life) with age = order.at - click.at, both counted in
  whole microseconds, computed as exp(-age * ln 2 / half_life) in Decimal with a fresh context
  of precision 15 (half-even; Decimal's exp is correctly rounded, so every machine gets the same
  digits). If every raw share underflows to 0 the converting click gets 1.
- position_based: 1 click: 1; 2 clicks: 1/2 each; n >= 3: 0.4 first, 0.4 last, 0.2 shared
  equally by the middle ones (raw shares 2(n-2) : 1 : ... : 1 : 2(n-2), exact, so the first and
  last weights are exactly 0.4).
- data_driven: raw share of a click = removal effect of its influencer (0 when unknown) / number
  of the path's clicks by that influencer. With no `learned`, `learned.sufficient` false, or all
  raw shares 0, it behaves as last_click, Outcome.model is "last_click" and the reason says that
  data-driven fell back and why (with the numbers).
- Raw shares go through split(); credits whose weight is 0 are dropped; the rest sum to exactly 1.
  Credits are listed in path order (the converting click last).

split()
- Shares are computed exactly (fractions): share_i = raw_i / sum. Each is floored to a multiple
  of 10**-WEIGHT_PLACES; the units still missing to reach exactly 1 (fewer than the number of
  shares) go one each to the largest remainders; equal remainders go to the later position first
  (the more recent click). Every weight is within 10**-WEIGHT_PLACES of its exact share.

Input order never matters: clicks are sorted by (at, id) (then by their other fields, so even
duplicated ids are deterministic), coupons by code.

learn()
- Each path is one device's clicks (influencer ids) in time order and whether it converted.
  Consecutive repeats of an influencer collapse to one visit; empty paths are ignored (and not
  counted in `paths` / `converting_paths`).
- First-order Markov chain over start, each influencer, conversion and null; transition
  probabilities are the summed transition counts over all paths divided by each state's total
  out-count (so the result does not depend on path order). States are ordered by influencer id.
- At most MAX_INFLUENCER_STATES influencers get their own state: the most-touched (clicks before
  collapsing; ties by id); the rest share one "other" state, whose effect is not reported.
- With Q the influencer-to-influencer transitions, r the influencer-to-conversion ones and s the
  start distribution: N = inv(I - Q) (pinv if singular), v = N @ r, P = s @ v, h_c =
  (s @ N)[c] / N[c, c], P(without c) = P - h_c * v[c]; removal effect = 1 - P(without c) / P (0
  when P is 0), clamped to [0, 1], all in float64.
- Each effect becomes Decimal as Decimal(repr(round(x, 9))) quantized to WEIGHT_PLACES places,
  half-even. `Learned.sufficient`: converting_paths >= MIN_CONVERTING_PATHS and some effect > 0.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from itertools import pairwise
from types import MappingProxyType

import numpy as np

from skinstack.fraud.clicks import DUPLICATE_WINDOW_SECONDS

WEIGHT_PLACES = 6
MODELS = ("last_click", "first_click", "linear", "time_decay", "position_based", "data_driven")
MIN_CONVERTING_PATHS = 50
MAX_INFLUENCER_STATES = 2000
REPEAT_WINDOW = timedelta(seconds=DUPLICATE_WINDOW_SECONDS)

CONFIDENCE = {
    "sub_id": Decimal("1.00"),
    "network": Decimal("1.00"),
    "coupon": Decimal("0.90"),
    "device": Decimal("0.70"),
    "path": Decimal("0.50"),
}
_NO_DEVICE_CLICK = "no eligible click on the order's device"
_UNIT = Decimal(1).scaleb(-WEIGHT_PLACES)
_SCALE = 10**WEIGHT_PLACES
_ONE = Decimal(_SCALE).scaleb(-WEIGHT_PLACES)  # 1.000000
_MODEL_NAMES = {
    "last_click": "last click",
    "first_click": "first click",
    "linear": "linear",
    "time_decay": "time decay",
    "position_based": "position-based",
    "data_driven": "data-driven",
}


def _aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Touch:
    """One click."""

    id: uuid.UUID
    at: datetime
    merchant_id: uuid.UUID
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    link_id: uuid.UUID
    device_id: str | None
    flagged: bool  # flagged as not a person (bot, preview, headless, HEAD): never gets credit
    repeat: bool = False  # flagged a repeat of its IP, user agent and link within the hour

    def __post_init__(self) -> None:
        _aware(self.at, "Touch.at")


@dataclass(frozen=True, slots=True)
class Coupon:
    """A discount code on the order that an influencer owns (resolved by the caller)."""

    code: str
    influencer_id: uuid.UUID
    program_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Order:
    """The conversion's facts."""

    at: datetime
    merchant_id: uuid.UUID
    program_id: uuid.UUID | None
    click_id: uuid.UUID | None  # the sub-id that came back with the order
    coupons: tuple[Coupon, ...] = ()
    device_id: str | None = None  # carried by a postback
    named_influencer_id: uuid.UUID | None = None  # the source itself named the influencer

    def __post_init__(self) -> None:
        _aware(self.at, "Order.at")


@dataclass(frozen=True, slots=True)
class Settings:
    """A program's attribution settings."""

    model: str = "last_click"
    window: timedelta = timedelta(days=30)  # cookie window
    half_life: timedelta = timedelta(days=7)
    coupon_first: bool = False  # True: an owned coupon beats a link click

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown attribution model {self.model!r}")
        if self.window < timedelta(0):
            raise ValueError("the attribution window cannot be negative")
        if self.half_life < timedelta(microseconds=1):
            raise ValueError("the time-decay half-life must be positive")


@dataclass(frozen=True, slots=True)
class Credit:
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    weight: Decimal
    match_type: str  # "sub_id" | "coupon" | "network" | "device" | "path"
    confidence: Decimal
    reason: str
    click: Touch | None = None
    coupon_code: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    model: str  # the model that produced the credits ("last_click" when data_driven fell back)
    credits: tuple[Credit, ...]  # empty = not attributed
    reason: str


@dataclass(frozen=True, slots=True)
class Learned:
    """What data_driven learned from a program's recent paths."""

    removal_effects: Mapping[uuid.UUID, Decimal]  # per influencer, in [0, 1]
    paths: int
    converting_paths: int

    @property
    def sufficient(self) -> bool:
        return self.converting_paths >= MIN_CONVERTING_PATHS and any(
            effect > 0 for effect in self.removal_effects.values())


# --- split -------------------------------------------------------------------------------------


def _split_units(raw: Sequence[Fraction]) -> list[int]:
    """Exact shares of raw (all >= 0, sum > 0) in units of 10**-WEIGHT_PLACES summing to 10**6."""
    total = sum(raw, Fraction(0))
    if not raw or total <= 0 or any(value < 0 for value in raw):
        raise ValueError("split() needs shares >= 0 with a positive sum")
    units: list[int] = []
    remainders: list[Fraction] = []
    for value in raw:
        exact = value * _SCALE / total
        whole = exact.numerator // exact.denominator
        units.append(whole)
        remainders.append(exact - whole)
    missing = _SCALE - sum(units)
    ranked = sorted(range(len(raw)), key=lambda i: (remainders[i], i), reverse=True)
    for i in ranked[:missing]:
        units[i] += 1
    return units


def _weight(units: int) -> Decimal:
    return Decimal(units).scaleb(-WEIGHT_PLACES)


def split(raw: Sequence[Decimal]) -> tuple[Decimal, ...]:
    """Shares proportional to raw (all >= 0, sum > 0) as multiples of 10**-WEIGHT_PLACES that
    sum to exactly 1; see the module docstring for the rounding rule."""
    exact: list[Fraction] = []
    for value in raw:
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError("split() needs finite shares")
        exact.append(Fraction(value))
    return tuple(_weight(units) for units in _split_units(exact))


# --- wording -----------------------------------------------------------------------------------


def _span(delta: timedelta) -> str:
    seconds = abs(delta) // timedelta(seconds=1)
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _window(window: timedelta) -> str:
    days = window // timedelta(days=1)
    if window == timedelta(days=days):
        return f"the {days}-day window"
    return f"the {_span(window)} window"


def _when(click: Touch, order: Order, settings: Settings) -> str:
    return f"{_span(order.at - click.at)} before the order, inside {_window(settings.window)}"


# --- converting touch --------------------------------------------------------------------------


def _click_key(click: Touch) -> tuple:
    return (click.at, click.id, click.merchant_id, click.influencer_id, click.program_id,
            click.link_id, click.device_id is not None, click.device_id or "", click.flagged,
            click.repeat, click.at.isoformat())


def _problem(click: Touch, order: Order, settings: Settings) -> str | None:
    """Why a click cannot get credit for this order, or None when it is eligible."""
    if click.merchant_id != order.merchant_id:
        return "belongs to another merchant"
    if click.flagged:
        return "is fraud-flagged"
    if click.at > order.at:
        return f"came {_span(click.at - order.at)} after the order"
    if click.at < order.at - settings.window:
        return (f"is {_span(order.at - click.at)} before the order, "
                f"outside {_window(settings.window)}")
    return None


def _sub_id_touch(order: Order, ordered: Sequence[Touch], settings: Settings,
                  notes: list[str]) -> Credit | None:
    if order.click_id is None:
        return None
    candidates = [click for click in ordered if click.id == order.click_id]
    if not candidates:
        notes.append("the click id matches no known click")
        return None
    eligible = [c for c in candidates if _problem(c, order, settings) is None]
    if not eligible:
        notes.append(f"the sub-id click {_problem(candidates[-1], order, settings)}")
        return None
    click = eligible[-1]
    return Credit(click.influencer_id, click.program_id, _ONE, "sub_id",
                  CONFIDENCE["sub_id"], f"Sub-id click {_when(click, order, settings)}",
                  click=click)


def _coupon_touch(order: Order) -> Credit | None:
    if not order.coupons:
        return None
    coupon = min(order.coupons, key=lambda c: (c.code.casefold(), c.code, c.influencer_id,
                                               c.program_id))
    return Credit(coupon.influencer_id, coupon.program_id, _ONE, "coupon",
                  CONFIDENCE["coupon"], f"Coupon {coupon.code} on the order belongs to the "
                  "influencer", coupon_code=coupon.code)


def _network_touch(order: Order, notes: list[str]) -> Credit | None:
    if order.named_influencer_id is None:
        return None
    if order.program_id is None:
        notes.append("the network named an influencer but no program")
        return None
    return Credit(order.named_influencer_id, order.program_id, _ONE, "network",
                  CONFIDENCE["network"], "The network named the influencer on the order")


def _device_touch(order: Order, eligible: Sequence[Touch], settings: Settings,
                  notes: list[str]) -> Credit | None:
    if order.device_id is None:
        return None
    on_device = [click for click in eligible if click.device_id == order.device_id]
    if not on_device:
        notes.append(_NO_DEVICE_CLICK)
        return None
    click = on_device[-1]
    return Credit(click.influencer_id, click.program_id, _ONE, "device",
                  CONFIDENCE["device"], "Latest click on the order's device, "
                  f"{_when(click, order, settings)}", click=click)


# --- models ------------------------------------------------------------------------------------


def _one_per_touch(path: Sequence[Touch], converting: Touch) -> list[Touch]:
    """The path (in order, ending at `converting`) with each run of repeats as one click."""
    runs: list[list[Touch]] = []
    latest: dict[uuid.UUID, tuple[Touch, int]] = {}  # link -> its latest click so far, its run
    for click in path:
        before = latest.get(click.link_id)
        if click.repeat and before is not None and click.at - before[0].at < REPEAT_WINDOW:
            run = before[1]
            runs[run].append(click)
        else:
            run = len(runs)
            runs.append([click])
        latest[click.link_id] = (click, run)
    kept = [converting if any(click is converting for click in run) else run[0]
            for run in runs]
    return sorted(kept, key=_click_key)


_LN2 = Decimal("0.693147180559945309417232121458")


def _decimal_context() -> Context:
    return Context(prec=15, rounding=ROUND_HALF_EVEN, Emin=-999999, Emax=999999, capitals=1,
                   clamp=0, flags=[], traps=[InvalidOperation, DivisionByZero, Overflow])


def _time_decay(path: Sequence[Touch], order: Order, settings: Settings) -> list[Fraction]:
    half_life = settings.half_life // timedelta(microseconds=1)
    raw: list[Decimal] = []
    with localcontext(_decimal_context()):
        rate = _LN2 / Decimal(half_life)
        for click in path:
            age = (order.at - click.at) // timedelta(microseconds=1)
            raw.append((Decimal(-age) * rate).exp())
    if not any(raw):
        return [Fraction(0)] * (len(path) - 1) + [Fraction(1)]
    return [Fraction(value) for value in raw]


def _position_based(n: int) -> list[Fraction]:
    if n <= 2:
        return [Fraction(1)] * n
    ends = Fraction(2 * (n - 2))
    return [ends] + [Fraction(1)] * (n - 2) + [ends]


def _data_driven(path: Sequence[Touch], learned: Learned) -> list[Fraction]:
    counts = Counter(click.influencer_id for click in path)
    effects = learned.removal_effects
    return [max(Fraction(0), Fraction(effects.get(click.influencer_id, Decimal(0))))
            / counts[click.influencer_id] for click in path]


def _fallback_reason(learned: Learned | None) -> str | None:
    """Why data_driven cannot run at all, or None when it can."""
    if learned is None:
        return "nothing has been learned for the program yet"
    if learned.converting_paths < MIN_CONVERTING_PATHS:
        return (f"only {learned.converting_paths} converting paths of {learned.paths} "
                f"(needs {MIN_CONVERTING_PATHS})")
    if not learned.sufficient:
        return (f"no influencer showed a removal effect in {learned.converting_paths} "
                f"converting paths of {learned.paths}")
    return None


def _with_notes(text: str, notes: Sequence[str]) -> str:
    return f"{text} ({'; '.join(notes)})" if notes else text


def attribute(order: Order, clicks: Iterable[Touch], settings: Settings,
              learned: Learned | None = None) -> Outcome:
    """Which influencers get credit for `order`, in what shares (see the module docstring)."""
    ordered = sorted(clicks, key=_click_key)
    eligible = [click for click in ordered if _problem(click, order, settings) is None]
    notes: list[str] = []
    sub_id = _sub_id_touch(order, ordered, settings, notes)
    coupon = _coupon_touch(order)
    network = _network_touch(order, notes)
    device = _device_touch(order, eligible, settings, notes)
    ranked = (coupon, sub_id) if settings.coupon_first else (sub_id, coupon)
    touch = next((t for t in (*ranked, network, device) if t is not None), None)
    if touch is None:
        why = "; ".join([*notes, "nothing else matched"]) if notes else (
            "no click id, coupon, network or device matched")
        return Outcome(settings.model, (), f"Not attributed: {why}.")
    notes = [note for note in notes if note != _NO_DEVICE_CLICK]

    model = settings.model
    name = _MODEL_NAMES[model]
    if model == "last_click":
        return Outcome(model, (touch,), _with_notes(f"Last click: {touch.reason}.", notes))
    if touch.click is None:
        return Outcome(model, (touch,), _with_notes(
            f"{touch.reason}; path models need a click, so it takes all the credit "
            f"under {name}.", notes))

    converting = touch.click
    if converting.device_id is None:
        path = [converting]
    else:
        last = _click_key(converting)
        path = _one_per_touch([click for click in eligible
                               if click.device_id == converting.device_id
                               and _click_key(click) <= last], converting)

    if model == "first_click":
        raw = [Fraction(1)] + [Fraction(0)] * (len(path) - 1)
    elif model == "linear":
        raw = [Fraction(1)] * len(path)
    elif model == "time_decay":
        raw = _time_decay(path, order, settings)
    elif model == "position_based":
        raw = _position_based(len(path))
    else:  # data_driven
        why = _fallback_reason(learned)
        if why is None and learned is not None:
            raw = _data_driven(path, learned)
            if not any(raw):
                why = "none of the path's influencers has a learned removal effect"
        if why is not None:
            return Outcome("last_click", (touch,), _with_notes(
                f"Data-driven attribution fell back to last click: {why}. {touch.reason}.",
                notes))

    credits: list[Credit] = []
    for click, units in zip(path, _split_units(raw), strict=True):
        if units == 0:
            continue
        if click is converting:
            credits.append(replace(touch, weight=_weight(units)))
        else:
            credits.append(Credit(click.influencer_id, click.program_id, _weight(units), "path",
                                  CONFIDENCE["path"], "Earlier click on the same device, "
                                  f"{_when(click, order, settings)}", click=click))
    clicks_word = "click" if len(path) == 1 else "clicks"
    return Outcome(model, tuple(credits), _with_notes(
        f"{name[0].upper()}{name[1:]} over {len(path)} {clicks_word} on the device, "
        f"{len(credits)} credited; converting touch: {touch.reason}.", notes))


# --- learn -------------------------------------------------------------------------------------


def _effect_decimal(x: float) -> Decimal:
    if not math.isfinite(x):
        x = 0.0
    x = min(1.0, max(0.0, x)) + 0.0  # + 0.0 turns -0.0 into 0.0
    with localcontext(_decimal_context()):
        return Decimal(repr(round(x, 9))).quantize(_UNIT, rounding=ROUND_HALF_EVEN)


def _fundamental(transient: np.ndarray) -> np.ndarray:
    """N = inv(I - Q); pinv when I - Q is singular or the inverse is not finite."""
    matrix = np.eye(transient.shape[0]) - transient
    try:
        inverse = np.linalg.inv(matrix)
        if np.all(np.isfinite(inverse)):
            return inverse
    except np.linalg.LinAlgError:
        pass
    return np.linalg.pinv(matrix)


def learn(paths: Iterable[tuple[Sequence[uuid.UUID], bool]]) -> Learned:
    """Removal effects per influencer from click paths (see the module docstring)."""
    collapsed: Counter[tuple[tuple[uuid.UUID, ...], bool]] = Counter()
    touches: Counter[uuid.UUID] = Counter()
    for influencers, converted in paths:
        visits: list[uuid.UUID] = []
        for influencer in influencers:
            touches[influencer] += 1
            if not visits or visits[-1] != influencer:
                visits.append(influencer)
        if visits:
            collapsed[(tuple(visits), bool(converted))] += 1
    n_paths = sum(collapsed.values())
    n_converting = sum(count for (_, converted), count in collapsed.items() if converted)
    if not touches:
        return Learned(MappingProxyType({}), n_paths, n_converting)

    kept = sorted(sorted(touches, key=lambda i: (-touches[i], i))[:MAX_INFLUENCER_STATES])
    index = {influencer: i for i, influencer in enumerate(kept)}
    other = len(kept)  # used only when some influencers were merged
    size = len(kept) + (1 if len(touches) > len(kept) else 0)

    start = np.zeros(size)
    moves = np.zeros((size, size))
    converts = np.zeros(size)
    nulls = np.zeros(size)
    for (visits, converted), count in sorted(collapsed.items()):
        states = [index.get(influencer, other) for influencer in visits]
        start[states[0]] += count
        for a, b in pairwise(states):
            moves[a, b] += count
        (converts if converted else nulls)[states[-1]] += count

    out = moves.sum(axis=1) + converts + nulls
    out[out == 0] = 1.0
    transient = moves / out[:, None]
    to_conversion = converts / out
    start_dist = start / start.sum()

    fundamental = _fundamental(transient)
    convert_from = fundamental @ to_conversion
    p = float(start_dist @ convert_from)
    effects: dict[uuid.UUID, Decimal] = {}
    if p > 0 and math.isfinite(p):
        diagonal = np.diagonal(fundamental)
        visits_from_start = start_dist @ fundamental
        with np.errstate(divide="ignore", invalid="ignore"):
            hit = np.where(diagonal != 0, visits_from_start / diagonal, 0.0)
        without = p - hit * convert_from
        removal = 1.0 - without / p
        for influencer, i in index.items():
            effects[influencer] = _effect_decimal(float(removal[i]))
    else:
        effects = dict.fromkeys(kept, _effect_decimal(0.0))
    return Learned(MappingProxyType(effects), n_paths, n_converting)
