"""Alembic migrations, shipped inside the package so `skinstack db upgrade` works anywhere."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent

# Tables that other libraries own and migrate themselves (the job queue).
FOREIGN_TABLE_PREFIXES = ("procrastinate_",)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Leaves the job queue's own tables out of autogenerate comparisons."""
    return not (type_ == "table" and name and name.startswith(FOREIGN_TABLE_PREFIXES))


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
