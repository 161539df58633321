"""Operators: authentication on every operator route, pause/resume, the board, rq-dashboard, metrics, CLI."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from shop.domain.requests import sku_lane
from shop.lanes.admission import request_hold
from shop.storage.models import AppliedRequest, Product
from tests.helpers import OPERATOR as RIGHT
from tests.helpers import basic

SKU = "OPS-1"
OPERATOR_ROUTES = [
    ("GET", "/admin"),
    ("GET", "/admin/skus"),
    ("POST", "/admin/skus/OPS-1/pause"),
    ("POST", "/admin/skus/OPS-1/resume"),
    ("POST", "/admin/audit"),
    ("PUT", "/admin/products/OPS-1"),
    ("POST", "/admin/board/OPS-1/pause"),
    ("GET", "/admin/board/OPS-1"),
    ("GET", "/metrics"),
    ("GET", "/rq/"),
    ("GET", "/rq/0/data/queues.json"),
    ("GET", "/rq/0/data/workers.json"),
]


@pytest.mark.parametrize(("method", "path"), OPERATOR_ROUTES)
def test_operator_routes_refuse_requests_without_credentials(client, product, method, path):
    assert client.open(path, method=method).status_code == 401


@pytest.mark.parametrize(("method", "path"), OPERATOR_ROUTES)
@pytest.mark.parametrize("credentials", [("operator", "wrong"), ("someone", RIGHT[1]), ("", "")])
def test_operator_routes_refuse_wrong_credentials(client, product, method, path, credentials):
    assert client.open(path, method=method, headers=basic(*credentials)).status_code == 401


@pytest.mark.parametrize(("method", "path"), OPERATOR_ROUTES)
def test_operator_routes_serve_the_operator(client, product, method, path):
    body = {"name": "Renamed"} if method == "PUT" else None
    response = client.open(path, method=method, headers=basic(*RIGHT), json=body)
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:300]


@pytest.mark.parametrize(
    "credentials", [("operator", "wrong"), ("someone", RIGHT[1]), ("operator", RIGHT[1] + "x"), ("", "")]
)
def test_credentials_are_refused_after_the_right_ones_were_accepted(client, product, credentials):
    # The accepted password is remembered to spare its slow hash: nothing else may pass for it.
    assert client.get("/admin/skus", headers=basic(*RIGHT)).status_code == 200
    assert client.get("/admin/skus", headers=basic(*credentials)).status_code == 401
    assert client.get("/admin/skus", headers=basic(*RIGHT)).status_code == 200


def test_the_json_api_offers_basic_auth_on_401(client, product):
    assert client.get("/admin/skus").headers["WWW-Authenticate"].startswith("Basic")


def test_a_page_refused_for_want_of_login_shows_the_login_form(client, product):
    response = client.get("/admin")
    assert response.status_code == 401
    assert 'name="password"' in response.get_data(as_text=True)


def _csrf(html: str) -> dict[str, str]:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return {"csrf_token": found.group(1)} if found else {}


def test_an_operator_logs_in_and_sees_the_board(client, product):
    form = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login", data={"username": RIGHT[0], "password": RIGHT[1], "next": "/admin", **_csrf(form)}
    )
    assert response.status_code == 303
    board = client.get("/admin")
    assert board.status_code == 200
    html = board.get_data(as_text=True)
    assert "OPS-1" in html and "rq-dashboard" in html and "<svg" in html


def test_a_wrong_password_on_the_login_form_is_refused(client, product):
    form = client.get("/admin/login").get_data(as_text=True)
    response = client.post("/admin/login", data={"username": "operator", "password": "nope", **_csrf(form)})
    assert response.status_code == 401
    assert client.get("/admin").status_code == 401


def test_the_login_never_redirects_off_site(client, product):
    form = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login",
        data={"username": RIGHT[0], "password": RIGHT[1], "next": "//evil.example/", **_csrf(form)},
    )
    assert response.headers["Location"].endswith("/admin")


def test_the_operator_area_does_not_exist_without_a_password(config, services, product):
    from config import TestConfig
    from shop import create_app

    bare = TestConfig(DATABASE_URL=config.DATABASE_URL, REDIS_URL=config.REDIS_URL, OPERATOR_PASSWORD="")
    client = create_app(bare, services=services).test_client()
    for method, path in OPERATOR_ROUTES:
        assert client.open(path, method=method, headers=basic(*RIGHT)).status_code == 404, path


def test_rq_dashboard_refuses_cross_site_posts_even_for_operators(client, product):
    response = client.post(
        "/rq/queue/sku:OPS-1/queued/empty", headers={**basic(*RIGHT), "Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert client.get("/rq/requeue/sku:OPS-1", headers=basic(*RIGHT)).status_code == 403


def test_requests_queue_up_while_paused_and_apply_in_order_after_resume(client, services, product, drain):
    assert client.post("/admin/skus/OPS-1/pause", headers=basic(*RIGHT)).get_json()["paused"] is True
    admitted = [request_hold(services, f"cart{i:036d}", product, 1) for i in range(4)]
    assert drain() == 0
    states = [services.lanes.view(a.job_id) for a in admitted]
    assert [s.status for s in states] == ["queued"] * 4
    assert [s.position for s in states] == [0, 1, 2, 3]
    row = client.get("/admin/skus", headers=basic(*RIGHT)).get_json()["skus"][0]
    assert (row["sku"], row["paused"], row["queue_length"], row["available"]) == ("OPS-1", True, 4, 10)

    client.post("/admin/skus/OPS-1/resume", headers=basic(*RIGHT))
    assert drain(batch_size=1) == 4
    tickets = [services.lanes.view(a.job_id).result for a in admitted]
    assert [t["outcome"] for t in tickets] == ["held"] * 4
    with services.db.reading() as session:
        ledger = session.scalars(
            select(AppliedRequest).where(AppliedRequest.kind == "hold").order_by(AppliedRequest.applied_at)
        ).all()
    assert [row.ticket for row in ledger] == [1, 2, 3, 4]


def test_the_sku_figures_show_stock_line_and_holds_expiring_soon(client, services, config, product, drain):
    config.HOLD_TTL_SECONDS = 30
    request_hold(services, "c" * 40, product, 3)
    drain()
    request_hold(services, "d" * 40, product, 1)
    row = client.get("/admin/skus", headers=basic(*RIGHT)).get_json()["skus"][0]
    assert row["reserved"] == 3 and row["available"] == 7 and row["on_hand"] == 10
    assert row["expiring_next_minute"] == 3
    assert row["queue_length"] == 1 and row["last_ticket"] == 2 and row["now_serving"] == 1
    assert row["applied_per_second"] > 0


def test_the_audit_endpoint_reports_a_clean_database(client, product):
    report = client.post("/admin/audit", headers=basic(*RIGHT)).get_json()
    assert report["ok"] is True and report["checked"]["products"] == 1


def test_metrics_move_when_holds_are_applied(client, services, product, drain):
    def scrape() -> str:
        return client.get("/metrics", headers=basic(*RIGHT)).get_data(as_text=True)

    request_hold(services, "c" * 40, product, 2)
    before = scrape()
    assert 'shop_queue_depth{lane="sku:OPS-1"} 1.0' in before
    drain()
    after = scrape()
    assert 'shop_requests_applied_total{lane="sku:OPS-1",outcome="held"} 1.0' in after
    assert 'shop_queue_depth{lane="sku:OPS-1"} 0.0' in after
    assert "shop_job_wait_seconds_count 1.0" in after
    assert "shop_job_apply_seconds_count 1.0" in after
    assert "shop_rate_limited_total" in after


def test_the_cli_sets_stock_through_the_line(app, services, product, drain):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shop", "set-stock", "OPS-1", "25", "--wait", "0"])
    assert result.exit_code == 0 and json.loads(result.output)["outcome"] == "queued"
    drain()
    with services.db.reading() as session:
        assert session.get(Product, "OPS-1").on_hand == 25


def test_the_cli_refuses_stock_below_what_is_reserved(app, services, product, drain, spawn):
    request_hold(services, "c" * 40, product, 4)
    drain()
    spawn("workers.consumer")
    result = app.test_cli_runner().invoke(args=["shop", "set-stock", "OPS-1", "3"])
    assert result.exit_code == 1
    assert json.loads(result.output)["outcome"] == "conflict"
    with services.db.reading() as session:
        assert session.get(Product, "OPS-1").on_hand == 10


def test_the_cli_pauses_and_resumes_a_sku(app, services, product):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["shop", "pause", "OPS-1"]).exit_code == 0
    assert services.lanes.is_paused(sku_lane("OPS-1"))
    assert runner.invoke(args=["shop", "resume", "OPS-1"]).exit_code == 0
    assert not services.lanes.is_paused(sku_lane("OPS-1"))
    assert runner.invoke(args=["shop", "pause", "NOPE"]).exit_code != 0


@pytest.mark.parametrize("command", ["seed", "audit", "set-stock", "pause", "resume", "sweep", "init-db"])
def test_every_cli_command_explains_itself(app, command):
    result = app.test_cli_runner().invoke(args=["shop", command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_the_board_draws_sparklines_from_recorded_samples(client, services, product, drain):
    from shop.lanes.metrics import record_samples

    record_samples(services)
    request_hold(services, "c" * 40, product, 2)
    record_samples(services)
    drain()
    record_samples(services)
    row = client.get("/admin/skus", headers=basic(*RIGHT)).get_json()["skus"][0]
    assert [p["queue"] for p in row["history"]] == [0, 1, 0]
    assert [p["available"] for p in row["history"]] == [10, 10, 8]
    html = client.get("/admin", headers=basic(*RIGHT)).get_data(as_text=True)
    assert re.search(r'<polyline class="stock" points="[0-9., ]+"', html)


def test_a_logged_in_operator_cannot_be_made_to_pause_a_sku_by_another_site(client, services, product):
    form = client.get("/admin/login").get_data(as_text=True)
    client.post("/admin/login", data={"username": RIGHT[0], "password": RIGHT[1], **_csrf(form)})
    forged = client.post("/admin/board/OPS-1/pause", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    assert not services.lanes.is_paused(sku_lane("OPS-1"))
    board = client.get("/admin").get_data(as_text=True)
    honest = client.post("/admin/board/OPS-1/pause", data=_csrf(board))
    assert honest.status_code == 303
    assert services.lanes.is_paused(sku_lane("OPS-1"))
