"""The operator API: products and stock, live per-SKU figures, pause/resume, audit, Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shop.domain.audit import audit
from shop.domain.catalog import find_product, get_product, product_view, stock_view
from shop.domain.errors import Conflict
from shop.domain.products import ProductChange, create_or_update_product
from shop.domain.requests import sku_lane
from shop.lanes import admission, pausing
from shop.lanes import metrics as monitoring
from shop.web.board_paging import sale_board_page
from shop.web.helpers import answer, json_body, services, valid_sku
from shop.web.operators import operator_required
from shop.web.schemas import requests as rq
from shop.web.schemas import responses as rs
from shop.web.schemas.products import product_change

bp = Blueprint("admin", __name__)


@bp.put("/admin/products/<sku>")
@operator_required
def put_product(sku: str) -> Response:
    sku = valid_sku(sku)
    change = product_change(json_body())
    svc = services()
    with svc.db.reading() as session:
        exists = get_product(session, sku) is not None
    stock = None
    if exists and change.on_hand is not None:
        # Stock and details change together in the SKU's line: a refused change alters nothing.
        stock = change_stock(sku, change.on_hand, change.fields, location=change.location)
        if stock.get("outcome") == "conflict":
            raise Conflict(
                "on_hand cannot go below the units reserved in carts and orders or allocated to paid ones.",
                code="below_reserved",
                **{k: v for k, v in stock.items() if k != "outcome"},
            )
        created = False
        if change.uoms is not None:
            with svc.db.writing() as session:
                create_or_update_product(session, sku, ProductChange({}, None, change.uoms))
    else:
        with svc.db.writing() as session:
            _product, created = create_or_update_product(session, sku, change)
    with svc.db.reading() as session:
        product = find_product(session, sku)
        body = product_view(product)
        body["stock"] = stock_view(product)
    admission.cache_product(svc, product)
    body["stock_change"] = stock
    status = 201 if created else (202 if stock and stock.get("outcome") == "queued" else 200)
    return answer(rs.OperatorProduct, body, status)


def change_stock(
    sku: str, on_hand: int, fields: dict, wait_s: float | None = None, location: str | None = None
) -> dict:
    """Queue a stock change and wait briefly for its turn, so the operator sees the result.

    Past the wait the answer is ``queued`` with the job to poll (the view answers 202).
    """
    svc = services()
    adm = admission.request_stock_change(svc, sku, on_hand, fields, location)
    wait = current_app.config["ADMIN_WAIT_SECONDS"] if wait_s is None else wait_s
    return admission.await_result(svc, adm, wait)


@bp.get("/admin/skus")
@operator_required
def skus() -> Response:
    svc = services()
    return answer(rs.SaleBoard, sale_board_page(svc, rq.board_query(request.args, svc.config.SECRET_KEY)))


def _known_sku(sku: str) -> str:
    sku = valid_sku(sku)
    with services().db.reading() as session:
        find_product(session, sku)
    return sku


def _set_paused(sku: str, paused: bool) -> Response:
    sku = _known_sku(sku)
    (pausing.pause_lane if paused else pausing.resume_lane)(services(), sku_lane(sku))
    return answer(rs.PauseState, {"sku": sku, "paused": paused})


@bp.post("/admin/skus/<sku>/pause")
@operator_required
def pause(sku: str) -> Response:
    return _set_paused(sku, True)


@bp.post("/admin/skus/<sku>/resume")
@operator_required
def resume(sku: str) -> Response:
    return _set_paused(sku, False)


@bp.post("/admin/audit")
@operator_required
def run_audit() -> Response:
    with services().db.writing() as session:
        report = audit(session)
    return answer(rs.AuditReport, report.to_dict())


@bp.get("/metrics")
@operator_required
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    svc = services()
    registry.register(monitoring.ShopCollector(svc.redis, lanes=svc.config.METRICS_LANES))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
