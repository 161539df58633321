"""Serve the app over real HTTP on a free loopback port, in a background thread, for load-style tests."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server

from devtools.redis_server import free_port


@contextmanager
def serve(app) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def call(host: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
    """Make one HTTP request; return (status, headers, parsed JSON body)."""
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data) if data else None
    finally:
        conn.close()
