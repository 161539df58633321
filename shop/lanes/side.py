"""What every side of the lanes shares: the Redis client, its registered scripts, two settings."""

from __future__ import annotations

from redis import Redis

from shop.lanes.scripts import LaneScripts

# How many lanes the activity ranking keeps unless configured (HOT_LANES).
HOT_LANES_DEFAULT = 500
RESULT_TTL_DEFAULT_S = 86_400


class LaneSide:
    """The base of the door, the lease, the publisher and the operators' control (shop.lanes.client)."""

    def __init__(
        self, redis: Redis, result_ttl: int = RESULT_TTL_DEFAULT_S, hot_lanes: int = HOT_LANES_DEFAULT
    ) -> None:
        self.redis = redis
        # How long a decided job, its result and its registry entry are kept (seconds).
        self.result_ttl = result_ttl
        # How many lanes the activity ranking keeps (HOT_LANES_ZSET): the board's "hottest".
        self.hot_lanes = hot_lanes
        self.scripts = LaneScripts.register(redis)
