"""Minimal Django settings for the raw loops and the peers' ORM task.

Only the recipe app, on the benchmark's SQLite file with the very same
connection options as the product (WAL, IMMEDIATE, busy timeout).
"""

import os

from project.settings import database_config

SECRET_KEY = "bench-only"  # noqa: S105 (never serves a request)
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["recipe"]
DATABASES = {"default": database_config(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
