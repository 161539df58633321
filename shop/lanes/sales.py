"""Opening a sale: the pre-queue's seeded draw, once per sale start, however many callers race.

Requests that arrive before a product's ``sale_starts_at`` wait in the lane's pre-queue without a
ticket. At the start one script (scripts/open_sale.lua) draws their order (shop.domain.draw) and gives
them tickets, behind a first job that records the draw in the SKU's ledger. The first shopper after
the start, the scheduler's pass, or an operator moving the start opens it, whichever comes first.
"""

from __future__ import annotations

import json
import logging

from shop.domain.draw import new_seed
from shop.domain.requests import SKU_LANE_PREFIX, RequestKind
from shop.lanes import keys
from shop.lanes.job_hashes import flat_fields, queued_job
from shop.lanes.keys import lane_key
from shop.lanes.side import LaneSide
from shop.storage.models import utcnow

log = logging.getLogger(__name__)


class Sales(LaneSide):
    """The pre-queue's opening, for the door (a shopper after the start) and the scheduler."""

    def open_sale(self, lane: str, start_ms: int, force: bool = False) -> int:
        """Draw a started sale's pre-queue order and give it tickets; return how many were drawn.

        -1: this sale start was opened already; -2: it has not come yet (by Redis's clock), unless
        ``force`` (the operator moved the start to now, or cleared it).
        The seed is drawn here and kept in the lane's sale hash, in the log and (through the first
        job in line, which records the draw) in the SKU's ledger; ``shop audit`` recomputes the
        order from it. Atomic in Redis, and done once per sale start whoever calls it.
        """
        seed = new_seed()
        sku = lane.removeprefix(SKU_LANE_PREFIX)
        job = queued_job(
            self.redis,
            RequestKind.OPEN_SALE,
            {"sku": sku, "seed": seed, "start_ms": start_ms},
            lane,
            self.result_ttl,
            description=f"open_sale sku={sku} seed={seed}",
        )
        job.enqueued_at = utcnow()
        mapping = job.to_dict()
        drawn = int(
            self.scripts.open_sale(
                keys=[
                    lane_key(lane, "sale"),
                    lane_key(lane, "prequeue"),
                    lane_key(lane, "prequeue:demand"),
                    keys.queue_key(lane),
                    lane_key(lane, "ticket"),
                    lane_key(lane, "requested"),
                    lane_key(lane, "serving"),
                    keys.READY_LIST,
                    keys.READY_SET,
                    keys.QUEUES_SET,
                    keys.LANES_SET,
                    job.key,
                    keys.LINES_ZSET,
                    keys.LINES_TOTAL,
                ],
                args=[
                    lane,
                    start_ms,
                    seed,
                    job.id,
                    keys.JOB_KEY_PREFIX,
                    len(mapping),
                    *flat_fields(mapping),
                    "1" if force else "0",
                ],
            )
        )
        if drawn < 0:
            return drawn
        # Logged at WARNING so the default level keeps it: with the ledger, it is the draw's record.
        log.warning(json.dumps({"event": "sale_opened", "lane": lane, "seed": seed, "prequeued": drawn}))
        return drawn

    def open_due_sales(self) -> list[str]:
        """Open every sale whose start has come (the scheduler calls this every pass)."""
        now_ms = int(utcnow().timestamp() * 1000)
        opened = []
        for member, score in self.redis.zrangebyscore(keys.SALES_ZSET, 0, now_ms, withscores=True):
            lane = member.decode()
            result = self.open_sale(lane, int(score))
            if result != -2:  # not yet by Redis's clock: the next pass tries again
                self.redis.zrem(keys.SALES_ZSET, lane)
            if result >= 0:
                opened.append(lane)
        return opened
