"""Press "add to cart" three times from one cart in under 100 ms, 50 times over, against a running shop.

    make run                                   # in another terminal (note its Redis URL)
    python -m devtools.press_three_times       # --base http://localhost:9000 --rounds 50
    python -m devtools.press_three_times --redis-url redis://127.0.0.1:PORT/0   # also check consumers

Each round uses a new cart: three ``POST /chart`` back to back on one keep-alive connection, then
polls every job until it is answered, checks that the three were decided as one line (held 1, 2,
3, or refused truthfully), and removes the line so the next round finds the units again. With
``--redis-url`` it also checks that the consumers registered as RQ workers are the same processes
at the end as at the start (a restarted consumer registers under a new name). Exit 1 on any
unanswered job, error outcome or restarted consumer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

PRESSES = 3
POLL_TIMEOUT_S = 30.0


def say(message: str) -> None:
    print(message, flush=True)  # noqa: T201


class Client:
    """A keep-alive JSON client for one cart."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 80, timeout=10)
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["X-Cart-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        token = response.getheader("X-Cart-Token")
        if token:
            self.token = token
        return response.status, json.loads(raw) if raw else None

    def answer(self, job_id: str) -> dict[str, Any] | None:
        """Poll a job until it is decided; None if it never is."""
        deadline = time.monotonic() + POLL_TIMEOUT_S
        while time.monotonic() < deadline:
            status, job = self.call("GET", f"/jobs/{job_id}")
            if status == 200 and job["status"] in ("finished", "failed"):
                return job
            time.sleep(0.05)
        return None


def consumer_names(redis_url: str) -> set[str]:
    from redis import Redis
    from rq import Worker

    return {w.name for w in Worker.all(connection=Redis.from_url(redis_url)) if w.name.startswith("shop-")}


def one_round(base: str, sku: str) -> tuple[float, list[dict[str, Any] | None], list[str]]:
    """Three presses, their answers, and what was wrong with them."""
    client = Client(base)
    started = time.monotonic()
    accepted = [client.call("POST", "/chart", {"sku": sku, "qty": 1}) for _ in range(PRESSES)]
    elapsed_ms = (time.monotonic() - started) * 1000
    problems = [f"press answered {status}: {body}" for status, body in accepted if status != 202]
    jobs = [client.answer(body["job_id"]) if status == 202 else None for status, body in accepted]
    outcomes = []
    for job in jobs:
        if job is None:
            problems.append("a job was never answered")
        elif job["status"] == "failed" or job["result"]["outcome"] == "error":
            problems.append(f"a job failed: {job['result']}")
        else:
            outcomes.append(job["result"])
    held = [r["qty"] for r in outcomes if r["outcome"] == "held"]
    if held != list(range(1, len(held) + 1)):
        problems.append(f"held quantities {held}, expected 1, 2, 3 in order")
    removed = client.call("PUT", f"/chart/{sku}/0")
    if removed[0] != 202 or (client.answer(removed[1]["job_id"]) or {}).get("status") != "finished":
        problems.append("removing the line was not answered")
    return elapsed_ms, jobs, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://localhost:9000")
    parser.add_argument("--sku", default="MOUSE-WL-01", help="a SKU with max_per_cart >= 3")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--redis-url", help="the shop's Redis, to check that no consumer restarted")
    args = parser.parse_args(argv)
    before = consumer_names(args.redis_url) if args.redis_url else set()
    timings: list[float] = []
    answered = 0
    failures: list[str] = []
    sent = 0
    slow = 0
    # A round whose three presses took 100 ms or more (a loaded machine) is not the case under
    # test: it is still checked, but another round is run in its place (up to twice as many).
    while len(timings) < args.rounds and slow < args.rounds:
        elapsed_ms, jobs, problems = one_round(args.base, args.sku)
        sent += PRESSES
        answered += sum(1 for job in jobs if job is not None)
        failures.extend(f"round {len(timings) + slow + 1}: {p}" for p in problems)
        if elapsed_ms < 100:
            timings.append(elapsed_ms)
        else:
            slow += 1
    if args.redis_url:
        after = consumer_names(args.redis_url)
        if before != after:
            failures.append(f"consumers changed: before {sorted(before)}, after {sorted(after)}")
    say(
        f"{len(timings)} rounds of {PRESSES} presses under 100 ms ({slow} slower rounds run in addition): "
        f"{answered}/{sent} jobs answered; three presses took {min(timings):.1f}-{max(timings):.1f} ms "
        f"(median {sorted(timings)[len(timings) // 2]:.1f} ms)"
    )
    if args.redis_url:
        say(f"consumers (RQ workers) before and after: {len(before)} and the same: {before == after}")
    for failure in failures:
        say(f"FAIL {failure}")
    if len(timings) < args.rounds:
        failures.append(f"only {len(timings)} rounds were under 100 ms")
    say("ok" if not failures else f"{len(failures)} problem(s)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
