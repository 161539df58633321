"""Throwaway PostgreSQL databases of our own on a given server (tests and benchmarks)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def own_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create a database named ``<prefix>_<random>`` on the server, yield its URL, drop it afterwards.

    The database named in ``server_url`` is only used to connect; nothing is written into it.
    """
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
