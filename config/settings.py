"""Settings, all from the environment (one ``environ.Env``), with defaults that run anywhere.

With no environment at all the portal runs on a SQLite file and a filesystem Celery broker under
``var/``: nothing to install. Production sets ``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL``
(Redis or RabbitMQ), ``REDIS_URL``, ``SECRET_KEY`` and ``FIELD_ENCRYPTION_KEYS``. Every variable is
listed in ``.env.example``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-for-production-use-0123456789"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Secrets at rest (API keys, BAS passwords) are Fernet tokens. The first key encrypts, all keys
# decrypt, so a key is rotated by putting the new one first and running
# ``manage.py rotate_secrets``. Without the variable a key is derived from SECRET_KEY, which is
# fine for a laptop and wrong for production (``check --deploy`` says so).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    FIELD_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    ]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "import_export",
    "accounts",
    "mappings",
    "staging",
    "integration",
    "api",
    "runs",
    "catalogue",
    "stock",
    "documents",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # KeyCRM's webhooks skip the rest: they need none of it (see the class).
    "staging.middleware.WebhookShortcut",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) write to one file. IMMEDIATE transactions take the
    # write lock up front instead of failing on upgrade, WAL lets readers run during a write.
    # Tests that start other processes (workers, the rate-budget test) need the test database
    # in a file they can open too, not in memory; one file per test run so runs side by side
    # do not trip over each other.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-portal-{os.getpid()}.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is optional. When set, it carries the shared KeyCRM rate budget and the cache; without
# it, the database carries the budget and the cache lives in files under var/.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="uk")
LANGUAGES = [("uk", _("Ukrainian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Kyiv")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing folder before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- HTTP API ---------------------------------------------------------------------------------
# Staff users in the operator or configurator group only (api/permissions.py): a token for
# scripts, the admin's session for a browser. Nothing is readable anonymously.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.PortalRole"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KeyCRM ⇄ BAS portal API",
    "DESCRIPTION": "Health of the integration loops, staged records, re-processing and the "
                   "configuration export. Token or session authentication; operator or "
                   "configurator role.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"RecordStateEnum": "staging.models.RecordState"},
}

# --- Celery ---------------------------------------------------------------------------------
# The default broker is kombu's filesystem transport: a folder of messages, no server. It is
# good for one machine; production uses Redis or RabbitMQ.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Broadcasts (worker control) go here too, not to a "control" folder in the cwd.
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "staging-dispatch-due": {"task": "staging.tasks.dispatch_due_records", "schedule": 30.0},
    "staging-dispatch-outbox": {"task": "staging.tasks.dispatch_due_outbox", "schedule": 30.0},
    "staging-poll-due-accounts": {"task": "staging.tasks.poll_due_accounts", "schedule": 60.0},
    "bas-changes-dispatch": {"task": "integration.tasks.bas_changes_dispatch", "schedule": 60.0},
    "stock-push-due-accounts": {"task": "stock.tasks.dispatch_due_stock_pushes",
                                "schedule": 60.0},
    "catalogue-dispatch-due": {"task": "catalogue.tasks.dispatch_due_catalogue",
                               "schedule": 60.0},
    "staging-sweep": {"task": "staging.tasks.sweep_stuck_records", "schedule": 300.0},
    "exchange-log-prune": {"task": "staging.tasks.prune_exchange_log",
                           "schedule": crontab(hour=4, minute=0)},
    "documents-bas-payments": {"task": "documents.tasks.check_bas_payments_all",
                               "schedule": env.float("DOCUMENTS_BAS_PAYMENTS_EVERY_SECONDS",
                                                     default=600.0)},
    # Nightly: a large catalogue uses an account's whole request budget for a while.
    "keycrm-sync-directories": {
        "task": "mappings.tasks.sync_all_directories",
        "schedule": crontab(hour=3, minute=15),
    },
}

# --- External systems -------------------------------------------------------------------------
# Base URLs are data (each account and connection has its own); these are only defaults for forms.
KEYCRM_DEFAULT_BASE_URL = env.str("KEYCRM_DEFAULT_BASE_URL",
                                  default="https://openapi.keycrm.app/v1")
# The window over which an account's "requests per minute" is counted. Only tests shorten it.
KEYCRM_RATE_WINDOW_SECONDS = env.float("KEYCRM_RATE_WINDOW_SECONDS", default=60.0)
# How long a caller waits for a free slot of the shared budget before giving up (retryable).
KEYCRM_RATE_MAX_WAIT_SECONDS = env.float("KEYCRM_RATE_MAX_WAIT_SECONDS", default=180.0)
KEYCRM_TIMEOUT_SECONDS = env.float("KEYCRM_TIMEOUT_SECONDS", default=30.0)
KEYCRM_MAX_RETRIES = env.int("KEYCRM_MAX_RETRIES", default=5)
# Items per PUT /offers/stocks call: the API accepts up to 10,000 (keycrm-api.md §2).
STOCK_BATCH_SIZE = env.int("STOCK_BATCH_SIZE", default=10_000)
if not 1 <= STOCK_BATCH_SIZE <= 10_000:
    raise ImproperlyConfigured("STOCK_BATCH_SIZE must be between 1 and 10000")
# 1C posts big documents slowly; real clients wait 120-300 s.
BAS_TIMEOUT_SECONDS = env.float("BAS_TIMEOUT_SECONDS", default=120.0)
BAS_METADATA_CACHE_SECONDS = env.int("BAS_METADATA_CACHE_SECONDS", default=3600)
# Defaults of a new account's BAS → KeyCRM check (each account changes them in the admin).
BAS_CHANGES_INTERVAL_SECONDS = env.int("BAS_CHANGES_INTERVAL_SECONDS", default=300)
BAS_CHANGES_LOOKBACK_DAYS = env.int("BAS_CHANGES_LOOKBACK_DAYS", default=14)
HTTP_CONNECT_TIMEOUT_SECONDS = env.float("HTTP_CONNECT_TIMEOUT_SECONDS", default=5.0)

# --- Payments and follow-up documents -------------------------------------------------------
# How far back the scheduled check reads BAS incoming payments (documents dated since then).
DOCUMENTS_BAS_PAYMENTS_DAYS = env.int("DOCUMENTS_BAS_PAYMENTS_DAYS", default=3)

# --- Staging queue ------------------------------------------------------------------------------
STAGING_MAX_ATTEMPTS = env.int("STAGING_MAX_ATTEMPTS", default=8)
STAGING_RETRY_BASE_SECONDS = env.float("STAGING_RETRY_BASE_SECONDS", default=30.0)
STAGING_RETRY_MAX_SECONDS = env.float("STAGING_RETRY_MAX_SECONDS", default=3600.0)
# A record in processing for longer than this is taken back from a worker that died.
STAGING_STALE_SECONDS = env.float("STAGING_STALE_SECONDS", default=600.0)
EXCHANGE_LOG_KEEP_DAYS = env.int("EXCHANGE_LOG_KEEP_DAYS", default=14)

# --- Security (production values come from the environment) -------------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
# Only once every subdomain serves HTTPS: browsers then refuse plain HTTP on all of them.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool(
    "BEHIND_TLS_PROXY", default=False) else None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"mask_webhook_tokens": {"()": "config.logfilters.MaskWebhookTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["mask_webhook_tokens"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Logger filters run before any handler (tests' capture included); handler filters catch
    # what other loggers propagate.
    "loggers": {"django.db.backends": {"level": "WARNING"},
                "django.request": {"filters": ["mask_webhook_tokens"]},
                "django.server": {"filters": ["mask_webhook_tokens"]}},
}

if not DEBUG and SECRET_KEY == _DEV_SECRET and env.bool("PORTAL_REQUIRE_SECRETS", default=False):
    raise ImproperlyConfigured("SECRET_KEY must be set when PORTAL_REQUIRE_SECRETS is on")
