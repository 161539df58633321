"""Pausing a lane: the database holds the pause, Redis caches it for the admit script and the consumers.

A pause that lived only in Redis was silently lifted by a Redis restart. Now every pause and
resume is written to ``lane_pauses`` first, with a version that grows by one each time, and then
to Redis's flag (``shop:lane:<lane>:paused``) by a script that refuses a version older than the
one Redis already has, so a slow writer can never undo a newer change. Redis remembers, per lane,
which version its flag reflects; a lane missing there is a cache miss (after a restart), and the
consumer (before taking the lane) and the admission path (when it reloads a product) read the
pause back from the database.
"""

from __future__ import annotations

import logging

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from shop.lanes.control import announce
from shop.lanes.keys import PAUSE_VERSIONS, lane_key
from shop.services import Services
from shop.storage.models import LanePause, utcnow

log = logging.getLogger(__name__)


def _cache(services: Services, lane: str, version: int, flag: str) -> None:
    """Write the pause's version and flag to Redis (scripts/set_pause.lua refuses an older version)."""
    services.lanes.scripts.set_pause(
        keys=[lane_key(lane, "paused"), PAUSE_VERSIONS], args=[lane, version, flag]
    )


def _record(services: Services, lane: str, paused: bool) -> int:
    """Write the pause to the database and return its new version (one transaction)."""
    for _attempt in range(2):
        with services.db.writing() as session:
            version = session.scalar(
                update(LanePause)
                .where(LanePause.lane == lane)
                .values(paused=paused, version=LanePause.version + 1, changed_at=utcnow())
                .returning(LanePause.version)
            )
            if version is None:
                try:
                    session.execute(
                        insert(LanePause).values(lane=lane, paused=paused, version=1, changed_at=utcnow())
                    )
                except IntegrityError:  # another operator's first pause of this lane won: update it
                    session.rollback()
                    continue
                version = 1
            session.commit()
            return int(version)
    raise RuntimeError(f"could not record the pause of {lane}")


def pause_lane(services: Services, lane: str) -> None:
    """Keep accepting the lane's requests into line but apply none until resumed."""
    _cache(services, lane, _record(services, lane, True), "1")


def resume_lane(services: Services, lane: str) -> None:
    """Let the lane be applied again, and announce it so a consumer picks it up at once."""
    _cache(services, lane, _record(services, lane, False), "0")
    pipe = services.redis.pipeline(transaction=True)
    announce(pipe, lane)
    pipe.execute()


def warm_lane(services: Services, lane: str) -> bool:
    """Make sure Redis's pause flag reflects the database; False if the database could not say.

    One HEXISTS when the cache is warm. On a miss the database's pause is written with its
    version; a lane the database does not record as paused leaves the flag as it is.
    """
    if services.redis.hexists(PAUSE_VERSIONS, lane):
        return True
    try:
        with services.db.reading() as session:
            row = session.execute(
                select(LanePause.paused, LanePause.version).where(LanePause.lane == lane)
            ).first()
    except SQLAlchemyError as exc:
        log.warning("pause state of %s unknown, database unavailable: %s", lane, exc)
        return False
    paused, version = (bool(row.paused), int(row.version)) if row else (False, 0)
    _cache(services, lane, version, "1" if paused else "")
    return True
