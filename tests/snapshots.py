"""What "nothing changed" means for a refused request: every database row and every Redis value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shop.services import Services
from shop.storage.models import Base


def state(services: Services) -> dict[str, Any]:
    """Return every row of every table and every Redis key with its serialized value."""
    rows: dict[str, Any] = {}
    with services.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows[table.name] = sorted(map(repr, conn.execute(select(table)).all()))
    redis = services.redis
    values = {key: redis.dump(key) for key in sorted(redis.scan_iter(count=1000))}
    return {"db": rows, "redis": values}
