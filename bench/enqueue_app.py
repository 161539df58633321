"""The yardstick for ``POST /chart``: a bare Flask route that only enqueues an RQ job.

No validation, no cart token, no rate limit, no ticket: ``Queue.enqueue`` and a 202. Served by
gunicorn with the Procfile's settings as ``bench.enqueue_app:create_app()``; bench only.
"""

from __future__ import annotations

import uuid

from flask import Flask, Response, jsonify, request
from redis import Redis
from rq import Queue

from config import config_from_env


def create_app() -> Flask:
    """Build the one-route app on the shop's Redis."""
    config = config_from_env()
    app = Flask(__name__)
    queue = Queue("bench-bare", connection=Redis.from_url(config.REDIS_URL))

    @app.get("/")
    def up() -> str:
        return "ok"

    @app.post("/enqueue")
    def enqueue() -> tuple[Response, int]:
        body = request.get_json(force=True)
        job = queue.enqueue(
            "workers.jobs.hold", kwargs={"cart_id": uuid.uuid4().hex, "sku": body["sku"], "qty": body["qty"]}
        )
        return jsonify({"job_id": job.id, "status": "queued"}), 202

    return app
