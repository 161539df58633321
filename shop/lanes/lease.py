"""The consumer's side: find a ready lane, lease it with a fencing token, take its batches, let it go.

One consumer at a time per lane: the lease (``shop:lane:<lane>:lease``) is taken with SET NX PX and
renewed while the consumer works; each acquisition also issues a fencing token, which the database
checks on every apply, so a consumer that stalled past its lease cannot commit. A batch moves from
the lane's RQ queue to its in-flight list (the reliable-queue pattern): a consumer that dies leaves
it there, and the next lease holder applies it again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from shop.domain.requests import QueuedRequest
from shop.lanes import keys
from shop.lanes.job_hashes import decode_request, parse_rq_time, rq_now
from shop.lanes.keys import lane_key, lane_key_tail
from shop.lanes.side import LaneSide

# What take.lua returns per job besides its id: data, ticket, enqueued_at, ahead, demand, shopper, note.
TAKEN_FIELDS = 7
# The lane keys rescue.lua checks for every lane, in the order of its ARGV (after the two prefixes).
RESCUE_TAILS = tuple(lane_key_tail(part) for part in ("inflight", "lease", "paused"))


class TakeRefused(enum.Enum):
    """Why ``Lease.take`` gave out nothing although the lane may have work."""

    PAUSED = "paused"


LANE_PAUSED = TakeRefused.PAUSED


@dataclass(frozen=True)
class TakenRequest:
    """One job of a taken batch, with what the admit script counted for it."""

    job_id: str
    request: QueuedRequest | None
    enqueued_at: datetime | None = None
    # The lane's cumulative requested quantity up to and including this request.
    requested_through: int | None = None
    # The shopper key and quantity the admit script counted against the per-customer limit.
    shopper: str = ""
    demand: int = 0


class Lease(LaneSide):
    """The lanes as a consumer uses them, from a ready lane to its release."""

    def next_ready(self, timeout: float) -> str | None:
        """Block until some lane has work (or the timeout passes) and return its name."""
        item = self.redis.blpop([keys.READY_LIST], timeout=timeout)
        return item[1].decode() if item else None

    def acquire(self, lane: str, owner: str, lease_ms: int, floor: int = 0) -> int:
        """Take the lane's lease and a fencing token above ``floor``; 0 if another consumer has it."""
        if self.redis.exists(lane_key(lane, "paused")):
            return 0
        return int(
            self.scripts.acquire(
                keys=[lane_key(lane, "lease"), lane_key(lane, "fence")], args=[owner, lease_ms, floor]
            )
        )

    def take(
        self, lane: str, owner: str, limit: int, lease_ms: int
    ) -> list[TakenRequest] | TakeRefused | None:
        """Move the next batch into the in-flight list; None if the lease was lost, LANE_PAUSED if paused."""
        raw = self.scripts.take(
            keys=[
                keys.queue_key(lane),
                lane_key(lane, "inflight"),
                lane_key(lane, "lease"),
                lane_key(lane, "paused"),
                keys.LINES_ZSET,
                keys.LINES_TOTAL,
            ],
            args=[owner, limit, lease_ms, rq_now(), keys.JOB_KEY_PREFIX, lane],
        )
        if raw is None:
            return None
        if raw == -1:
            return LANE_PAUSED
        taken = []
        step = TAKEN_FIELDS + 1
        for index in range(0, len(raw), step):
            job_id, data, ticket, enqueued, ahead, demand, shopper, note = raw[index : index + step]
            job_id = job_id.decode()
            enqueued_at = parse_rq_time(enqueued) if enqueued else None
            through = int(ahead) + int(demand or 0) if ahead else None
            request = decode_request(job_id, data, ticket, note)
            taken.append(
                TakenRequest(job_id, request, enqueued_at, through, shopper.decode(), int(demand or 0))
            )
        return taken

    def renew(self, lane: str, owner: str, lease_ms: int) -> bool:
        """Extend the lease while working; False if it is not this owner's any more."""
        return bool(self.scripts.renew(keys=[lane_key(lane, "lease")], args=[owner, lease_ms]))

    def owns(self, lane: str, owner: str) -> bool:
        """Whether ``owner`` still holds the lane's lease."""
        value = self.redis.get(lane_key(lane, "lease"))
        return value is not None and value.decode() == owner

    def release_if_idle(self, lane: str, owner: str) -> int:
        """1: released (lane empty); 0: more work arrived; -1: the lease was not ours any more."""
        return int(
            self.scripts.release_if_idle(
                keys=[
                    keys.queue_key(lane),
                    lane_key(lane, "inflight"),
                    lane_key(lane, "lease"),
                    keys.READY_SET,
                ],
                args=[owner, lane],
            )
        )

    def yield_lane(self, lane: str, owner: str) -> None:
        """Give a busy lane back to the pool so other lanes get a turn on this consumer."""
        self.scripts.yield_lane(
            keys=[lane_key(lane, "lease"), keys.READY_LIST, keys.READY_SET], args=[owner, lane]
        )

    def release_paused(self, lane: str, owner: str) -> None:
        """Give up a paused lane's lease; resuming announces it again."""
        self.scripts.release_paused(keys=[lane_key(lane, "lease"), keys.READY_SET], args=[owner, lane])

    def rescue(self) -> int:
        """Re-announce lanes with work but no lease holder (their consumer died)."""
        return int(
            self.scripts.rescue(
                keys=[keys.READY_SET, keys.READY_LIST, keys.LANES_SET],
                args=[keys.QUEUE_KEY_PREFIX, keys.LANE_KEY_PREFIX, *RESCUE_TAILS],
            )
        )
