"""Queued requests, their idempotency record and the fencing check every apply makes.

Every queued request carries a unique id; its outcome is written in the same transaction that
applies it. Re-applying (a retry after a crash) returns the recorded outcome instead of acting twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shop.errors import StaleFence
from shop.models import AppliedRequest, Base, SkuFence, utcnow

Outcome = dict[str, Any]


@dataclass(frozen=True)
class QueuedRequest:
    """One request taken from a lane, in line order."""

    request_id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    ticket: int | None = None


def insert_ignoring_conflicts(session: Session, model: type[Base], rows: Sequence[dict]) -> None:
    """Insert rows, skipping any whose primary key exists already (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(model).values(list(rows)).on_conflict_do_nothing())


def claim_fence(session: Session, lane: str, token: int) -> None:
    """Raise the lane's fence to ``token``, or refuse if a newer lease holder has applied since."""
    insert_ignoring_conflicts(session, SkuFence, [{"lane": lane, "token": 0}])
    result = session.execute(
        update(SkuFence)
        .where(SkuFence.lane == lane, SkuFence.token <= token)
        .values(token=token)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StaleFence(lane, token)


def current_fence(session: Session, lane: str) -> int:
    """Return the highest token that has applied to a lane (0 if none)."""
    token = session.scalar(select(SkuFence.token).where(SkuFence.lane == lane))
    return int(token or 0)


def recorded_outcomes(session: Session, request_ids: Iterable[str]) -> dict[str, Outcome]:
    """Return the outcomes already recorded for any of these requests."""
    ids = list(request_ids)
    found: dict[str, Outcome] = {}
    # Chunk to stay under SQLite's bound-parameter limit.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(AppliedRequest.request_id, AppliedRequest.outcome).where(
                AppliedRequest.request_id.in_(chunk)
            )
        )
        found.update({rid: json.loads(outcome) for rid, outcome in rows})
    return found


def record_outcomes(
    session: Session,
    lane: str,
    applied: Sequence[tuple[QueuedRequest, Outcome]],
    now: datetime | None = None,
) -> None:
    """Write the ledger rows for newly applied requests (same transaction as the apply)."""
    when = now or utcnow()
    if not applied:
        return
    session.execute(
        AppliedRequest.__table__.insert(),
        [
            {
                "request_id": request.request_id,
                "lane": lane,
                "ticket": request.ticket,
                "kind": request.kind,
                "outcome": json.dumps(outcome, sort_keys=True),
                "applied_at": when,
            }
            for request, outcome in applied
        ],
    )
