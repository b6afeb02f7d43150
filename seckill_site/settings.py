"""Settings: everything from the environment, with a default that works on a laptop.

Every variable read here is listed, with a one-line comment, in `.env.example`. A `.env` file beside manage.py
(or the file SECKILL_DOTENV names; empty: none) is read here, with exported variables winning, so that
manage.py, the web server, the worker, beat and the run command all see the same values.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import environ
from django.core.exceptions import ImproperlyConfigured

from seckill_site.rates import parse_rate_rules
from seckill_site.secret_key import secret_key_is_strong

BASE_DIR = Path(__file__).resolve().parent.parent

_dotenv = os.environ.get("SECKILL_DOTENV", str(BASE_DIR / ".env"))
if _dotenv and Path(_dotenv).is_file():
    # https://django-environ.readthedocs.io/en/latest/api.html#environ.Env.read_env
    environ.Env.read_env(_dotenv)


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# Signs every access token and purchase token: anyone who knows it can buy as anyone. No process starts
# without a strong one, whatever else is set (the run command writes a random one into .env, the tests and the
# benchmark make their own); `python -c "import secrets; print(secrets.token_urlsafe(50))"` makes one.
SECRET_KEY = env("DJANGO_SECRET_KEY", "")
if not secret_key_is_strong(SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be a random value of at least 50 characters (it signs every token). Set it in "
        'the environment or .env; make one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

# Served over HTTPS behind a TLS-terminating proxy (which sets X-Forwarded-Proto): secure cookies, HSTS, and
# plain HTTP redirected. `manage.py check --deploy` passes with it (a test proves it).
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
HTTPS = env_bool("DJANGO_HTTPS", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # a load balancer probes over plain HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = int(env("DJANGO_HSTS_SECONDS", "31536000" if HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
# Origins a browser may POST forms from (the admin behind a proxy), e.g. https://shop.example.com
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the docs page's scripts and styles, served from here (never a CDN)
    "products",
    "seckill",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files under gunicorn (only requests under STATIC_URL touch it).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "seckill_site.urls"
WSGI_APPLICATION = "seckill_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# DATABASE_URL: SQLite by default, postgres://user@host:5432/name works too.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Reuse connections: reopening one per request costs more than the request (docs/traps.md).
        conn_max_age=int(env("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the worker's writes; IMMEDIATE takes the write lock at BEGIN so that
    # concurrent writers wait (up to `timeout`) instead of failing with "database is locked" mid-transaction.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if DATABASES["default"]["NAME"] == ":memory:" else 60
    # A worker in another process must see the test database, so it lives in a file (docs/traps.md).
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_SQLITE_NAME", str(BASE_DIR / ".test-db.sqlite3"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# manage.py test runs the pytest suite (pytest-django), in a child process with the test settings.
TEST_RUNNER = "seckill_site.test_runner.PytestTestRunner"

# --- Redis: the gate (stock, buyers), the Celery broker and the result backend -------------------------
# One URL by default; the broker and the result backend can be split off.
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis connections one process may open (per pool: the gate's, the broker's, the result backend's).
SECKILL_REDIS_MAX_CONNECTIONS = int(env("SECKILL_REDIS_MAX_CONNECTIONS", "500"))

# --- DRF ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Stateless JWT: the token is verified from its signature alone, no database query per request.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "seckill_site.authentication.FastJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["seckill_site.parsers.SafeJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "seckill_site.negotiation.JSONOnlyNegotiation",
    "EXCEPTION_HANDLER": "seckill_site.exception_handler.handle_exception",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema (/api/schema/) and its docs page (/api/docs/).
# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "seckill",
    "DESCRIPTION": "A flash-sale backend. Every error body is {code, detail}; the codes of each status are listed "
    "with it. Authenticated endpoints take `Authorization: Bearer <access token>` (POST /api/auth/token/).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# https://django-rest-framework-simplejwt.readthedocs.io/en/latest/settings.html
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=int(env("JWT_ACCESS_LIFETIME", str(24 * 3600)))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
    "UPDATE_LAST_LOGIN": False,
}

# --- The flash sale -------------------------------------------------------------------------------------
# Seconds the purchase view waits on the task's AsyncResult before answering 202 pending.
SECKILL_RESULT_TIMEOUT = float(env("SECKILL_RESULT_TIMEOUT", "3"))
# How long a request's record (owner, outcome) is kept for GET /api/seckill/requests/<id>/.
SECKILL_REQUEST_TTL = int(env("SECKILL_REQUEST_TTL", str(24 * 3600)))

# A request with no outcome after this many seconds is enqueued again (its broker message may be lost with a
# killed worker, or held unacknowledged until the visibility timeout) ... With the sweep's interval this bounds
# how long a buyer waits after a worker dies (docs/reliability.md). Running a request again is safe (it is
# decided once); what it costs is a second delivery of requests slower than this: raise it if tasks run long.
SECKILL_REDELIVER_AFTER = float(env("SECKILL_REDELIVER_AFTER", "5"))
# ... and after this many it is abandoned: refused for good (`unavailable`), unless Redis sold it (then it runs again).
SECKILL_GIVE_UP_AFTER = float(env("SECKILL_GIVE_UP_AFTER", "3600"))
# How often beat runs that sweep (one Redis read when nothing is pending).
SECKILL_SWEEP_INTERVAL = float(env("SECKILL_SWEEP_INTERVAL", "2"))
# How often beat compares Redis' blacklist mirror with the database (a read of the entries and inactive users).
SECKILL_BLACKLIST_RECONCILE_INTERVAL = float(env("SECKILL_BLACKLIST_RECONCILE_INTERVAL", "10"))

# Prometheus metrics at /metrics (seckill/metrics.py); 0: nothing recorded. Several processes share their samples
# through PROMETHEUS_MULTIPROC_DIR (a directory wiped before they start: the run command sets .run/prometheus).
SECKILL_METRICS = env_bool("SECKILL_METRICS", True)

# --- Orders after the sale ------------------------------------------------------------------------------
# Seconds a buyer has to pay an order before it expires and its units go back on sale; 0: orders are born paid.
SECKILL_PAYMENT_WINDOW = int(env("SECKILL_PAYMENT_WINDOW", "900"))
# POST /api/orders/<id>/pay/ pays an order without a provider (a stand-in for a checkout, for demos): off unless set.
SECKILL_DEMO_PAYMENTS = env_bool("SECKILL_DEMO_PAYMENTS", False)
# The payment provider's webhook signing secret (Seckill-Signature); empty: the webhook refuses every call.
SECKILL_PAYMENT_WEBHOOK_SECRET = env("SECKILL_PAYMENT_WEBHOOK_SECRET", "")
# Seconds a webhook signature stays valid (replays older than this are refused).
SECKILL_PAYMENT_WEBHOOK_TOLERANCE = int(env("SECKILL_PAYMENT_WEBHOOK_TOLERANCE", "300"))
# How often beat expires due orders, and how many one transaction expires.
SECKILL_EXPIRE_INTERVAL = float(env("SECKILL_EXPIRE_INTERVAL", "5"))
SECKILL_EXPIRE_BATCH = int(env("SECKILL_EXPIRE_BATCH", "500"))
# How often beat checks that Redis and the database agree (report only), and how long a sale may be decided in
# Redis without its order before that counts as drift (its task may still be retrying).
SECKILL_RECONCILE_INTERVAL = float(env("SECKILL_RECONCILE_INTERVAL", "60"))
SECKILL_RECONCILE_GRACE = float(env("SECKILL_RECONCILE_GRACE", "120"))

# --- The access layer's guards ---------------------------------------------------------------------------
# Rate limits per buyer and per client address, e.g. "5/s,60/m" (empty: off). Many buyers can share one
# address (mobile carriers, offices), so the per-address limit is off unless set.
SECKILL_USER_RATE_RULES = parse_rate_rules(env("SECKILL_USER_RATE_LIMIT", "5/s,60/m"))
SECKILL_IP_RATE_RULES = parse_rate_rules(env("SECKILL_IP_RATE_LIMIT", ""))
# Password logins (POST /api/auth/token/) per user name and per client address: each try is a slow password hash
# on the web tier that serves purchases, and unlimited tries guess passwords.
SECKILL_LOGIN_USER_RATE_RULES = parse_rate_rules(env("SECKILL_LOGIN_USER_RATE_LIMIT", "10/m,50/h"))
SECKILL_LOGIN_IP_RATE_RULES = parse_rate_rules(env("SECKILL_LOGIN_IP_RATE_LIMIT", "60/m"))
# Refusals within a minute that earn a temporary ban (0: no bans), and the ban's length. Never permanent.
SECKILL_BAN_AFTER_BREACHES = int(env("SECKILL_BAN_AFTER_BREACHES", "0"))
SECKILL_BAN_TTL = int(env("SECKILL_BAN_TTL", "60"))
# Seconds between a web process' checks for blacklist changes (a change reaches every process within it).
SECKILL_BLACKLIST_REFRESH = float(env("SECKILL_BLACKLIST_REFRESH", "0.5"))
# Proxies in front of the web server (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For is
# believed; empty: REMOTE_ADDR only, the header never.
SECKILL_TRUSTED_PROXIES = tuple(ipaddress.ip_network(n, strict=False) for n in env_list("SECKILL_TRUSTED_PROXIES", ""))
# Hosts whose Origin (or Referer) may buy, comma-separated; empty: any.
SECKILL_ALLOWED_ORIGINS = frozenset(h.lower() for h in env_list("SECKILL_ALLOWED_ORIGINS", ""))
# At most ceil(stock_left * factor) purchase requests per product in flight to the logic layer.
SECKILL_ADMISSION_FACTOR = float(env("SECKILL_ADMISSION_FACTOR", "1.5"))
# Seconds after which an admission slot frees itself if its task never finished (its worker died); the sweeper
# re-runs such requests, which frees their slots sooner (a slot is freed when the outcome is recorded).
SECKILL_ADMISSION_SLOT_TTL = float(env("SECKILL_ADMISSION_SLOT_TTL", "300"))
# Seconds a web process keeps a product's sale state (window, limit, sold out) without asking Redis.
SECKILL_LOCAL_CACHE_TTL = float(env("SECKILL_LOCAL_CACHE_TTL", "1"))
# Largest request body the API reads.
SECKILL_MAX_BODY_BYTES = int(env("SECKILL_MAX_BODY_BYTES", "4096"))
# Seconds an Idempotency-Key keeps answering with its first request's outcome.
SECKILL_IDEMPOTENCY_TTL = int(env("SECKILL_IDEMPOTENCY_TTL", str(24 * 3600)))

# Mount the benchmark's comparator endpoints under /bench/ (bench/run.py sets it; never in production).
SECKILL_BENCH_ENDPOINTS = env_bool("SECKILL_BENCH_ENDPOINTS", False)

# --- Celery (logic layer) -------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# At-least-once delivery: ack after the task ran, and give the message back if the child process dies.
# The task is idempotent per request id, so a redelivery never sells twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A worker holds up to this many unacknowledged messages per pool process, those running included. More than 1
# lets it hand a process several waiting purchases as one job (seckill_site/worker_batches.py); a worker killed
# outright gives them back after the visibility timeout, or the sweeper re-enqueues them sooner.
CELERY_WORKER_PREFETCH_MULTIPLIER = int(env("CELERY_WORKER_PREFETCH_MULTIPLIER", "8"))
# At most this many purchase requests in one pool job (1: each on its own, as Celery does).
SECKILL_WORKER_BATCH_MAX = int(env("SECKILL_WORKER_BATCH_MAX", "8"))
# Celery's Django fixup closes the database connection around every task unless this is set; with it, every
# 1000 tasks, and seckill_site/celery.py recycles connections per task as Django does per request. After a
# database restart the first task of each worker process fails once on the dead connection (a purchase retries).
CELERY_DB_REUSE_MAX = int(env("CELERY_DB_REUSE_MAX", "1000"))
# Results are read by the waiting view within seconds; our own request record keeps the outcome longer.
CELERY_RESULT_EXPIRES = int(env("CELERY_RESULT_EXPIRES", "3600"))
# Unacked messages come back after this many seconds. Tasks take milliseconds; no countdown may exceed it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", "300")),
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
    # kombu's Redis pool raises "Too many connections" (it does not wait) past this: every web thread that
    # publishes at the same moment needs one. Keep it above the web process's thread count.
    "max_connections": SECKILL_REDIS_MAX_CONNECTIONS,
}
CELERY_BROKER_POOL_LIMIT = int(env("CELERY_BROKER_POOL_LIMIT", "100"))
CELERY_REDIS_MAX_CONNECTIONS = SECKILL_REDIS_MAX_CONNECTIONS
# Fail fast when the broker is down: the view answers 503 instead of hanging (docs/traps.md).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# The result backend's pub/sub reconnect retries 20 times by default: a view waiting across a Redis outage hung
# ~19 s and then failed. A short policy lets the wait end near its timeout (docs/traps.md).
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
}
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Maintenance runs on its own queue, so that it never waits behind a burst of purchases (workers consume both:
# `-Q celery,maintenance`); a sweep not run within one interval is dropped, the next one does its work.
CELERY_IMPORTS = ["bench.tasks"] if SECKILL_BENCH_ENDPOINTS else []
CELERY_TASK_ROUTES = {
    "seckill.sweep_pending": {"queue": "maintenance"},
    "seckill.reconcile_blacklist": {"queue": "maintenance"},
    "seckill.expire_orders": {"queue": "maintenance"},
    "seckill.reconcile": {"queue": "maintenance"},
}
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-purchases": {
        "task": "seckill.sweep_pending",
        "schedule": SECKILL_SWEEP_INTERVAL,
        "options": {"expires": SECKILL_SWEEP_INTERVAL},
    },
    "reconcile-blacklist": {
        "task": "seckill.reconcile_blacklist",
        "schedule": SECKILL_BLACKLIST_RECONCILE_INTERVAL,
        "options": {"expires": SECKILL_BLACKLIST_RECONCILE_INTERVAL},
    },
    "expire-orders": {
        "task": "seckill.expire_orders",
        "schedule": SECKILL_EXPIRE_INTERVAL,
        "options": {"expires": SECKILL_EXPIRE_INTERVAL},
    },
    "reconcile": {
        "task": "seckill.reconcile",
        "schedule": SECKILL_RECONCILE_INTERVAL,
        "options": {"expires": SECKILL_RECONCILE_INTERVAL},
    },
}

# LOG_FORMAT=json: one JSON object per line, for a log shipper; plain otherwise. Every line carries the
# purchase request it is about (request_id, "-" when none): seckill_site/log_context.py.
LOG_FORMAT = env("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "seckill_site.log_context.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # Django logs every 4xx as a warning; in a flash sale nearly every answer is a 409, and writing one log line
    # per loser costs the hot path more than the answer itself. 5xx are still logged.
    "loggers": {"django.request": {"level": env("DJANGO_REQUEST_LOG_LEVEL", "ERROR")}},
}
