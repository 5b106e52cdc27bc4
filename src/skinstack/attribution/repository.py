"""Every query attribution makes: candidates loaded for a whole batch of conversions at once
(one statement each, through indexes), and the results written the same way.

Clicks are partitioned by month: a click id is a UUIDv7, so its own timestamp bounds the
partition to search, and device paths are bounded by the cookie window.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.rows import args_row, namedtuple_row
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.attribution.models import Touch
from skinstack.fraud.clicks import CREDITABLE_FLAGS
from skinstack.kit import ids
from skinstack.kit.pagination import PageParams, newest_first, paginate
from skinstack.models import Coupon

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader

MAX_PATH = 100
"""Most recent clicks of one device loaded for a path; older ones get no credit."""


async def _fetch(session: AsyncSession, sql: str, parameters: dict[str, Any],
                 row_factory: Any = namedtuple_row) -> list[Any]:
    """Runs `sql` on the session's own connection and transaction, with binary results and
    the parameters written `%(name)b` (binary): a batch's arrays of thousands of ids cost
    about seven times more through SQLAlchemy's text parameters."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    async with driver.cursor(binary=True, row_factory=row_factory) as cursor:
        await cursor.execute(sql, parameters)
        return await cursor.fetchall() if cursor.description else []


_LOCKED_COLUMNS = ("id, merchant_id, program_id, occurred_at, click_id, device_id, discount_codes,"
                   " influencer_id, attributed_at, attribution_note")


async def lock_conversions(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Any]:
    """The conversions, locked in id order (two batches never deadlock) so the conversion job
    and a re-run never attribute one conversion at the same time."""
    return await _fetch(session, f"""
        SELECT {_LOCKED_COLUMNS} FROM conversions WHERE id = ANY(%(ids)b) ORDER BY id FOR UPDATE
    """, {"ids": list(ids)})  # noqa: S608 - made of this module's constants


async def programs_of(session: AsyncSession, merchant_ids: Sequence[uuid.UUID]) -> list[Any]:
    return await _fetch(session, """
        SELECT id, merchant_id, attribution_model, cookie_window_days,
               attribution_half_life_hours, coupon_beats_click
        FROM programs WHERE merchant_id = ANY(%(merchants)b)
    """, {"merchants": list(merchant_ids)})


_CREDITABLE = ("c.fraud_flags <@ '{" + ",".join(sorted(CREDITABLE_FLAGS))
               + "}'::varchar[]")
"""A stored click may get credit (fraud.clicks.creditable): its flags, not `counted`, say so;
a repeat or velocity click is kept out of counts but stays creditable."""
_CLICK_COLUMNS = ("c.id, c.clicked_at, c.merchant_id, c.influencer_id, c.program_id,"
                  f" c.link_id, c.device_id, NOT ({_CREDITABLE}),"
                  " 'duplicate' = ANY(c.fraud_flags)")
"""A click as `Touch` takes its fields, in order (flagged = not creditable, then repeat)."""
_TOUCHES = args_row(Touch)
_NUMBERED_TOUCHES = args_row(lambda n, *fields: (n, Touch(*fields)))


_CLICKS_BY_ID = f"""
    SELECT {_CLICK_COLUMNS}
    FROM unnest(%(ids)b::uuid[], %(made)b::timestamptz[]) AS k(id, made)
    CROSS JOIN LATERAL (
        SELECT * FROM clicks c
        WHERE c.id = k.id AND c.clicked_at BETWEEN k.made - %(slack)b::interval
                                               AND k.made + %(slack)b::interval
        LIMIT 1
    ) AS c
"""  # noqa: S608 - every name is a constant of this module


async def clicks_by_id(session: AsyncSession, click_ids: Sequence[tuple[uuid.UUID, datetime]]
                       ) -> dict[uuid.UUID, Touch]:
    """The clicks named by sub-ids, each given with the time inside its id. (A lateral probe
    per id: as a plain join the planner, not knowing the array's length, may hash the whole
    clicks table.)"""
    if not click_ids:
        return {}
    touches = await _fetch(session, _CLICKS_BY_ID, {
        "ids": [click_id for click_id, _ in click_ids],
        "made": [made for _, made in click_ids], "slack": ids.CLOCK_SLACK}, _TOUCHES)
    return {touch.id: touch for touch in touches}


_DEVICE_CLICKS = f"""
    SELECT k.n, {_CLICK_COLUMNS}
    FROM unnest(%(n)b::int[], %(device)b::varchar[], %(merchant)b::uuid[],
                %(since)b::timestamptz[], %(until)b::timestamptz[])
         AS k(n, device, merchant, since, until)
    CROSS JOIN LATERAL (
        SELECT * FROM clicks c
        WHERE c.device_id = k.device AND c.clicked_at BETWEEN k.since AND k.until
          AND c.merchant_id = k.merchant AND {_CREDITABLE}
        ORDER BY c.clicked_at DESC, c.id DESC LIMIT {MAX_PATH}
    ) AS c
"""  # noqa: S608 - every name is a constant of this module


async def device_clicks(session: AsyncSession,
                        wanted: Sequence[tuple[str, uuid.UUID, datetime, datetime]]
                        ) -> list[list[Touch]]:
    """For each (device id, merchant, since, until): that device's creditable clicks on the
    merchant's links in the period, newest MAX_PATH of them. Repeats are among them: the
    models make a repeat of the device's own click on the link one touch with it."""
    found: list[list[Touch]] = [[] for _ in wanted]
    if not wanted:
        return found
    rows = await _fetch(session, _DEVICE_CLICKS, {
        "n": list(range(len(wanted))), "device": [w[0] for w in wanted],
        "merchant": [w[1] for w in wanted], "since": [w[2] for w in wanted],
        "until": [w[3] for w in wanted]}, _NUMBERED_TOUCHES)
    for n, touch in rows:
        found[n].append(touch)
    return found


async def coupons_on(session: AsyncSession, wanted: Sequence[tuple[uuid.UUID, str]]
                     ) -> list[list[Any]]:
    """For each (merchant, code on an order): the active coupon it names, if any."""
    found: list[list[Any]] = [[] for _ in wanted]
    if not wanted:
        return found
    rows = await _fetch(session, """
        SELECT k.n, cp.code, cp.influencer_id, cp.program_id
        FROM unnest(%(n)b::int[], %(merchant)b::uuid[], %(code)b::varchar[])
             AS k(n, merchant, code)
        JOIN coupons cp ON cp.merchant_id = k.merchant AND lower(cp.code) = lower(k.code)
                       AND cp.is_active
    """, {"n": list(range(len(wanted))), "merchant": [w[0] for w in wanted],
          "code": [w[1] for w in wanted]})
    for row in rows:
        found[row.n].append(row)
    return found


async def current_credits(session: AsyncSession, conversion_ids: Sequence[uuid.UUID]
                          ) -> list[Any]:
    """The conversions' current credits: the conversion id, then what makes two credits the
    same, in the order of service._COMPARED."""
    if not conversion_ids:
        return []
    return await _fetch(session, """
        SELECT conversion_id, influencer_id, program_id, click_id, coupon_code, weight, model,
               match_type, confidence
        FROM attributions
        WHERE conversion_id = ANY(%(ids)b) AND superseded_at IS NULL
    """, {"ids": list(conversion_ids)})


INSERT_COLUMNS = ("conversion_id", "influencer_id", "program_id", "click_id", "clicked_at",
                  "link_id", "coupon_code", "weight", "model", "match_type", "confidence",
                  "reason")
_INSERT = """
    INSERT INTO attributions (conversion_id, influencer_id, program_id, click_id, clicked_at,
                              link_id, coupon_code, weight, model, match_type, confidence,
                              reason)
    SELECT * FROM unnest(%(conversion_id)b::uuid[], %(influencer_id)b::uuid[],
                         %(program_id)b::uuid[], %(click_id)b::uuid[],
                         %(clicked_at)b::timestamptz[], %(link_id)b::uuid[],
                         %(coupon_code)b::varchar[], %(weight)b::numeric[],
                         %(model)b::varchar[], %(match_type)b::varchar[],
                         %(confidence)b::numeric[], %(reason)b::text[])
"""


async def replace_credits(session: AsyncSession, *, superseded: Sequence[uuid.UUID],
                          rows: Sequence[tuple[Any, ...]]) -> None:
    """Marks the current credits of `superseded` conversions replaced, then writes `rows`
    (tuples in INSERT_COLUMNS order)."""
    if superseded:
        await _fetch(session, """
            UPDATE attributions SET superseded_at = clock_timestamp()
            WHERE conversion_id = ANY(%(ids)b) AND superseded_at IS NULL
        """, {"ids": list(superseded)})
    if rows:
        await _fetch(session, _INSERT, dict(zip(INSERT_COLUMNS,
                                                map(list, zip(*rows, strict=True)),
                                                strict=True)))


async def mark_attributed(session: AsyncSession, notes: dict[uuid.UUID, str]) -> None:
    if notes:
        await _fetch(session, """
            UPDATE conversions c SET attributed_at = clock_timestamp(), attribution_note = k.note
            FROM unnest(%(ids)b::uuid[], %(notes)b::text[]) AS k(id, note)
            WHERE c.id = k.id
        """, {"ids": list(notes), "notes": list(notes.values())})


async def recent_paths(session: AsyncSession, *, program_id: uuid.UUID,
                       merchant_id: uuid.UUID, since: datetime
                       ) -> list[tuple[list[uuid.UUID], bool]]:
    """Each device's creditable clicks on the program's links since `since`, as the
    influencers it went through in time order, and whether the device bought from the
    merchant in that time (through a sub-id click of its own, or a postback naming it)."""
    rows = await _fetch(session, f"""
        WITH paths AS (
            SELECT device_id, array_agg(influencer_id ORDER BY clicked_at, id) AS path
            FROM clicks c
            WHERE program_id = %(program)b AND {_CREDITABLE} AND device_id IS NOT NULL
              AND clicked_at >= %(since)b
            GROUP BY device_id
        ), converted AS (
            SELECT cl.device_id FROM conversions cv
            JOIN clicks cl ON cl.id = cv.click_id AND cl.clicked_at >= %(since)b
            WHERE cv.merchant_id = %(merchant)b AND cv.occurred_at >= %(since)b
              AND cl.device_id IS NOT NULL
            UNION
            SELECT device_id FROM conversions
            WHERE merchant_id = %(merchant)b AND occurred_at >= %(since)b
              AND device_id IS NOT NULL
        )
        SELECT p.path, cv.device_id IS NOT NULL AS converted
        FROM paths p LEFT JOIN converted cv USING (device_id)
    """, {"program": program_id, "merchant": merchant_id, "since": since})  # noqa: S608
    return [(row.path, row.converted) for row in rows]


async def waiting_conversions(session: AsyncSession, *, before: datetime, limit: int
                              ) -> list[uuid.UUID]:
    rows = await _fetch(session, """
        SELECT id FROM conversions
        WHERE attributed_at IS NULL AND created_at < %(before)b
        ORDER BY created_at LIMIT %(limit)b
    """, {"before": before, "limit": limit})
    return [row.id for row in rows]


_RANGE_CONDITIONS = {"program": "program_id = %(program)b",
                     "merchant": "merchant_id = %(merchant)b",
                     "since": "occurred_at >= %(since)b", "until": "occurred_at < %(until)b",
                     "after": "(occurred_at, id) > (%(after_at)b, %(after_id)b)"}


@dataclass(frozen=True)
class Range:
    """Conversions to attribute again: of a program, of a merchant, in a period."""
    program_id: uuid.UUID | None = None
    merchant_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, after: tuple[datetime, uuid.UUID] | None = None
              ) -> tuple[str, dict[str, Any]]:
        """The WHERE clause (made only of the constants above) and its parameters."""
        given = {"program": self.program_id, "merchant": self.merchant_id,
                 "since": self.since, "until": self.until, "after": after}
        present = [name for name, value in given.items() if value is not None]
        parameters = {name: given[name] for name in present if name != "after"}
        if after is not None:
            parameters |= {"after_at": after[0], "after_id": after[1]}
        return " AND ".join([_RANGE_CONDITIONS[name] for name in present] or ["true"]), parameters


async def count_in_range(session: AsyncSession, scope: Range) -> int:
    where, parameters = scope.where()
    sql = f"SELECT count(*) AS n FROM conversions WHERE {where}"  # noqa: S608 - constants only
    rows = await _fetch(session, sql, parameters)
    return rows[0].n


async def lock_range(session: AsyncSession, scope: Range, *,
                     after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Any]:
    """The next `limit` conversions of the range by (occurred_at, id) after `after`, locked
    like `lock_conversions` (in id order), in one statement."""
    where, parameters = scope.where(after)
    return await _fetch(session, f"""
        SELECT {_LOCKED_COLUMNS} FROM conversions
        WHERE id IN (SELECT id FROM conversions WHERE {where}
                     ORDER BY occurred_at, id LIMIT %(limit)b)
        ORDER BY id FOR UPDATE
    """, parameters | {"limit": limit})  # noqa: S608 - made of this module's constants


# Coupons, for the API ------------------------------------------------------------------------

def readable(statement: Select[Any], reader: Reader) -> Select[Any]:
    """Admins read every coupon, a merchant the codes it gave out, an influencer the codes it
    was given; a reader without a profile none."""
    return reader.owned(statement, merchant_id=Coupon.merchant_id,
                        influencer_id=Coupon.influencer_id)


async def get_coupon(*, session: AsyncSession, coupon_id: uuid.UUID,
                     reader: Reader) -> Coupon | None:
    return await session.scalar(readable(select(Coupon).where(Coupon.id == coupon_id), reader))


async def list_coupons(*, session: AsyncSession, reader: Reader, page: PageParams,
                       influencer_id: uuid.UUID | None = None) -> Sequence[Coupon]:
    """Newest first; `influencer_id` narrows a merchant's list to one influencer's codes."""
    statement = readable(select(Coupon), reader)
    if influencer_id is not None:
        statement = statement.where(Coupon.influencer_id == influencer_id)
    return (await session.scalars(paginate(statement, page, newest_first(Coupon)))).all()
