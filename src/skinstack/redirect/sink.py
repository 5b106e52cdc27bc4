"""The click sink: clicks are buffered in memory and written with COPY in batches.

A batch goes out every FLUSH_SECONDS or as soon as MAX_BATCH clicks wait; nothing on the
request path waits for the database. If PostgreSQL cannot take a batch, it is appended to a
local spool file (JSON lines, fsynced) and replayed once the database answers again; replay
merges with ON CONFLICT DO NOTHING, so a batch that did land before the error is not doubled.

A graceful shutdown stops the loop without cancelling it: `close()` asks it to stop, lets it
finish the batch it is writing, then flushes what is buffered (to the database, else to the
spool). A batch is never only in memory across an await it can be cancelled at: a flush that
is cancelled after its batch has left the buffer spools the batch before the cancellation goes
on (the replay does not double whatever part of it the COPY had written), and a shutdown that
is itself cancelled spools what is still buffered.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

import psycopg
import structlog
from prometheus_client import Counter

from skinstack.db import libpq_url

log = structlog.get_logger(__name__)

COLUMNS = ("id", "clicked_at", "link_id", "influencer_id", "program_id", "merchant_id",
           "campaign_id", "device_id", "ip_hash", "user_agent", "platform", "os", "browser",
           "referrer", "country", "gclid", "fbclid", "ttclid", "utm", "fraud_score",
           "fraud_flags", "counted")
# What the redirect hands over: the columns up to country, then the passed-on parameters
# (ad-click ids and UTMs together), then the fraud columns; the sink splits them at write time:
# (click id as the UUID's 16 bytes, Unix microseconds, the link (a LinkTarget: link_id,
#  influencer_id, program_id, merchant_id, campaign_id, and copy_ids, those five as COPY
#  text), device_id, ip_hash, user_agent, platform, os, browser, referrer, country,
#  passed-on [(key, value)], fraud_score, fraud_flags, counted)
Click = tuple
_COPY = f"COPY clicks ({', '.join(COLUMNS)}) FROM STDIN"
_UUIDS = {"id", "link_id", "influencer_id", "program_id", "merchant_id", "campaign_id"}
FLUSH_SECONDS = 0.1
MAX_BATCH = 1000
REPLAY_RETRY_SECONDS = 5.0
COPY_CHUNK = 250
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

CLICKS_WRITTEN = Counter("skinstack_clicks_written_total", "Clicks written to PostgreSQL")
CLICKS_SPOOLED = Counter("skinstack_clicks_spooled_total", "Clicks spooled to disk")


class ClickSink:
    def __init__(self, database_url: str, spool_dir: Path) -> None:
        self.conninfo = libpq_url(database_url)
        self.spool_dir = spool_dir
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool_path = spool_dir / "clicks.jsonl"
        self._buffer: list[Click | dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._conn: psycopg.AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()
        self._next_replay = 0.0

    def add(self, click: Click | dict[str, Any]) -> None:
        """Queues one click (never blocks): a redirect's tuple, or a dict of COLUMNS."""
        self._buffer.append(click)
        if len(self._buffer) >= MAX_BATCH:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stops the loop once the batch it is writing is written (never cancelling it), then
        writes everything still buffered. If the shutdown itself is cancelled, what is still
        buffered goes to the spool."""
        try:
            if self._task is not None:
                self._stopping = True
                self._wake.set()
                await self._task
            await self.flush()
        finally:
            if self._buffer:
                batch, self._buffer = self._buffer, []
                self._spool(batch)
            await self._drop_connection()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=FLUSH_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()
            if self._stopping:
                break
            loop_time = asyncio.get_running_loop().time()
            if not self._buffer and loop_time >= self._next_replay and (
                    self.spool_path.exists() or self.spool_path.with_suffix(".replaying").exists()):
                if not await self.replay():
                    self._next_replay = loop_time + REPLAY_RETRY_SECONDS

    async def flush(self) -> None:
        """Writes the buffered clicks now: COPY, or the spool file if that fails."""
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                await self._copy(batch)
            except (psycopg.Error, OSError) as exc:
                log.warning("click_batch_spooled", clicks=len(batch),
                            error_type=type(exc).__name__)
                await self._drop_connection()
                self._spool(batch)
                return
            except BaseException:
                # Cancelled (or failed otherwise) after the batch left the buffer: it would
                # be gone, its redirects answered, its orders never attributed. To the spool
                # first (no await), then the connection, which may be inside the COPY.
                self._spool(batch)
                await self._drop_connection()
                raise
            CLICKS_WRITTEN.inc(len(batch))

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                               connect_timeout=2)
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    async def _copy(self, batch: Sequence[Click | dict[str, Any]]) -> None:
        # Formatted as COPY text here (cheap string work, yielding to the event loop between
        # chunks so redirects keep flowing), then sent in one piece.
        chunks = []
        for start in range(0, len(batch), COPY_CHUNK):
            chunks.append("".join(map(copy_line, batch[start:start + COPY_CHUNK])))
            await asyncio.sleep(0)
        conn = await self._connection()
        async with conn.cursor() as cursor, cursor.copy(_COPY) as copy:
            await copy.write("".join(chunks).encode())

    def _spool(self, batch: Sequence[Click | dict[str, Any]]) -> None:
        with self.spool_path.open("a", encoding="utf-8") as handle:
            for click in map(_as_dict, batch):
                handle.write(json.dumps(click, default=str, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        CLICKS_SPOOLED.inc(len(batch))

    async def replay(self) -> int:
        """Moves the spooled clicks into the database; returns how many were replayed."""
        async with self._lock:
            replaying = self.spool_path.with_suffix(".replaying")
            if not replaying.exists():
                if not self.spool_path.exists():
                    return 0
                self.spool_path.rename(replaying)
            try:
                conn = await self._connection()
                count = 0
                async with conn.transaction():
                    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS click_replay "
                                       "(LIKE clicks INCLUDING DEFAULTS) ON COMMIT DROP")
                    async with conn.cursor() as cursor, cursor.copy(
                            f"COPY click_replay ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                        with replaying.open(encoding="utf-8") as handle:
                            for line in handle:
                                if line.strip():
                                    await copy.write(copy_line(_revive(json.loads(line))))
                                    count += 1
                    await conn.execute(
                        f"INSERT INTO clicks ({', '.join(COLUMNS)}) SELECT "  # noqa: S608
                        f"{', '.join(COLUMNS)} FROM click_replay ON CONFLICT DO NOTHING")
            except (psycopg.Error, OSError) as exc:
                log.warning("click_replay_failed", error_type=type(exc).__name__)
                await self._drop_connection()
                return 0
            replaying.unlink()
            log.info("clicks_replayed", clicks=count)
            return count


def _as_dict(click: Click | dict[str, Any]) -> dict[str, Any]:
    """A redirect's click tuple as a row of COLUMNS (done here, off the request path)."""
    if isinstance(click, dict):
        return click
    (click_id, at_us, link, device_id, ip_hash, user_agent, platform, os_family, browser,
     referrer, country, extra, fraud_score, fraud_flags, counted) = click
    ids = dict(extra)
    return {
        "id": uuid.UUID(bytes=click_id), "clicked_at": _EPOCH + timedelta(microseconds=at_us),
        "link_id": link.link_id, "influencer_id": link.influencer_id,
        "program_id": link.program_id, "merchant_id": link.merchant_id,
        "campaign_id": link.campaign_id, "device_id": device_id, "ip_hash": ip_hash,
        "user_agent": user_agent, "platform": platform, "os": os_family, "browser": browser,
        "referrer": referrer, "country": country, "gclid": ids.get("gclid"),
        "fbclid": ids.get("fbclid"), "ttclid": ids.get("ttclid"),
        "utm": {key: value for key, value in extra if key.startswith("utm_")},
        "fraud_score": fraud_score, "fraud_flags": fraud_flags, "counted": counted,
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NULL = "\\N"
_NO_PASSED_ON = "\\N\t\\N\t\\N\t{}"  # gclid, fbclid, ttclid, utm
_UTM_JSON = json.JSONEncoder(separators=(",", ":"))
_json_text = encode_basestring_ascii
_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _text(value: str | None) -> str:
    """Free text as a COPY text field: \\N for null; backslash, tab, CR and LF escaped."""
    if value is None:
        return _NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _timestamp(at_us: int) -> str:
    """Unix microseconds as a timestamptz literal (the whole second is formatted once)."""
    global _second
    seconds, micros = divmod(at_us, 1_000_000)
    last = _second
    if last[0] != seconds:
        last = _second = (seconds, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)))
    return f"{last[1]}.{micros:06d}+00"


def _passed_on(extra: list[tuple[str, str]]) -> str:
    """The gclid, fbclid, ttclid and utm fields of a click's passed-on parameters."""
    ids = dict(extra)
    utm = {key: value for key, value in extra if key.startswith("utm_")}
    # The JSON object as json.dumps(utm, separators=(",", ":")) writes it (str keys and values).
    utm_json = "{" + ",".join([f"{_json_text(key)}:{_json_text(value)}"
                               for key, value in utm.items()]) + "}"
    return "\t".join((_text(ids.get("gclid")), _text(ids.get("fbclid")),
                      _text(ids.get("ttclid")), _text(utm_json)))


def copy_line(click: Click | dict[str, Any]) -> str:
    """One click as a line of COPY's text format (tab-separated, \\N for null)."""
    if isinstance(click, dict):
        return _row_line(click)
    (click_id, at_us, link, device_id, ip_hash, user_agent, platform, os_family, browser,
     referrer, country, extra, fraud_score, fraud_flags, counted) = click
    # The link's five ids come formatted once per link (link.copy_ids). Ids, hashes, the
    # device id ([A-Za-z0-9_-]), country, flags and the user-agent parser's output (cleaned
    # when parsed) cannot hold a tab, newline or backslash; free text from the request (user
    # agent, referrer, passed-on values) is escaped. uuid accepts 32 bare hex digits.
    return "\t".join((
        click_id.hex(), _timestamp(at_us), link.copy_ids, device_id or _NULL,
        ip_hash or _NULL, _text(user_agent), platform or _NULL, os_family or _NULL,
        browser or _NULL, _text(referrer), country or _NULL,
        _passed_on(extra) if extra else _NO_PASSED_ON, str(fraud_score),
        "{" + ",".join(fraud_flags) + "}" if fraud_flags else "{}", "t" if counted else "f",
    )) + "\n"


def _row_line(row: dict[str, Any]) -> str:
    """A dict of COLUMNS (a spooled click, or one from elsewhere than the redirect) as a line;
    every text field is escaped."""
    utm = row["utm"]
    return "\t".join((
        str(row["id"]), row["clicked_at"].isoformat(), str(row["link_id"]),
        str(row["influencer_id"]), str(row["program_id"]), str(row["merchant_id"]),
        str(row["campaign_id"]) if row["campaign_id"] else _NULL,
        _text(row["device_id"] or None), _text(row["ip_hash"] or None), _text(row["user_agent"]),
        _text(row["platform"] or None), _text(row["os"] or None), _text(row["browser"] or None),
        _text(row["referrer"]), _text(row["country"] or None), _text(row["gclid"]),
        _text(row["fbclid"]), _text(row["ttclid"]),
        _text(_UTM_JSON.encode(utm)) if utm else "{}", str(row["fraud_score"]),
        "{" + ",".join(row["fraud_flags"]) + "}" if row["fraud_flags"] else "{}",
        "t" if row["counted"] else "f",
    )) + "\n"


def _revive(click: dict[str, Any]) -> dict[str, Any]:
    """A spooled click back in Python types."""
    for column in _UUIDS:
        if click.get(column):
            click[column] = uuid.UUID(click[column])
    click["clicked_at"] = datetime.fromisoformat(click["clicked_at"])
    return click
