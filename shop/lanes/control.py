"""The operators' side of the lanes in Redis: pause flags, the board's rankings, registry pruning.

A pause an operator makes is written to the database first (shop.lanes.pausing), which then sets the
flag these read; ``pause`` and ``resume`` here set the flag alone (the tests, and a pause that need
not outlive Redis).
"""

from __future__ import annotations

from datetime import datetime

from redis.client import Pipeline
from rq.registry import FinishedJobRegistry

from shop.lanes import keys
from shop.lanes.keys import lane_key
from shop.lanes.side import LaneSide


class LaneControl(LaneSide):
    """What operators and the sweep do to lanes as a whole."""

    def pause(self, lane: str) -> None:
        """Keep accepting requests into the lane but apply none until resumed."""
        self.redis.set(lane_key(lane, "paused"), 1)

    def resume(self, lane: str) -> None:
        """Let the lane be applied again, and announce it so a consumer picks it up at once."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(lane_key(lane, "paused"))
        announce(pipe, lane)
        pipe.execute()

    def is_paused(self, lane: str) -> bool:
        """Whether the lane's pause flag is set."""
        return bool(self.redis.exists(lane_key(lane, "paused")))

    def forget_finished(self, lanes: list[str], now: datetime) -> int:
        """Drop the finished jobs listed past their result TTL from these lanes' registries.

        RQ's workers clean their registries as they go; the lanes' consumer lists each decided job
        in its lane's FinishedJobRegistry (scored by when its result expires, as RQ does), and
        prunes a lane at each batch it publishes. A lane that goes quiet after a sale is pruned here.
        """
        if not lanes:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for lane in lanes:
            pipe.zremrangebyscore(FinishedJobRegistry(lane, connection=self.redis).key, 0, now.timestamp())
        return sum(pipe.execute())

    def hottest(self, count: int) -> list[str]:
        """Return up to ``count`` lanes, most recently active first (decayed arrivals, see hot.lua)."""
        if count <= 0:
            return []
        return [m.decode() for m in self.redis.zrevrange(keys.HOT_LANES_ZSET, 0, count - 1)]

    def longest_lines(self, count: int) -> list[str]:
        """Return up to ``count`` lanes with a line, the longest first (ties by lane name, descending)."""
        if count <= 0:
            return []
        return [m.decode() for m in self.redis.zrevrange(keys.LINES_ZSET, 0, count - 1)]


def announce(pipe: Pipeline, lane: str) -> None:
    """Mark a lane ready for a consumer inside the caller's pipeline (after a resume)."""
    pipe.sadd(keys.READY_SET, lane)
    pipe.rpush(keys.READY_LIST, lane)
