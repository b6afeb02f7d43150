"""Django, DRF, security and logs."""

from datetime import timedelta

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from seckill_site.secret_key import secret_key_is_strong
from seckill_site.settings.env import BASE_DIR, env, env_bool, env_list

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

# Keys that verify what the former keys signed, never sign: rotation without logging every buyer out. Put the old
# key here, the new one in DJANGO_SECRET_KEY; remove it once tokens signed with it have expired (JWT_ACCESS_LIFETIME,
# a refresh token's 7 days). simplejwt's tokens honour them too (seckill_site/tokens.py).
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key-fallbacks
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")
if not all(secret_key_is_strong(key) for key in SECRET_KEY_FALLBACKS):
    raise ImproperlyConfigured("Each DJANGO_SECRET_KEY_FALLBACKS key must be a strong key, as DJANGO_SECRET_KEY.")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

# Served over HTTPS behind a TLS-terminating proxy (which sets X-Forwarded-Proto): secure cookies, HSTS, and
# plain HTTP redirected. `manage.py check --deploy` passes with it (a test proves it).
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
HTTPS = env_bool("DJANGO_HTTPS", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes and scrapes come over plain HTTP
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
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "seckill_site.openapi.add_links"],
}

# https://django-rest-framework-simplejwt.readthedocs.io/en/latest/settings.html
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=int(env("JWT_ACCESS_LIFETIME", str(24 * 3600)))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
    # Verified with SECRET_KEY_FALLBACKS too (simplejwt knows one key): seckill_site/tokens.py.
    "AUTH_TOKEN_CLASSES": ("seckill_site.tokens.AccessToken",),
    "TOKEN_OBTAIN_SERIALIZER": "seckill_site.tokens.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "seckill_site.tokens.TokenRefreshSerializer",
    "UPDATE_LAST_LOGIN": False,
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
