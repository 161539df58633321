"""No start but the tests' uses a built-in SECRET_KEY, and session cookies are Secure over HTTPS.

``make run`` generates a key per run (devtools/run_local.py). Every other start — the Procfile's
processes, gunicorn, a consumer started by hand — reads SECRET_KEY from the environment and
refuses to run without it; the Procfile runs the production config, which also requires
OPERATOR_PASSWORD unless OPERATOR_AREA=disabled and always marks session cookies Secure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from config import BASE_DIR, Config, config_from_env
from devtools.redis_server import free_port
from shop import create_app
from tests.helpers import worker_env

# The key the development config used to fall back to; it is public (it was in config.py).
OLD_DEVELOPMENT_KEY = "dev-only-insecure-secret-key"
OPERATOR_PASSWORD = "secrets-test-operator-password"
STARTUP_TIMEOUT_S = 60


def procfile() -> dict[str, str]:
    """The Procfile's processes: name -> command line."""
    lines = Path(BASE_DIR, "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


PROCESSES = procfile()


def start_as_deployed(config, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a Procfile command the way a process manager does (sh -c), without SHOP_ENV or secrets."""
    environment = worker_env(config, PORT=str(free_port()), **env)
    for name in ("SHOP_ENV", "SECRET_KEY", "OPERATOR_PASSWORD", "OPERATOR_AREA"):
        if name not in env:
            environment.pop(name, None)
    environment["PATH"] = f"{BASE_DIR / '.venv' / 'bin'}{os.pathsep}{environment.get('PATH', '')}"
    process = subprocess.Popen(
        ["sh", "-c", command],
        cwd=BASE_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=STARTUP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        output, _ = process.communicate()
        output = f"still running after {STARTUP_TIMEOUT_S} s:\n{output}"
    return subprocess.CompletedProcess(command, process.returncode, output)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_procfile_process_refuses_to_start_without_a_secret_key(config, name):
    started = start_as_deployed(config, PROCESSES[name], OPERATOR_PASSWORD=OPERATOR_PASSWORD)

    assert started.returncode not in (0, None), started.stdout[-2000:]
    assert "SECRET_KEY must be set" in started.stdout, started.stdout[-2000:]


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_procfile_process_refuses_to_start_without_an_operator_password(config, name):
    started = start_as_deployed(config, PROCESSES[name], SECRET_KEY="a-deployed-secret-key-0123456789")

    assert started.returncode not in (0, None), started.stdout[-2000:]
    assert "OPERATOR_PASSWORD must be set" in started.stdout, started.stdout[-2000:]


@pytest.mark.pure
def test_the_development_config_has_no_built_in_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SHOP_ENV", "development")

    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        config_from_env()


def forged_operator_cookie() -> str:
    """A session cookie saying {"operator": true}, signed with the old development key."""
    forger = Flask("forger")
    forger.secret_key = OLD_DEVELOPMENT_KEY
    return SecureCookieSessionInterface().get_signing_serializer(forger).dumps({"operator": True})


@pytest.mark.parametrize(
    "environment",
    [
        pytest.param({"OPERATOR_PASSWORD": OPERATOR_PASSWORD}, id="started-without-secret-key"),
        pytest.param(
            {
                "SHOP_ENV": "production",
                "SECRET_KEY": "deployed-key-0123456789abcdef",
                "OPERATOR_PASSWORD": "x",
            },
            id="production",
        ),
    ],
)
def test_a_session_cookie_forged_with_the_development_key_reaches_no_operator_route(
    monkeypatch, config, services, environment
):
    for name in ("SHOP_ENV", "SECRET_KEY", "OPERATOR_PASSWORD", "OPERATOR_AREA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    try:
        deployed = config_from_env()
    except RuntimeError as refused:
        assert "SECRET_KEY must be set" in str(refused)
        return  # no shop started, so no cookie can reach it
    deployed.DATABASE_URL, deployed.REDIS_URL = config.DATABASE_URL, config.REDIS_URL
    client = create_app(deployed, services=services).test_client()
    client.set_cookie("session", forged_operator_cookie(), domain="localhost")

    response = client.get("/admin/skus")

    assert response.status_code == 401


def set_cookie_of(response) -> str:
    cookies = response.headers.getlist("Set-Cookie")
    (session,) = [c for c in cookies if c.startswith("session=")]
    return session


def test_production_marks_the_session_cookie_secure(monkeypatch, config, services):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "deployed-key-0123456789abcdef")
    monkeypatch.setenv("OPERATOR_PASSWORD", OPERATOR_PASSWORD)
    monkeypatch.delenv("COOKIE_SECURE", raising=False)
    production = config_from_env()
    production.DATABASE_URL, production.REDIS_URL = config.DATABASE_URL, config.REDIS_URL
    # Served over plain HTTP behind a TLS-terminating proxy the shop was not told about.
    client = create_app(production, services=services).test_client()

    cookie = set_cookie_of(client.get("/admin/login"))

    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(("base_url", "secure"), [("https://localhost", True), ("http://localhost", False)])
def test_by_default_the_session_cookie_is_secure_exactly_when_served_over_https(
    config, services, base_url, secure
):
    development = type(config)(DATABASE_URL=config.DATABASE_URL, REDIS_URL=config.REDIS_URL)
    client = create_app(development, services=services).test_client()

    cookie = set_cookie_of(client.get("/admin/login", base_url=base_url))

    assert ("; Secure" in cookie) is secure


@pytest.mark.pure
def test_an_unknown_cookie_secure_setting_is_refused(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-key-0123456789abcdef")
    monkeypatch.setenv("COOKIE_SECURE", "sometimes")

    with pytest.raises(RuntimeError, match="COOKIE_SECURE must be one of"):
        Config()


@pytest.mark.pure
def test_the_procfile_runs_the_production_config():
    for name, command in PROCESSES.items():
        assert command.startswith("SHOP_ENV=${SHOP_ENV:-production} "), name
