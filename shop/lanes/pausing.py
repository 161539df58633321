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

from shop.lanes.queueing import READY_LIST, READY_SET, lane_key
from shop.services import Services
from shop.storage.models import LanePause, utcnow

log = logging.getLogger(__name__)

# lane -> the version of the pause that Redis's flag reflects; a missing lane is a cache miss.
PAUSE_VERSIONS = "shop:lane:pause-versions"

# KEYS: the lane's flag, PAUSE_VERSIONS. ARGV: lane, version, '1' pause / '0' resume / '' leave.
SET_PAUSE = """
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('SET', KEYS[1], 1) elseif ARGV[3] == '0' then redis.call('DEL', KEYS[1]) end
return 1
"""


def _cache(services: Services, lane: str, version: int, flag: str) -> None:
    script = services.redis.register_script(SET_PAUSE)
    script(keys=[lane_key(lane, "paused"), PAUSE_VERSIONS], args=[lane, version, flag])


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
    pipe.sadd(READY_SET, lane)
    pipe.rpush(READY_LIST, lane)
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
