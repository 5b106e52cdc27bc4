"""Alembic migrations, shipped inside the package so `skinstack db upgrade` works anywhere."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent

# Tables that other libraries own and migrate themselves (the job queue), and the monthly
# partitions of clicks, which the worker makes at run time.
FOREIGN_TABLE_PREFIXES = ("procrastinate_",)
PARTITION = re.compile(r"^clicks_(\d{4}_\d{2}|default)$")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Leaves the job queue's tables and the click partitions out of autogenerate."""
    if type_ == "table" and name:
        return not (name.startswith(FOREIGN_TABLE_PREFIXES) or PARTITION.match(name))
    table = getattr(obj, "table", None)
    return not (type_ == "index" and table is not None and PARTITION.match(table.name))


def alembic_config(database_url: str) -> Config:
    """An Alembic config for `database_url` (a postgresql:// URL), no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
