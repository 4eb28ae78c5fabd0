"""Settings. Everything that differs between machines comes from the environment."""

import os
import tomllib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from psycopg_pool import ConnectionPool


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent
# The harness's embedded PostgreSQL and this step's own database, named from step.toml so
# that this line reads the same in every step.
STEP_NUMBER = tomllib.loads((BASE_DIR / "step.toml").read_text())["number"]
DEFAULT_DATABASE_URL = f"postgresql://postgres@127.0.0.1:55432/crm_step_{STEP_NUMBER:02d}"

# The default key only exists so that a checkout runs without set-up. With DEBUG off a
# server takes itself for a deployment and refuses that key, unless CRM_LOCAL=1 says it
# runs on a developer's own machine: the harness, the tests and the compose file set it.
# pragma: allowlist nextline secret
LOCAL_SECRET_KEY = "insecure-local-only-key-set-SECRET_KEY-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", LOCAL_SECRET_KEY)
DEBUG = env_bool("DEBUG")
LOCAL = env_bool("CRM_LOCAL")
if SECRET_KEY == LOCAL_SECRET_KEY and not (DEBUG or LOCAL):
    raise ImproperlyConfigured(
        "SECRET_KEY is the development key and DEBUG is off: set SECRET_KEY to a secret of"
        " your own, or CRM_LOCAL=1 to run on your own machine."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

# A deployment sits behind a proxy that ends TLS and says so in X-Forwarded-Proto (the
# proxy must set that header itself, never pass on a client's). There plain HTTP is sent
# to HTTPS and browsers are told to stay on it, so `manage.py check --deploy` passes.
# Health stays on plain HTTP for an orchestrator's probes, which skip the proxy.
DEPLOYED = not (DEBUG or LOCAL)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = DEPLOYED
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if DEPLOYED else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = DEPLOYED
# The API's one cookie says where the client's last write reached in the primary's WAL
# (crm/api/pinning.py): it chooses which server answers a read, and grants nothing.
SILENCED_SYSTEM_CHECKS = [
    # No CsrfViewMiddleware: a forged cross-site request rides on the browser's cookies,
    # and no request here is allowed by a cookie (the pin only picks the server that
    # answers a read), so it can do nothing a direct one can't.
    "security.W003",
    # No XFrameOptionsMiddleware: the one HTML page is the Swagger UI, and with no users
    # and no cookies a framed page can do nothing a visitor could not do by hand. Under
    # ASGI the middleware would also cost a trip to a thread per request (it is sync).
    "security.W002",
    # HSTS preload binds every subdomain to HTTPS for months, in browsers' built-in
    # lists: the domain owner's decision, not this app's.
    "security.W021",
]

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
    "crm.api.pinning.PinToWrites",
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
# The pool's connections go to PgBouncer, not to PostgreSQL (DATABASE_URL names it):
# a connection to PgBouncer is a socket, not a backend process, so instances x
# POOL_MAX_SIZE may be any number. PgBouncer lends one of a fixed number of server
# connections, derived from PostgreSQL's max_connections, to a client for one
# transaction at a time. The pool stays because it still saves every request a new
# connection to PgBouncer (a TCP handshake and a login). It holds one connection per
# request in flight; one that waits POOL_TIMEOUT seconds for a free one gets a 503.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "20"))
POOL_TIMEOUT = float(os.environ.get("DB_POOL_TIMEOUT", "5"))

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=0,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": POOL_MIN_SIZE,
    "max_size": POOL_MAX_SIZE,
    "timeout": POOL_TIMEOUT,
    # A connection whose far end has gone (PgBouncer restarted) waits in the pool looking
    # idle until a request takes it and fails: one 503 per dead connection after it is
    # back. Checking each connection as it is handed out costs one round trip of an empty
    # query per request, and no client sees a dead one.
    "check": ConnectionPool.check_connection,
}
# In transaction pooling, two transactions of one client may run on two server
# connections, so nothing may outlive a transaction on one:
# - A server-side cursor (QuerySet.iterator()) is declared in one transaction and read
#   in the next under autocommit, by then on a connection another client may hold.
#   Django's docs prescribe this setting behind a transaction pooler.
# - Prepared statements: Django's psycopg backend sets prepare_threshold to None unless
#   OPTIONS says otherwise, so none is prepared on one server connection and looked
#   for on another. Left as Django leaves it (PgBouncer 1.18 cannot track them).
# - Session settings: Django only sets the time zone on a new connection, one of the
#   parameters PgBouncer records per client and sets on whichever server connection it
#   lends; nothing here runs any other SET, LISTEN, advisory lock or temporary table.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

# --8<-- [start:replica]
# Reads go to a streaming replica when REPLICA_DATABASE_URL names one (through a PgBouncer
# of its own, for the reasons above), and to the primary otherwise; writes, and every
# read inside a transaction, always go to the primary (crm/infrastructure/routing.py).
# A replica that fails is left alone for a moment and its reads answered from the
# primary, so its pool waits for a connection only briefly: a stopped replica costs a
# read at most REPLICA_POOL_TIMEOUT, not a request's full POOL_TIMEOUT.
REPLICA_POOL_TIMEOUT = float(os.environ.get("REPLICA_POOL_TIMEOUT", "1"))
if replica_url := os.environ.get("REPLICA_DATABASE_URL"):
    DATABASES["replica"] = {
        **dj_database_url.parse(replica_url, conn_max_age=0),
        "DISABLE_SERVER_SIDE_CURSORS": True,
        # The tests have no replica: the alias reads the primary's test database.
        "TEST": {"MIRROR": "default"},
    }
    DATABASES["replica"].setdefault("OPTIONS", {})["pool"] = {
        **DATABASES["default"]["OPTIONS"]["pool"],
        "timeout": REPLICA_POOL_TIMEOUT,
    }
DATABASE_ROUTERS = ["crm.infrastructure.routing.ReplicaRouter"]
# Off, reads go to the replica whatever they must see: a client may read older data than
# it wrote, and a cache miss store an old row under a new version. Only to show that.
READ_YOUR_WRITES = env_bool("READ_YOUR_WRITES", True)

# --8<-- [end:replica]

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
