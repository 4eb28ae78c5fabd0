"""Settings. Everything that differs between machines comes from the environment."""

import os
from pathlib import Path

import dj_database_url


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent

# The default only exists so that a local checkout runs without set-up; any real
# deployment sets SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-local-only-key-set-SECRET_KEY-in-production")
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

INSTALLED_APPS = [
    # Renders OpClass() in index expressions (the text_pattern_ops indexes in
    # crm/infrastructure/models.py).
    "django.contrib.postgres",
    "django.contrib.staticfiles",
    # Listed so that Swagger UI is rendered with ninja's bundled assets, not a CDN.
    "ninja",
    "ninja_extra",
    "crm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# Under ASGI every request runs its ORM calls on a thread of its own, and a persistent
# connection (CONN_MAX_AGE > 0) belongs to the thread that opened it, so Django's docs
# say to keep CONN_MAX_AGE=0 there. Reuse comes from psycopg's pool instead: closing a
# connection at the end of a request hands it back to the pool.
#
# A connection is held from a request's first query to its end, so a worker needs at
# most one per request in flight. uvicorn runs one worker per core (2 here); the
# harness's PostgreSQL allows 200 connections (PostgreSQL's default is 100).
# 2 workers x 20 = 40 leaves room for the harness, psql and a second server, and
# more than 20 queries at once per worker would only queue for 2 cores inside
# PostgreSQL instead. Requests beyond that wait for a free connection; one that
# waits POOL_TIMEOUT seconds gets a 503 rather than "too many clients" from
# PostgreSQL. Set DB_POOL_MAX_SIZE so that workers x max_size stays below the
# server's max_connections when either grows.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "20"))
POOL_TIMEOUT = 5

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/crm_step_08"),
        conn_max_age=0,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": POOL_MIN_SIZE,
    "max_size": POOL_MAX_SIZE,
    "timeout": POOL_TIMEOUT,
}

# The response cache (crm/infrastructure/cache.py). django-async-redis keeps one
# redis-py pool per process. Its default pool refuses a connection once max_connections
# are out ("Too many connections", a 500 under load); a BlockingConnectionPool waits for
# one instead, up to its timeout. One connection per request in flight is enough, as for
# the database. Every timeout is short: when Redis is slow or gone, a request falls back
# to PostgreSQL after at most a few of them instead of hanging (the cache module says
# how).
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:56379/0"
REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "0.25"))
CACHES = {
    "default": {
        "BACKEND": "django_async_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # A backstop only: writes invalidate entries long before this.
        "TIMEOUT": 300,
        # Entries answer for one database: two servers on one Redis, each on a database
        # of its own (the bench's and the tests', step 07's and step 08's), never share.
        "KEY_PREFIX": f"crm:{DATABASES['default']['NAME']}",
        "OPTIONS": {
            # One client and pool per event loop, not per process: see
            # crm/infrastructure/redis_pool.py.
            "CLIENT_CLASS": "crm.infrastructure.redis_pool.LoopClient",
            "CONNECTION_POOL_CLASS": "redis.asyncio.BlockingConnectionPool",
            "CONNECTION_POOL_KWARGS": {"max_connections": POOL_MAX_SIZE, "timeout": REDIS_TIMEOUT},
            "SOCKET_TIMEOUT": REDIS_TIMEOUT,
            "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT,
        },
    }
}
DJANGO_ASYNC_REDIS_CONNECTION_FACTORY = "crm.infrastructure.redis_pool.LoopConnectionFactory"

# ninja-extra builds the controllers with injector, which asks kink (config/bootstrap.py).
NINJA_EXTRA = {"INJECTOR_MODULES": ["config.bootstrap.KinkModule"]}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # ninja-extra logs every request to django.request at INFO. Django itself only
    # reports 4xx and 5xx there, and a line per request is a write per request.
    "loggers": {"django.request": {"level": "WARNING"}},
}
