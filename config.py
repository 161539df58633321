"""Configuration: the only module that reads the environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _int(name: str, default: int) -> int:
    """Read an integer setting, failing loudly on a malformed value."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def _str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def sentinel_url(sentinels: str, master: str, db: int = 0) -> str:
    """Spell a Sentinel set as one ``redis+sentinel://`` URL, so every client is built from REDIS_URL."""
    hosts = ",".join(part.strip() for part in sentinels.split(",") if part.strip())
    return f"redis+sentinel://{hosts}/{master}/{db}"


def _redis_url() -> str:
    """REDIS_SENTINELS (with REDIS_SENTINEL_MASTER) wins over REDIS_URL: several hosts find the primary."""
    sentinels = _str("REDIS_SENTINELS")
    if sentinels.strip():
        return sentinel_url(sentinels, _str("REDIS_SENTINEL_MASTER") or "mymaster", _int("REDIS_DB", 0))
    return _str("REDIS_URL") or "redis://127.0.0.1:6379/0"


COOKIE_SECURE_MODES = ("auto", "always", "never")


class Config:
    """Settings for a locally run shop; every value can be overridden from the environment.

    There is no built-in SECRET_KEY (only TestConfig has one): a constant key in the code would let
    anyone forge cart tokens and operator session cookies, so every start needs SECRET_KEY (``make
    run`` generates one per run).
    """

    ENV_NAME = "development"
    REQUIRES_SECRET_KEY = True
    SECRET_KEY = _str("SECRET_KEY")
    # Session cookies: "auto" marks them Secure when the request came over HTTPS (behind a proxy,
    # with TRUSTED_PROXY_COUNT set so X-Forwarded-Proto counts); "always" (production's default)
    # marks them Secure whatever the shop sees, for a TLS proxy it is not told about; "never".
    COOKIE_SECURE_DEFAULT = "auto"
    COOKIE_SECURE = _str("COOKIE_SECURE", COOKIE_SECURE_DEFAULT)
    DATABASE_URL = _str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'instance' / 'shop.db'}"
    # redis://host:port/db, or redis+sentinel://s1:26379,s2:26379/master/db (built from REDIS_SENTINELS).
    REDIS_URL = _redis_url()
    # This host's name in consumer and scheduler names, so rq-dashboard and the logs tell hosts apart.
    HOST_ID = _str("HOST_ID") or socket.gethostname()
    PORT = _int("PORT", 9000)

    # How long a cart hold and an unpaid order keep their units (seconds).
    HOLD_TTL_SECONDS = _int("HOLD_TTL_SECONDS", 600)
    PAYMENT_TTL_SECONDS = _int("PAYMENT_TTL_SECONDS", 900)
    # How long a request that chose the waitlist waits for a unit held in a cart to come back.
    WAITLIST_TTL_SECONDS = _int("WAITLIST_TTL_SECONDS", 900)
    # How often the sweeper expires overdue holds and orders from the database (seconds).
    SWEEP_INTERVAL_SECONDS = _int("SWEEP_INTERVAL_SECONDS", 30)
    # How often rq-scheduler moves due jobs into their lanes (seconds).
    SCHEDULER_INTERVAL_SECONDS = _int("SCHEDULER_INTERVAL_SECONDS", 1)
    # How long finished job results stay readable by their cart (seconds).
    RESULT_TTL_SECONDS = _int("RESULT_TTL_SECONDS", 86_400)

    # How long a SQLite writer waits for the database lock before the attempt fails and is retried.
    SQLITE_BUSY_TIMEOUT_MS = _int("SQLITE_BUSY_TIMEOUT_MS", 30_000)

    # The consumer: requests applied per transaction, and the lease that makes it the only one.
    BATCH_SIZE = _int("BATCH_SIZE", 200)
    LEASE_TTL_MS = _int("LEASE_TTL_MS", 10_000)
    CHECKOUT_LANES = _int("CHECKOUT_LANES", 4)
    # The operators' view of a big shop: how many lanes the activity ranking keeps (the board's
    # "hottest" order and its sparklines), and how many of those get their own series in /metrics.
    HOT_LANES = _int("HOT_LANES", 500)
    METRICS_LANES = _int("METRICS_LANES", 50)

    # Per client address. Generous on purpose: mobile carriers put many shoppers behind one address
    # (CGNAT), and each limit in a string costs a Redis round trip on every request.
    RATE_LIMIT_CART = _str("RATE_LIMIT_CART", "600/minute")
    RATE_LIMIT_PAYMENT = _str("RATE_LIMIT_PAYMENT", "120/minute")
    RATE_LIMIT_READ = _str("RATE_LIMIT_READ", "3000/minute")
    # X-RateLimit-* headers on every response cost two more Redis reads per request; off by default.
    RATE_LIMIT_HEADERS = _str("RATE_LIMIT_HEADERS", "0") not in ("0", "false", "no")
    RATE_LIMIT_ENABLED = _str("RATE_LIMIT_ENABLED", "1") not in ("0", "false", "no")
    TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
    # Whether X-Customer-Id comes from an authenticated upstream and may name the shopper (domain.shoppers).
    TRUST_CUSTOMER_ID = _str("TRUST_CUSTOMER_ID", "0") in ("1", "true", "yes")

    OPERATOR_USER = _str("OPERATOR_USER", "operator")
    # "disabled" turns the operator area off (404) whatever the password; see ProductionConfig.
    OPERATOR_AREA = _str("OPERATOR_AREA", "enabled")
    OPERATOR_PASSWORD = "" if OPERATOR_AREA == "disabled" else _str("OPERATOR_PASSWORD")

    MAX_CONTENT_LENGTH = 64 * 1024
    # Seconds a client is told to wait when Redis or the database is unreachable.
    RETRY_AFTER_SECONDS = 2
    # Seconds an operator's stock change waits for its turn in the SKU's line before answering 202.
    ADMIN_WAIT_SECONDS = _int("ADMIN_WAIT_SECONDS", 5)

    # Payment: how long a repeated request (same Idempotency-Key) waits for the first one's answer
    # before answering 409 payment_in_progress; set it above the card gateway's own timeout.
    PAYMENT_WAIT_SECONDS = _int("PAYMENT_WAIT_SECONDS", 20)
    # The longest a request may wait for its decision (Prefer: wait=N, GET /jobs/<id>?wait=N);
    # each waiting request holds a web thread while it waits.
    LONG_POLL_MAX_SECONDS = _int("LONG_POLL_MAX_SECONDS", 10)
    # How many requests one web process holds waiting at once; the others answer at once, so the
    # threads left (WEB_THREADS in the Procfile) keep serving. Default: half of WEB_THREADS.
    LONG_POLL_SLOTS = _int("LONG_POLL_SLOTS", max(1, _int("WEB_THREADS", 8) // 2))
    # The payment reconciler (run by the scheduler): how often it runs, and how old a payment still
    # "processing" must be before it asks the gateway about it (longer than any live charge takes).
    PAYMENT_RECONCILE_INTERVAL_SECONDS = _int("PAYMENT_RECONCILE_INTERVAL_SECONDS", 30)
    PAYMENT_RECONCILE_AFTER_SECONDS = _int("PAYMENT_RECONCILE_AFTER_SECONDS", 120)

    # Test hook only: while this file exists a consumer stalls inside its apply transaction.
    APPLY_PAUSE_FILE = _str("SHOP_TEST_APPLY_PAUSE_FILE")
    # Test hook only: while this file exists the simulated gateway holds a charge it made before answering.
    GATEWAY_PAUSE_FILE = _str("SHOP_TEST_GATEWAY_PAUSE_FILE")

    def __init__(self, **overrides: object) -> None:
        for key, value in overrides.items():
            setattr(self, key, value)
        if self.REQUIRES_SECRET_KEY:
            # Read when the app starts, not when this module was imported.
            secret = str(overrides.get("SECRET_KEY", _str("SECRET_KEY")))
            if not secret.strip():
                raise RuntimeError(
                    f"SECRET_KEY must be set{' in production' if self.ENV_NAME == 'production' else ''}: "
                    "a long random value that signs cart tokens and session cookies "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(48))'). "
                    "Only `make run` generates one for you."
                )
            self.SECRET_KEY = secret
        for name in ("HOT_LANES", "METRICS_LANES"):
            if int(getattr(self, name)) < 1:
                raise RuntimeError(f"{name} must be at least 1, got {getattr(self, name)!r}.")
        if "COOKIE_SECURE" not in overrides:
            self.COOKIE_SECURE = _str("COOKIE_SECURE") or self.COOKIE_SECURE_DEFAULT
        if self.COOKIE_SECURE not in COOKIE_SECURE_MODES:
            raise RuntimeError(
                f"COOKIE_SECURE must be one of {', '.join(COOKIE_SECURE_MODES)}, got {self.COOKIE_SECURE!r}."
            )


class TestConfig(Config):
    """Settings for the test suite: short timers, no rate limits unless a test turns them on."""

    __test__ = False  # not a pytest test class, despite the name
    ENV_NAME = "test"
    TESTING = True
    REQUIRES_SECRET_KEY = False
    SECRET_KEY = "test-secret-key"
    RATE_LIMIT_ENABLED = False
    OPERATOR_PASSWORD = "test-operator-password"
    SWEEP_INTERVAL_SECONDS = 1
    ADMIN_WAIT_SECONDS = 10


class ProductionConfig(Config):
    """Settings for a deployed shop: refuses to start without its secrets.

    SECRET_KEY signs cart tokens, so the development default would let anyone forge carts.
    OPERATOR_PASSWORD is required too, unless OPERATOR_AREA=disabled says explicitly that this
    shop runs without its operator area: a forgotten password then never means a silently
    missing (or open) operator area.
    """

    ENV_NAME = "production"
    COOKIE_SECURE_DEFAULT = "always"

    def __init__(self, **overrides: object) -> None:
        super().__init__(**overrides)
        area = str(overrides.get("OPERATOR_AREA", _str("OPERATOR_AREA", "enabled")))
        if area not in ("enabled", "disabled"):
            raise RuntimeError(f"OPERATOR_AREA must be enabled or disabled, got {area!r}.")
        password = str(overrides.get("OPERATOR_PASSWORD", _str("OPERATOR_PASSWORD")))
        if area == "disabled":
            password = ""
        if area == "enabled" and not password:
            raise RuntimeError(
                "OPERATOR_PASSWORD must be set in production, or OPERATOR_AREA=disabled to run the shop "
                "without its operator area."
            )
        self.OPERATOR_AREA = area
        self.OPERATOR_PASSWORD = password


def config_from_env() -> Config:
    """Pick the configuration class named by SHOP_ENV (development, production)."""
    name = _str("SHOP_ENV", "development")
    classes = {"development": Config, "production": ProductionConfig, "test": TestConfig}
    try:
        return classes[name]()
    except KeyError as exc:
        raise RuntimeError(f"SHOP_ENV must be one of {sorted(classes)}, got {name!r}") from exc
