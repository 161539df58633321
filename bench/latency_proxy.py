"""A delaying TCP proxy on loopback: a database one round trip of ``2 x delay`` further away.

    python -m bench.latency_proxy <target_port> <one_way_ms>   # prints "listening <port>", then serves

Every chunk read from one side is written to the other ``one_way_ms`` after it arrived, in the order
it arrived (one queue and one timer per direction of each connection), so 0.5 ms each way adds 1 ms
to every PostgreSQL round trip. The event loop uses ``select`` (microsecond timeouts), not ``epoll``,
whose millisecond timeouts would round every 0.5 ms delay up to 1 ms or more. Bounded: loopback
only, at most ``MAX_CONNECTIONS`` connections, and a side stops being read while more than
``MAX_BUFFERED`` bytes wait to be delivered for it. The bench runs it as a subprocess through
``LatencyProxy`` and always stops it.
"""

from __future__ import annotations

import asyncio
import collections
import selectors
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from config import BASE_DIR

HOST = "127.0.0.1"
MAX_CONNECTIONS = 400  # select() handles up to 1024 descriptors; each connection takes two
MAX_BUFFERED = 4 * 1024 * 1024
START_TIMEOUT_S = 10.0


class _Direction:
    """One direction of a connection: chunks wait ``delay`` seconds, then go out in arrival order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, source: _Side) -> None:
        self.loop = loop
        self.delay = delay
        self.source = source  # paused while too much of its data waits
        self.target: asyncio.Transport | None = None
        self.pending: collections.deque[tuple[float, bytes]] = collections.deque()
        self.buffered = 0
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False

    def push(self, data: bytes) -> None:
        self.pending.append((self.loop.time() + self.delay, data))
        self.buffered += len(data)
        if self.buffered > MAX_BUFFERED:
            self.source.pause()
        if self.timer is None:
            self.timer = self.loop.call_at(self.pending[0][0], self.flush)

    def close_after_pending(self) -> None:
        self.closing = True
        if self.timer is None:
            self.flush()

    def flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.pending and self.pending[0][0] <= now:
            _due, data = self.pending.popleft()
            self.buffered -= len(data)
            if self.target is not None and not self.target.is_closing():
                self.target.write(data)
        if self.buffered <= MAX_BUFFERED:
            self.source.resume()
        if self.pending:
            self.timer = self.loop.call_at(self.pending[0][0], self.flush)
        elif self.closing and self.target is not None:
            self.target.close()


class _Side(asyncio.Protocol):
    """One socket of a proxied connection (the client's, or the server's)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.outgoing: _Direction | None = None  # what this side reads goes out through here
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.outgoing is not None
        self.outgoing.push(data)

    def eof_received(self) -> bool:
        if self.outgoing is not None:
            self.outgoing.close_after_pending()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.outgoing is not None:
            self.outgoing.close_after_pending()

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()


async def serve(target_port: int, one_way_s: float, listen_port: int = 0) -> None:
    """Accept on loopback and relay every connection to ``target_port`` with the delay each way."""
    loop = asyncio.get_running_loop()
    open_connections = [0]

    async def accept(client: _Side) -> None:
        try:
            _transport, server = await loop.create_connection(_Side, HOST, target_port)
        except OSError:
            if client.transport is not None:
                client.transport.close()
            return
        upstream = _Direction(loop, one_way_s, client)
        downstream = _Direction(loop, one_way_s, server)
        upstream.target, downstream.target = server.transport, client.transport
        client.outgoing, server.outgoing = upstream, downstream
        client.resume()

    class Client(_Side):
        counted = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            if open_connections[0] >= MAX_CONNECTIONS:
                transport.close()
                return
            open_connections[0] += 1
            self.counted = True
            self.pause()  # until the server side is connected: nothing may overtake the first bytes
            loop.create_task(accept(self))

        def connection_lost(self, exc: Exception | None) -> None:
            if self.counted:
                open_connections[0] -= 1
            super().connection_lost(exc)

    server = await loop.create_server(Client, HOST, listen_port, backlog=512)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"listening {port}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    target_port, one_way_ms = int(argv[0]), float(argv[1])
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(serve(target_port, one_way_ms / 1000))
    finally:
        loop.close()
    return 0


class LatencyProxy:
    """Run the proxy as a subprocess for the duration of a ``with`` block; always stop it."""

    def __init__(self, target_port: int, one_way_ms: float) -> None:
        self.target_port = target_port
        self.one_way_ms = one_way_ms
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LatencyProxy:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.latency_proxy", str(self.target_port), str(self.one_way_ms)],
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()  # the proxy prints its port once it listens
            if not line.startswith("listening "):
                raise RuntimeError(f"latency proxy did not start (exit {self.process.poll()})")
            self.port = int(line.split()[1])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


def measure_rtt(direct_url: str, proxied_url: str, samples: int = 300) -> dict[str, Any]:
    """Time ``SELECT 1`` directly and through the proxy, interleaved; the difference is what it adds."""
    import psycopg
    from sqlalchemy.engine import make_url

    def dsn(url: str) -> str:
        parsed = make_url(url)
        return f"host={parsed.host} port={parsed.port} user={parsed.username} dbname={parsed.database}"

    times: dict[str, list[float]] = {"direct": [], "proxied": []}
    with (
        psycopg.connect(dsn(direct_url), autocommit=True) as direct,
        psycopg.connect(dsn(proxied_url), autocommit=True) as proxied,
    ):
        for conn in (direct, proxied):  # warm the connections (and the statement) first
            for _ in range(10):
                conn.execute("SELECT 1").fetchone()
        for _ in range(samples):
            for name, conn in (("direct", direct), ("proxied", proxied)):
                started = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                times[name].append((time.perf_counter() - started) * 1000)
    direct_ms, proxied_ms = statistics.median(times["direct"]), statistics.median(times["proxied"])
    return {
        "samples": samples,
        "direct_ms_p50": direct_ms,
        "proxied_ms_p50": proxied_ms,
        "added_rtt_ms": proxied_ms - direct_ms,
        "proxied_ms_p99": sorted(times["proxied"])[int(0.99 * (samples - 1))],
    }


@contextmanager
def delayed_database(direct_url: str, target_rtt_ms: float) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield the port of a proxy to ``direct_url``'s server adding ``target_rtt_ms``, and what it adds.

    ``through(url, port)`` gives the URL of any database on that server through the proxy.

    Waking up on time costs the proxy ~0.1-0.2 ms per hop on this machine, so a first proxy with half
    the round trip each way adds more than asked: it is measured, and replaced once by one whose delay
    is corrected by the excess (never below zero). The figure reported is the replacement's.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(direct_url)
    one_way_ms = target_rtt_ms / 2
    with LatencyProxy(parsed.port or 5432, one_way_ms) as first:
        trial = measure_rtt(direct_url, through(direct_url, first.port))
    one_way_ms = max(0.0, one_way_ms - (trial["added_rtt_ms"] - target_rtt_ms) / 2)
    with LatencyProxy(parsed.port or 5432, one_way_ms) as proxy:
        measured = measure_rtt(direct_url, through(direct_url, proxy.port))
        measured.update(target_rtt_ms=target_rtt_ms, one_way_delay_ms=one_way_ms, uncorrected=trial)
        yield proxy.port, measured


def through(url: str, port: int) -> str:
    """The same database URL, reached through the proxy listening on ``port``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(port=port).render_as_string(hide_password=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
