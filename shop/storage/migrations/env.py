"""Alembic environment: the database URL comes from the caller or from config.py."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from config import config_from_env
from shop.storage.db import make_engine
from shop.storage.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    url = context.config.attributes.get("database_url") or config_from_env().DATABASE_URL
    connectable = context.config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # SQLite alters tables by copying them; with foreign keys enforced, dropping a table
            # that others reference fails. Switch enforcement off for the migration (outside any
            # transaction, where the pragma takes effect) and check the keys afterwards.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
            if engine.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
    engine.dispose()


run_migrations()
