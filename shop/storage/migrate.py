"""Run the Alembic migrations programmatically (the schema is never made with create_all outside tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from config import BASE_DIR


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(BASE_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(BASE_DIR / "shop" / "storage" / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database's schema up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)
