"""Settings. Everything that differs between machines comes from the environment."""

import os
import tomllib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


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
# The API sets no cookie (no sessions, no CSRF, no users): no cookie flag applies.
SILENCED_SYSTEM_CHECKS = [
    # No CsrfViewMiddleware: a forged cross-site request rides on the browser's cookies,
    # and no request here is allowed by a cookie, so it can do nothing a direct one can't.
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
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# Django's defaults for connections: CONN_MAX_AGE=0, so every request opens and
# closes its own PostgreSQL connection. DB_CONN_MAX_AGE keeps each worker's connection
# for that many seconds instead (the harness's control 01-persistent measures what that
# buys); Django then checks a kept connection before a request uses it.
CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", "0"))
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=CONN_MAX_AGE,
        conn_health_checks=CONN_MAX_AGE > 0,
    )
}

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
}

REST_FRAMEWORK = {
    # A public read/write API without users: no auth apps, no sessions.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["crm.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CRM customers API",
    "DESCRIPTION": "The customers API of the Django performance ladder (step.toml names the step).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.serializers.strict_request_bodies",
    ],
}
