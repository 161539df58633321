"""Shoppers for the simulation: each asks for one unit through the load balancer until answered.

A shopper behaves as the README tells clients to: one Idempotency-Key per request, and on a lost
answer (connection error, timeout, 502/503/504) the same request again with the same key and cart
token; a 404 with ``retry: true`` (the queued request was lost with Redis) is sent again too.
Threads, not asyncio: a few hundred shoppers, and each waits on the network most of the time.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

REQUEST_TIMEOUT_S = 8.0
RETRY_PAUSE_S = 0.3
FINAL = ("finished", "failed")


@dataclass
class Answer:
    """What one shopper ended with."""

    index: int
    outcome: str | None = None
    retries: int = 0
    lost: int = 0
    job_ids: set[str] = field(default_factory=set)
    decided_at: float | None = None


class Client:
    """One keep-alive connection to the load balancer, reopened after any failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        """Return (status, json) or None when the answer was lost."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
            payload = json.dumps(body) if body is not None else None
            sent = {"Content-Type": "application/json", **(headers or {})}
            self.conn.request(method, path, body=payload, headers=sent)
            response = self.conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else {}
        except (OSError, http.client.HTTPException, ValueError):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None


def shop(index: int, host: str, port: int, sku: str, deadline: float, start: threading.Event) -> Answer:
    """Get a cart, ask for one unit, and follow the job until it is decided or the deadline passes."""
    answer = Answer(index)
    client = Client(host, port)
    start.wait()
    token = None
    while token is None and time.monotonic() < deadline:
        got = client.call("GET", "/chart")
        if got is not None and got[0] == 200:
            token = got[1]["cart_token"]
        else:
            answer.retries += 1
            time.sleep(RETRY_PAUSE_S)
    headers = {"X-Cart-Token": token or "", "Idempotency-Key": f"cluster-{index}"}
    job_id = None
    while time.monotonic() < deadline and answer.outcome is None:
        if job_id is None:
            got = client.call("POST", "/chart", {"sku": sku, "qty": 1}, headers)
            if got is None or got[0] in (502, 503, 504):
                answer.lost += got is None
                answer.retries += 1
                time.sleep(RETRY_PAUSE_S)
                continue
            if got[0] not in (200, 202):
                answer.outcome = f"http_{got[0]}"
                break
            job_id = got[1]["job_id"]
            answer.job_ids.add(job_id)
            if got[1].get("status") in FINAL:
                answer.outcome = (got[1].get("result") or {}).get("outcome", got[1]["status"])
                break
        got = client.call("GET", f"/jobs/{job_id}?wait=3", headers=headers)
        if got is None or got[0] in (502, 503, 504):
            answer.retries += 1
            time.sleep(RETRY_PAUSE_S)
        elif got[0] == 404 and got[1].get("retry"):
            answer.retries += 1
            job_id = None  # lost with Redis: the same request, the same key, again
        elif got[0] == 200 and got[1].get("status") in FINAL:
            answer.outcome = (got[1].get("result") or {}).get("outcome", got[1]["status"])
        elif got[0] != 200:
            answer.outcome = f"http_{got[0]}"
    answer.decided_at = time.monotonic() if answer.outcome else None
    if client.conn is not None:
        client.conn.close()
    return answer


def spike(host: str, port: int, sku: str, shoppers: int, timeout_s: float) -> tuple[list[Answer], float]:
    """Run ``shoppers`` shoppers at once; return their answers and the monotonic time they started."""
    start = threading.Event()
    deadline = time.monotonic() + timeout_s
    answers: list[Answer] = [Answer(i) for i in range(shoppers)]

    def run(i: int) -> None:
        answers[i] = shop(i, host, port, sku, deadline, start)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(shoppers)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    start.set()
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic() + 5))
    return answers, began
