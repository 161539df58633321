"""Waiting for a queued request's decision: the long-poll behind ``Prefer: wait=N`` and ``?wait=N``.

A consumer announces every published batch on its lane's channel (``decided_channel``), one
PUBLISH per batch in the round trip that writes the results. Each web process keeps one
subscription to every lane's channel, opened on first use (after gunicorn forks), and wakes the
requests waiting on that lane, which then read their job as any poll does. A lost message (Redis
restarting, the subscription reconnecting) costs a waiter at most ``RECHECK_S``: it re-reads its
job that often anyway, so a decision is never missed, only seen later.

A waiting request holds a web thread, so a process holds at most ``slots`` waits at once
(``LONG_POLL_SLOTS``); beyond that a request answers at once, as a plain poll does, and the
threads left keep admitting the spike. ``Prefer: wait`` is a preference (RFC 7240): the answer is
then the 202 without ``Preference-Applied``, and a long-poll answered early and undecided tells
the client to follow the answer's ``poll_after_ms``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shop.lanes.keys import DECIDED_CHANNEL_PREFIX

log = logging.getLogger(__name__)

# A waiter re-reads its job at least this often, message or not.
RECHECK_S = 1.0
# How long the listener blocks for one message before it looks whether it should stop.
LISTEN_S = 0.5
T = TypeVar("T")


class DecisionWaiter:
    """One subscription per process, shared by every request waiting for a lane's decisions."""

    def __init__(self, redis: Redis, slots: int = 4) -> None:
        self.redis = redis
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self._waiting: dict[str, set[threading.Event]] = defaultdict(set)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def wait(self, lane: str, read: Callable[[], T], done: Callable[[T], bool], seconds: float) -> T:
        """``read`` until ``done`` says so or ``seconds`` pass; return the last reading.

        The waiter is registered before the first reading, so a decision announced between a
        reading and the wait still wakes it. With every slot taken it reads once and returns.
        """
        if not self._slots.acquire(blocking=False):
            return read()
        try:
            return self._wait(lane, read, done, seconds)
        finally:
            self._slots.release()

    def _wait(self, lane: str, read: Callable[[], T], done: Callable[[T], bool], seconds: float) -> T:
        woken = threading.Event()
        self._register(lane, woken)
        try:
            deadline = time.monotonic() + seconds
            reading = read()
            while not done(reading) and (left := deadline - time.monotonic()) > 0:
                woken.wait(min(left, RECHECK_S))
                woken.clear()
                reading = read()
            return reading
        finally:
            self._unregister(lane, woken)

    def close(self) -> None:
        """Stop listening (the services are closing)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=LISTEN_S * 4)

    def _register(self, lane: str, event: threading.Event) -> None:
        with self._lock:
            self._waiting[lane].add(event)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._listen, name="decisions", daemon=True)
                self._thread.start()

    def _unregister(self, lane: str, event: threading.Event) -> None:
        with self._lock:
            waiters = self._waiting.get(lane)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiting[lane]

    def _listen(self) -> None:
        """Wake the waiters of each lane announced, reconnecting with backoff until stopped."""
        backoff = 0.1
        while not self._stop.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(DECIDED_CHANNEL_PREFIX + "*")
                backoff = 0.1
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=LISTEN_S)
                    if message is not None:
                        self._wake(message["channel"].decode().removeprefix(DECIDED_CHANNEL_PREFIX))
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("decision channel unavailable (%s); waiters re-read their jobs meanwhile", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                pubsub.close()

    def _wake(self, lane: str) -> None:
        with self._lock:
            waiters = list(self._waiting.get(lane, ()))
        for event in waiters:
            event.set()
