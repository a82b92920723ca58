"""Django 6 settings for the Django Tasks peers (run from .venv-bench6 only).

BENCH_TASKS_BACKEND picks one backend: its app goes into INSTALLED_APPS and
its configuration becomes TASKS["default"]. The recipe app, the SQLite file
and its connection options (WAL, IMMEDIATE, busy timeout) and the Redis server
are the benchmark's, as for every other contender.
"""

import os

from project.settings import database_config

REDIS_URL = os.environ["REDIS_URL"]

# name -> (app, TASKS entry); each backend's defaults except where noted
BACKENDS = {
    # results: none (the backend has no result store); its default BLMOVE
    # timeout of 1 s; one task at a time comes from `runworker --concurrency 1`
    "vtasks": ("django_vtasks", {
        "BACKEND": "django_vtasks.backends.valkey.ValkeyTaskBackend",
        "OPTIONS": {"BROKER_URL": REDIS_URL},
    }),
    # results: a hash per task kept 30 days by default, cannot be turned off
    "redis": ("django_tasks_redis", {
        "BACKEND": "django_tasks_redis.RedisTaskBackend",
        "OPTIONS": {"REDIS_URL": REDIS_URL},
    }),
    # results: the task's own row (the queue is the table), cannot be turned off
    "db": ("django_tasks_db", {"BACKEND": "django_tasks_db.DatabaseBackend"}),
    # results: a record per task (djt.<id>) in the HUEY instance's result hash,
    # written at enqueue, start and finish, cannot be turned off (RedisHuey
    # keeps them; RedisExpireHuey would expire them); the queue is HUEY below
    "huey": ("huey.contrib.djhuey", {
        "BACKEND": "huey.contrib.djhuey.tasks_backend.HueyBackend",
    }),
}  # fmt: skip
APP, BACKEND = BACKENDS[os.environ.get("BENCH_TASKS_BACKEND", "db")]

SECRET_KEY = "bench-only"  # noqa: S105 (never serves a request)
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["recipe", APP]
DATABASES = {"default": database_config(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TASKS = {"default": BACKEND}
VTASKS_CONCURRENCY = 1
# The huey instance behind the huey backend (read only when djhuey is imported):
# RedisHuey, its default; immediate off explicitly (its default follows DEBUG)
HUEY = {"name": "bench", "url": REDIS_URL, "immediate": False}
