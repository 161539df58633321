"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response

from shop.web.helpers import answer, services
from shop.web.schemas import responses as rs

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return answer(rs.Health, {"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready only when both Redis and the database answer; the body says which one does not."""
    svc = services()
    checks = {}
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure means not ready, whatever its type
        checks["redis"] = f"error: {type(exc).__name__}"
    try:
        svc.db.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    response = answer(
        rs.Readiness, {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
    )
    if not ready:
        response.headers["Retry-After"] = "2"
    return response
