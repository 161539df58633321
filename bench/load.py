"""The load process: simulated shoppers and browsers against a shop on loopback (asyncio, no deps).

Run by the bench as a separate process, ``python -m bench.load '<json spec>'``; prints one JSON
object. Every loop is bounded in count and time, and only 127.0.0.1 is ever contacted.

Modes:

* ``spike``: ``shoppers`` arrive evenly within ``arrival_s``; each posts one hold on a connection of
  its own, then (for a 202) polls ``GET /jobs/<id>`` first after 500 ms (the API's minimum poll
  interval) and then at the ``poll_after_ms`` each answer gives, until the job is finished. A
  synchronous route answers in the POST itself. With ``long_poll_s`` N a shopper sends
  ``Prefer: wait=N`` and then long-polls ``GET /jobs/<id>?wait=N`` back to back instead.
  Optional ``browsers`` read ``browse_path`` in a closed loop on keep-alive connections for as
  long as shoppers are still waiting.
* ``throughput``: ``connections`` keep-alive clients post to ``path`` back to back until
  ``requests`` answers (or, with ``seconds``, until that long has passed and the requests in
  flight are answered): the web tier's admitted requests per second.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bench.figures import percentile

HOST = "127.0.0.1"
FIRST_POLL_S = 0.5
REQUEST_TIMEOUT_S = 30.0


class Connection:
    """One HTTP/1.1 client connection (keep-alive unless ``close``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, close=False
    ) -> tuple[int, dict[str, str], bytes]:
        return await asyncio.wait_for(self._request(method, path, body, headers, close), REQUEST_TIMEOUT_S)

    async def _request(self, method, path, body, headers, close) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}", f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        if close:
            lines.append("Connection: close")
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed before the response")
        status = int(status_line.split()[1])
        found: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            found[name.strip().lower()] = value.strip()
        length = found.get("content-length")
        data = await self.reader.readexactly(int(length)) if length else await self.reader.read()
        if close or found.get("connection", "").lower() == "close" or not length:
            await self.close()
        return status, found, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


def summary_ms(values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    top = max(ms) if ms else None
    return {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": top, "n": len(ms)}


class Counts:
    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.errors = 0

    def add(self, status: int) -> None:
        self.status[str(status)] = self.status.get(str(status), 0) + 1

    def to_dict(self) -> dict[str, Any]:
        five = sum(n for s, n in self.status.items() if s.startswith("5"))
        return {
            "by_status": self.status,
            "5xx": five,
            "429": self.status.get("429", 0),
            "errors": self.errors,
        }


async def _lag_monitor(samples: list[float], stop: asyncio.Event) -> None:
    """How late the event loop wakes up: the load process's own share of any latency."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - started - 0.01)


async def _shopper(spec: dict[str, Any], at: float, t0: float, counts: Counts, out: dict[str, Any]) -> None:
    await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
    port = spec["port"]
    body = {"sku": spec["sku"], "qty": 1}
    sent = time.perf_counter()
    out["sent"] = sent - t0
    long_poll = int(spec.get("long_poll_s", 0))
    prefer = {"Prefer": f"wait={long_poll}"} if long_poll else None
    try:
        status, headers, data = await Connection(port).request("POST", spec["path"], body, prefer, close=True)
    except (OSError, ValueError):
        counts.errors += 1
        return
    admitted = time.perf_counter()
    counts.add(status)
    out["admit_s"] = admitted - sent
    out["admitted_at"] = admitted - t0
    if status == 200:  # the synchronous checkout answers at once; the shop, within Prefer: wait=N
        answer = json.loads(data)
        out["answer_s"] = admitted - sent
        out["outcome"] = (
            (answer.get("result") or {}).get("outcome") if "job_id" in answer else answer.get("outcome")
        )
        if "job_id" in answer:
            out["job_id"] = answer["job_id"]
        return
    if status != 202:
        return
    answer = json.loads(data)
    out["job_id"] = answer["job_id"]
    token = headers.get("x-cart-token", "")
    # Long-polling asks again at once (the server holds each poll open); plain polling paces itself.
    wait = 0.0 if long_poll else FIRST_POLL_S
    query = f"?wait={long_poll}" if long_poll else ""
    deadline = sent + spec.get("answer_timeout_s", 120)
    while time.perf_counter() < deadline:
        await asyncio.sleep(wait)
        try:
            status, _headers, data = await Connection(port).request(
                "GET", f"/jobs/{answer['job_id']}{query}", headers={"X-Cart-Token": token}, close=True
            )
        except (OSError, ValueError):
            counts.errors += 1
            wait = FIRST_POLL_S
            continue
        counts.add(status)
        out["polls"] = out.get("polls", 0) + 1
        if status != 200:
            wait = FIRST_POLL_S
            continue
        job = json.loads(data)
        if job["status"] in ("finished", "failed"):
            out["answer_s"] = time.perf_counter() - sent
            result = job.get("result") or {}
            out["outcome"] = result.get("outcome", "error")
            return
        wait = 0.0 if long_poll else job.get("poll_after_ms", 500) / 1000


async def _browser(port: int, path: str, latencies: list[float], counts: Counts, stop: asyncio.Event) -> None:
    conn = Connection(port)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status, _headers, _data = await conn.request("GET", path)
        except (OSError, ValueError):
            counts.errors += 1
            await conn.close()
            continue
        counts.add(status)
        latencies.append(time.perf_counter() - started)
    await conn.close()


async def spike(spec: dict[str, Any]) -> dict[str, Any]:
    shoppers = spec["shoppers"]
    arrival = spec["arrival_s"]
    counts, browse_counts = Counts(), Counts()
    lag: list[float] = []
    browse_latencies: list[float] = []
    stop_lag, stop_browse = asyncio.Event(), asyncio.Event()
    lag_task = asyncio.create_task(_lag_monitor(lag, stop_lag))
    t0 = time.perf_counter() + 0.2
    browsers = [
        asyncio.create_task(
            _browser(spec["port"], spec["browse_path"], browse_latencies, browse_counts, stop_browse)
        )
        for _ in range(spec.get("browsers", 0))
    ]
    records: list[dict[str, Any]] = [{} for _ in range(shoppers)]
    tasks = [
        asyncio.create_task(_shopper(spec, arrival * i / shoppers, t0, counts, records[i]))
        for i in range(shoppers)
    ]
    await asyncio.gather(*tasks)
    all_answered = time.perf_counter()
    stop_browse.set()
    await asyncio.gather(*browsers)
    stop_lag.set()
    await lag_task
    admitted = [r for r in records if "admit_s" in r]
    first = min((r["sent"] for r in admitted), default=0.0)
    last = max((r["admitted_at"] for r in admitted), default=0.0)
    ok_admitted = sum(1 for r in records if r.get("job_id") or r.get("answer_s") is not None)
    outcomes: dict[str, int] = {}
    for record in records:
        if "outcome" in record:
            outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    browse_seconds = all_answered - t0
    return {
        "shoppers": shoppers,
        "arrival_s": arrival,
        "admitted": ok_admitted,
        "admitted_per_s": ok_admitted / (last - first) if last > first else None,
        "admit_ms": summary_ms([r["admit_s"] for r in admitted]),
        "answered": sum(1 for r in records if "answer_s" in r),
        "answer_ms": summary_ms([r["answer_s"] for r in records if "answer_s" in r]),
        "polls_per_shopper": sum(r.get("polls", 0) for r in records) / max(1, shoppers),
        "outcomes": outcomes,
        "http": counts.to_dict(),
        "job_ids": [r["job_id"] for r in records if r.get("job_id")],
        "seconds": browse_seconds,
        "load_loop_lag_ms": summary_ms(lag),
        "browse": {
            "browsers": spec.get("browsers", 0),
            "requests": len(browse_latencies),
            "per_s": len(browse_latencies) / browse_seconds if browse_seconds > 0 else None,
            "ms": summary_ms(browse_latencies),
            "http": browse_counts.to_dict(),
        },
    }


async def throughput(spec: dict[str, Any]) -> dict[str, Any]:
    total = spec["requests"]
    remaining = [total]
    latencies: list[float] = []
    counts = Counts()
    deadline = time.perf_counter() + spec["seconds"] if spec.get("seconds") else float("inf")

    async def client() -> None:
        conn = Connection(spec["port"])
        while remaining[0] > 0 and time.perf_counter() < deadline:
            remaining[0] -= 1
            started = time.perf_counter()
            try:
                status, _headers, _data = await conn.request(
                    spec.get("method", "POST"), spec["path"], spec.get("body")
                )
            except (OSError, ValueError):
                counts.errors += 1
                await conn.close()
                continue
            counts.add(status)
            latencies.append(time.perf_counter() - started)
        await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(spec["connections"])))
    seconds = time.perf_counter() - started
    accepted = sum(n for s, n in counts.status.items() if s in ("200", "202"))
    return {
        "requests": total - remaining[0],
        "accepted": accepted,
        "per_s": accepted / seconds,
        "seconds": seconds,
        "ms": summary_ms(latencies),
        "http": counts.to_dict(),
    }


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    runner = {"spike": spike, "throughput": throughput}[spec["mode"]]
    sys.stdout.write(json.dumps(asyncio.run(runner(spec))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
