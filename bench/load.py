"""The load process: simulated shoppers and browsers against a shop on loopback (asyncio, no deps).

Run by the bench as separate processes, ``python -m bench.load '<json spec>'``; each prints one JSON
object. Every loop is bounded in count and time, and only 127.0.0.1 is ever contacted.

Several processes share one load (``bench.spike.run_load``): each is given ``parts``, its ``part``
and a common ``start_at`` (wall clock), serves every ``parts``-th shopper or client from that moment,
and with ``raw`` prints its raw samples; ``summarize_spike`` / ``summarize_throughput`` then compute
the figures from all the samples merged (never by averaging the parts' percentiles). Each process
measures its own event-loop lag, so the bench can show that the load generator kept up.

Modes:

* ``spike``: ``shoppers`` arrive evenly within ``arrival_s``; each posts one hold on a connection of
  its own, then (for a 202) polls ``GET /jobs/<id>`` first after 500 ms (the API's minimum poll
  interval) and then at the ``poll_after_ms`` each answer gives, until the job is finished. A
  synchronous route answers in the POST itself. With ``long_poll_s`` N a shopper sends
  ``Prefer: wait=N`` and then long-polls ``GET /jobs/<id>?wait=N`` back to back instead.
  Optional ``browsers`` read ``browse_path`` in a closed loop on keep-alive connections for as
  long as shoppers are still waiting.
  ``request_timeout_s`` replaces the 30 s a request may take (connecting included); ``source``
  names the loopback address (127.0.0.x) this process connects from, so that a very wide spike is
  not limited by the ~28,000 ephemeral ports of one source address.
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
# A shopper whose job answers 404 this many times in a row stops: its result expired before it read it.
LOST_AFTER_404S = 3


class Connection:
    """One HTTP/1.1 client connection (keep-alive unless ``close``)."""

    def __init__(self, port: int, source: str | None = None, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.port = port
        self.source = source  # a loopback address to connect from (127.0.0.x), None for the default
        self.timeout_s = timeout_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, close=False
    ) -> tuple[int, dict[str, str], bytes]:
        return await asyncio.wait_for(self._request(method, path, body, headers, close), self.timeout_s)

    async def _request(self, method, path, body, headers, close) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            local = (self.source, 0) if self.source else None
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port, local_addr=local)
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
        self.kinds: dict[str, int] = {}

    def add(self, status: int) -> None:
        self.status[str(status)] = self.status.get(str(status), 0) + 1

    def error(self, exc: BaseException) -> None:
        """Count a request that got no answer, by kind (a timeout, a refused or reset connection)."""
        self.errors += 1
        kind = type(exc).__name__
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        five = sum(n for s, n in self.status.items() if s.startswith("5"))
        return {
            "by_status": self.status,
            "5xx": five,
            "429": self.status.get("429", 0),
            "errors": self.errors,
            "error_kinds": self.kinds,
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

    def connect() -> Connection:
        return Connection(port, spec.get("source"), spec.get("request_timeout_s", REQUEST_TIMEOUT_S))

    sent = time.perf_counter()
    out["sent"] = sent - t0
    long_poll = int(spec.get("long_poll_s", 0))
    prefer = {"Prefer": f"wait={long_poll}"} if long_poll else None
    try:
        status, headers, data = await connect().request("POST", spec["path"], body, prefer, close=True)
    except (OSError, ValueError) as exc:
        counts.error(exc)
        return
    admitted = time.perf_counter()
    counts.add(status)
    out["admit_s"] = admitted - sent
    out["admitted_at"] = admitted - t0
    if status == 200:  # the synchronous checkout answers at once; the shop, within Prefer: wait=N
        answer = json.loads(data)
        out["answer_s"] = admitted - sent
        if "x-bench-decided" in headers:  # bench/sync_app.py: when it took and decided the request
            out["server_started"] = float(headers["x-bench-started"])
            out["server_decided"] = float(headers["x-bench-decided"])
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
    gone = 0
    while time.perf_counter() < deadline:
        await asyncio.sleep(wait)
        asked_at = time.perf_counter()
        try:
            status, _headers, data = await connect().request(
                "GET", f"/jobs/{answer['job_id']}{query}", headers={"X-Cart-Token": token}, close=True
            )
        except (OSError, ValueError) as exc:
            counts.error(exc)
            wait = FIRST_POLL_S
            continue
        counts.add(status)
        out["polls"] = out.get("polls", 0) + 1
        if status == 404:
            # The job was there when it was admitted: gone now means its result expired unread.
            gone += 1
            if gone >= LOST_AFTER_404S:
                out["lost"] = True
                return
        if status != 200:
            wait = FIRST_POLL_S
            continue
        gone = 0
        job = json.loads(data)
        if job["status"] in ("finished", "failed"):
            out["answer_s"] = time.perf_counter() - sent
            result = job.get("result") or {}
            out["outcome"] = result.get("outcome", "error")
            return
        # A long-poll answered undecided well before its wait was not held (the server's long-poll
        # slots were busy): follow its pace, as the waiting page does, instead of asking at once.
        held = time.perf_counter() - asked_at >= long_poll / 2
        wait = 0.0 if long_poll and held else job.get("poll_after_ms", 500) / 1000


async def _browser(port: int, path: str, latencies: list[float], counts: Counts, stop: asyncio.Event) -> None:
    conn = Connection(port)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status, _headers, _data = await conn.request("GET", path)
        except (OSError, ValueError) as exc:
            counts.error(exc)
            await conn.close()
            continue
        counts.add(status)
        latencies.append(time.perf_counter() - started)
    await conn.close()


def _start(spec: dict[str, Any]) -> float:
    """The perf_counter moment of the run's common start (``start_at``, wall clock), shared by all parts."""
    start_at = spec.get("start_at")
    if start_at is None:
        return time.perf_counter() + 0.2
    return time.perf_counter() + (start_at - time.time())


def _mine(count: int, spec: dict[str, Any]) -> range:
    """The indexes this process serves of ``count`` (every ``parts``-th, so arrivals stay even)."""
    return range(spec.get("part", 0), count, spec.get("parts", 1))


async def spike(spec: dict[str, Any]) -> dict[str, Any]:
    """This part's shoppers (and browsers), as raw samples: ``summarize_spike`` makes the figures."""
    shoppers = spec["shoppers"]
    arrival = spec["arrival_s"]
    counts, browse_counts = Counts(), Counts()
    lag: list[float] = []
    browse_latencies: list[float] = []
    stop_lag, stop_browse = asyncio.Event(), asyncio.Event()
    lag_task = asyncio.create_task(_lag_monitor(lag, stop_lag))
    t0 = _start(spec)
    await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
    browsers = [
        asyncio.create_task(
            _browser(spec["port"], spec["browse_path"], browse_latencies, browse_counts, stop_browse)
        )
        for _ in _mine(spec.get("browsers", 0), spec)
    ]
    mine = _mine(shoppers, spec)
    records: list[dict[str, Any]] = [{} for _ in mine]
    tasks = [
        asyncio.create_task(_shopper(spec, arrival * i / shoppers, t0, counts, records[k]))
        for k, i in enumerate(mine)
    ]
    await asyncio.gather(*tasks)
    all_answered = time.perf_counter()
    stop_browse.set()
    await asyncio.gather(*browsers)
    stop_lag.set()
    await lag_task
    return {
        "records": records,
        "http": counts.to_dict(),
        "lag_s": lag,
        "seconds": all_answered - t0,
        "browse_s": browse_latencies,
        "browse_http": browse_counts.to_dict(),
    }


def _merge_counts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the parts' status counts and errors."""
    merged = Counts()
    for part in parts:
        for status, n in part["by_status"].items():
            merged.status[status] = merged.status.get(status, 0) + n
        merged.errors += part["errors"]
        for kind, n in part.get("error_kinds", {}).items():
            merged.kinds[kind] = merged.kinds.get(kind, 0) + n
    return merged.to_dict()


def summarize_spike(spec: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The spike's figures from every part's raw samples (percentiles of the merged samples)."""
    shoppers = spec["shoppers"]
    records = [record for part in parts for record in part["records"]]
    lag = [sample for part in parts for sample in part["lag_s"]]
    browse_latencies = [sample for part in parts for sample in part["browse_s"]]
    browse_seconds = max((part["seconds"] for part in parts), default=0.0)
    admitted = [r for r in records if "admit_s" in r]
    first = min((r["sent"] for r in admitted), default=0.0)
    last = max((r["admitted_at"] for r in admitted), default=0.0)
    ok_admitted = sum(1 for r in records if r.get("job_id") or r.get("answer_s") is not None)
    outcomes: dict[str, int] = {}
    for record in records:
        if "outcome" in record:
            outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    answered = [r for r in records if "answer_s" in r]
    first_admitted = min((r["admitted_at"] for r in admitted), default=None)
    last_answer = max((r["sent"] + r["answer_s"] for r in answered), default=None)
    # The synchronous app says when it started and decided each request (X-Bench-* headers, wall clock).
    started = [r["server_started"] for r in records if "server_started" in r]
    decided = [r["server_decided"] for r in records if "server_decided" in r]
    return {
        "shoppers": shoppers,
        "arrival_s": spec["arrival_s"],
        "load_processes": len(parts),
        "start_at": spec.get("start_at"),
        "admitted": ok_admitted,
        "admitted_per_s": ok_admitted / (last - first) if last > first else None,
        "admit_ms": summary_ms([r["admit_s"] for r in admitted]),
        "answered": len(answered),
        "answer_ms": summary_ms([r["answer_s"] for r in answered]),
        "first_admitted_s": first_admitted,
        "last_answer_s": last_answer,
        "server_window": (
            {"first_started": min(started), "last_decided": max(decided), "decided": len(decided)}
            if started and decided
            else None
        ),
        "polls_per_shopper": sum(r.get("polls", 0) for r in records) / max(1, shoppers),
        "lost": sum(1 for r in records if r.get("lost")),
        "outcomes": outcomes,
        "http": _merge_counts([part["http"] for part in parts]),
        "job_ids": [r["job_id"] for r in records if r.get("job_id")],
        "seconds": browse_seconds,
        "load_loop_lag_ms": summary_ms(lag),
        "browse": {
            "browsers": spec.get("browsers", 0),
            "requests": len(browse_latencies),
            "per_s": len(browse_latencies) / browse_seconds if browse_seconds > 0 else None,
            "ms": summary_ms(browse_latencies),
            "http": _merge_counts([part["browse_http"] for part in parts]),
        },
    }


async def throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """This part's keep-alive clients, as raw samples: ``summarize_throughput`` makes the figures."""
    mine = len(_mine(spec["connections"], spec))
    share = _mine(spec["requests"], spec)
    remaining = [len(share)]
    latencies: list[float] = []
    counts = Counts()
    lag: list[float] = []
    stop_lag = asyncio.Event()
    lag_task = asyncio.create_task(_lag_monitor(lag, stop_lag))
    t0 = _start(spec)
    await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
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
            except (OSError, ValueError) as exc:
                counts.error(exc)
                await conn.close()
                continue
            counts.add(status)
            latencies.append(time.perf_counter() - started)
        await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(mine)))
    ended = time.perf_counter()
    stop_lag.set()
    await lag_task
    return {
        "requests": len(share) - remaining[0],
        "started_s": started - t0,
        "ended_s": ended - t0,
        "latencies_s": latencies,
        "http": counts.to_dict(),
        "lag_s": lag,
    }


def summarize_throughput(spec: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests per second over the common window of every part, percentiles of the merged samples."""
    http = _merge_counts([part["http"] for part in parts])
    accepted = sum(n for s, n in http["by_status"].items() if s in ("200", "202"))
    seconds = max(p["ended_s"] for p in parts) - min(p["started_s"] for p in parts)
    return {
        "requests": sum(part["requests"] for part in parts),
        "accepted": accepted,
        "per_s": accepted / seconds,
        "seconds": seconds,
        "load_processes": len(parts),
        "ms": summary_ms([sample for part in parts for sample in part["latencies_s"]]),
        "http": http,
        "load_loop_lag_ms": summary_ms([sample for part in parts for sample in part["lag_s"]]),
    }


SUMMARIES = {"spike": summarize_spike, "throughput": summarize_throughput}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    runner = {"spike": spike, "throughput": throughput}[spec["mode"]]
    raw = asyncio.run(runner(spec))
    # One process alone prints its figures; a part of several prints raw samples for the merge.
    out = raw if spec.get("raw") else SUMMARIES[spec["mode"]](spec, [raw])
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
