"""Secrets and headers: security headers on every response, production refuses to start without
its secrets, and no secret (secret key, operator password, cart tokens) ever reaches a log."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rq_dashboard

from config import BASE_DIR, ProductionConfig, TestConfig, config_from_env
from shop import create_app
from shop.domain.carts import CartTokens
from tests.gunicorn_server import gunicorn
from tests.helpers import OPERATOR_HEADERS, basic, worker_env
from tests.http_server import call as http_call

SECRET_KEY = "sk-do-not-log-4f1c9e27b3a8d650"
OPERATOR_PASSWORD = "op-do-not-log-8e2d41b7c9"
RQ_TEMPLATES = Path(rq_dashboard.__file__).parent / "templates"
# A script, style sheet, image or frame loaded from another site (links to follow are fine).
LOADED_FROM_ELSEWHERE = re.compile(
    r"""<(script|img|iframe|link)\b[^>]*\b(src|href)\s*=\s*["'](https?:)?//""", re.IGNORECASE
)
GUNICORN_DEFAULT_ACCESS_LOG = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def policy(response) -> dict[str, list[str]]:
    """Parse a Content-Security-Policy header into its directives."""
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_protected(response) -> dict[str, list[str]]:
    """The headers every response carries; return the parsed policy for further checks."""
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin")
    directives = policy(response)
    assert directives["frame-ancestors"] == ["'none'"]
    return directives


def assert_no_inline_script(directives: dict[str, list[str]]) -> None:
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert not any(source.startswith(("http:", "https:", "*")) for source in scripts)


# --- headers -----------------------------------------------------------------------------------


def test_a_page_carries_the_security_headers_and_a_policy_without_inline_script(client):
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert_no_inline_script(assert_protected(response))


def test_the_operator_login_page_carries_the_security_headers(client):
    response = client.get("/admin")
    assert response.mimetype == "text/html"
    assert_no_inline_script(assert_protected(response))


def test_a_json_answer_carries_the_security_headers_and_a_deny_all_policy(client):
    response = client.get("/catalogs")
    assert response.status_code == 200
    directives = assert_protected(response)
    assert directives["default-src"] == ["'none'"]


def test_a_404_carries_the_security_headers(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert_no_inline_script(assert_protected(response))


def test_an_error_answer_of_the_api_carries_the_security_headers(client):
    response = client.post("/chart", data="not json", content_type="application/json")
    assert response.status_code == 400
    assert_protected(response)


def test_a_static_file_carries_the_security_headers(client):
    with client.get("/static/shop.css") as response:
        assert response.status_code == 200
        assert_no_inline_script(assert_protected(response))


def test_rq_dashboard_gets_a_relaxed_policy_that_still_refuses_framing(client):
    response = client.get("/rq/", headers=OPERATOR_HEADERS)
    assert response.status_code == 200
    directives = assert_protected(response)
    # Its pages carry their script inline and compile templates with underscore's _.template.
    assert '<script type="text/javascript">' in response.get_data(as_text=True)
    assert {"'self'", "'unsafe-inline'", "'unsafe-eval'"} <= set(directives["script-src"])
    assert not any(
        source.startswith(("http:", "https:", "*")) for values in directives.values() for source in values
    )


@pytest.mark.pure
def test_rq_dashboard_loads_nothing_from_other_sites():
    """Its relaxed policy allows only 'self' because its templates load nothing from elsewhere."""
    templates = list(RQ_TEMPLATES.rglob("*.html")) + list(RQ_TEMPLATES.rglob("*.js"))
    assert templates
    for template in templates:
        text = template.read_text()
        assert not LOADED_FROM_ELSEWHERE.search(text), template


@pytest.mark.pure
def test_the_shops_templates_need_no_inline_script_or_style():
    """The page policy forbids inline script and style, so no template may rely on them."""
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE
    )
    templates = list((BASE_DIR / "templates").rglob("*.html"))
    assert templates
    offenders = {str(t.relative_to(BASE_DIR)): inline.findall(t.read_text()) for t in templates}
    assert {name: found for name, found in offenders.items() if found} == {}


# --- production configuration ------------------------------------------------------------------


@pytest.fixture
def production_env(monkeypatch):
    """A production environment with both secrets set; tests take one away."""
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("OPERATOR_PASSWORD", OPERATOR_PASSWORD)
    monkeypatch.delenv("OPERATOR_AREA", raising=False)
    return monkeypatch


@pytest.mark.pure
def test_production_starts_with_its_secrets(production_env):
    config = config_from_env()
    assert isinstance(config, ProductionConfig)
    assert config.SECRET_KEY == SECRET_KEY
    assert config.OPERATOR_PASSWORD == OPERATOR_PASSWORD


@pytest.mark.pure
@pytest.mark.parametrize("value", [None, "", "   "])
def test_production_refuses_to_start_without_a_secret_key(production_env, value):
    if value is None:
        production_env.delenv("SECRET_KEY")
    else:
        production_env.setenv("SECRET_KEY", value)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set in production"):
        config_from_env()


@pytest.mark.pure
@pytest.mark.parametrize("value", [None, ""])
def test_production_refuses_to_start_without_an_operator_password(production_env, value):
    if value is None:
        production_env.delenv("OPERATOR_PASSWORD")
    else:
        production_env.setenv("OPERATOR_PASSWORD", value)
    with pytest.raises(RuntimeError, match="OPERATOR_PASSWORD must be set in production"):
        config_from_env()


def test_production_runs_without_the_operator_area_only_when_told_so(production_env, config, services):
    production_env.delenv("OPERATOR_PASSWORD")
    production_env.setenv("OPERATOR_AREA", "disabled")
    production = config_from_env()
    assert production.OPERATOR_PASSWORD == ""
    production.DATABASE_URL, production.REDIS_URL = config.DATABASE_URL, config.REDIS_URL  # ours only
    client = create_app(production, services=services).test_client()
    assert client.get("/admin/skus", headers=basic("operator", "")).status_code == 404
    assert client.get("/catalogs").status_code == 200


@pytest.mark.pure
def test_disabling_the_operator_area_ignores_a_configured_password(production_env):
    production_env.setenv("OPERATOR_AREA", "disabled")
    assert config_from_env().OPERATOR_PASSWORD == ""


@pytest.mark.pure
def test_production_refuses_an_unknown_operator_area_setting(production_env):
    production_env.setenv("OPERATOR_AREA", "off")
    with pytest.raises(RuntimeError, match="OPERATOR_AREA must be enabled or disabled"):
        config_from_env()


def test_the_wsgi_entry_point_refuses_to_start_in_production_without_a_secret_key(config):
    env = worker_env(config, SHOP_ENV="production", OPERATOR_PASSWORD=OPERATOR_PASSWORD)
    env.pop("SECRET_KEY", None)
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "RuntimeError: SECRET_KEY must be set in production" in started.stderr


# --- no secret in any log ----------------------------------------------------------------------


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret and secret in text]


class Cycle:
    """One shopper's and one operator's whole journey through the JSON API, remembering the secrets."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.cart_ids: list[str] = []

    def secrets(self) -> list[str]:
        raw_parts = [token.split(".")[0] for token in self.tokens]
        auth = basic("operator", OPERATOR_PASSWORD)["Authorization"].split()[1]
        return [SECRET_KEY, OPERATOR_PASSWORD, auth, *self.tokens, *raw_parts, *self.cart_ids]

    def run(self, call, drain) -> None:
        """Drive the API with ``call(method, path, body, headers) -> (status, headers, json)``."""
        operator = basic("operator", OPERATOR_PASSWORD)
        product = {"name": "Log test", "category": "test", "price": 1000, "on_hand": 5}
        assert call("PUT", "/admin/products/LOG-1", product, operator)[0] in (200, 201)
        assert call("GET", "/admin/skus", None, basic("operator", "wrong-" + OPERATOR_PASSWORD))[0] == 401
        status, headers, body = call("POST", "/chart", {"sku": "LOG-1", "qty": 1}, {})
        assert status == 202
        token = headers["X-Cart-Token"]
        self.tokens.append(token)
        self.cart_ids.append(CartTokens(SECRET_KEY).verify(token))
        mine = {"X-Cart-Token": token}
        drain()
        assert call("GET", body["status_url"], None, mine)[0] == 200
        status, _headers, checkout = call("POST", "/checkout", None, {**mine, "Idempotency-Key": "log-1"})
        assert status == 202
        drain()
        result = call("GET", checkout["status_url"], None, mine)[2]["result"]
        payment = {
            "order_id": result["order_id"],
            "amount": result["total"],
            "card_number": "4242424242424242",
        }
        assert call("POST", "/payment", payment, {**mine, "Idempotency-Key": "pay-1"})[0] == 200
        assert call("GET", f"/orders/{result['order_id']}", None, mine)[0] == 200
        assert call("GET", "/chart", None, mine)[0] == 200
        # Refusals that name the token: a tampered one, and another cart's job.
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert call("GET", "/chart", None, {"X-Cart-Token": tampered})[0] == 404
        status, headers, _body = call("GET", "/chart", None, {})
        self.tokens.append(headers["X-Cart-Token"])
        assert call("GET", body["status_url"], None, {"X-Cart-Token": headers["X-Cart-Token"]})[0] == 404
        assert call("POST", "/admin/audit", None, operator)[2]["ok"] is True


def test_no_secret_is_logged_in_a_request_cycle_with_every_logger_at_debug(config, services, drain, caplog):
    app_config = TestConfig(
        DATABASE_URL=config.DATABASE_URL,
        REDIS_URL=config.REDIS_URL,
        SECRET_KEY=SECRET_KEY,
        OPERATOR_PASSWORD=OPERATOR_PASSWORD,
    )
    client = create_app(app_config, services=services).test_client()

    def call(method: str, path: str, body: Any, headers: dict[str, str]):
        response = client.open(path, method=method, json=body, headers=headers)
        return response.status_code, response.headers, response.get_json()

    caplog.set_level(logging.DEBUG)
    cycle = Cycle()
    cycle.run(call, drain)
    logged = "\n".join(
        [record.getMessage() + (record.exc_text or "") for record in caplog.records] + [caplog.text]
    )
    assert any(record.name == "shop.consumer" for record in caplog.records), "the consumer logged nothing"
    assert secrets_in(logged, cycle.secrets()) == []


def test_no_secret_is_logged_by_gunicorn_or_the_consumer_at_info(config, services):
    env = worker_env(
        config,
        SHOP_ENV="production",
        SECRET_KEY=SECRET_KEY,
        OPERATOR_PASSWORD=OPERATOR_PASSWORD,
        LOG_LEVEL="INFO",
    )
    consumer_output: list[str] = []

    def drain() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "workers.consumer", "--burst"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        consumer_output.append(done.stdout + done.stderr)

    cycle = Cycle()
    with gunicorn(env, workers=2, access_log_format=GUNICORN_DEFAULT_ACCESS_LOG) as server:

        def call(method: str, path: str, body: Any, headers: dict[str, str]):
            return http_call(server.host, method, path, body, headers)

        cycle.run(call, drain)
        server.wait_for_access("POST /admin/audit")
        web_log = server.log()
    consumed = "\n".join(consumer_output)
    assert '"outcome": "held"' in consumed and '"outcome": "order_created"' in consumed
    assert '"POST /payment HTTP/1.1" 200' in web_log
    assert secrets_in(web_log, cycle.secrets()) == []
    assert secrets_in(consumed, cycle.secrets()) == []
