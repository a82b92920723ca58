"""Test settings: the demo project plus the test tasks app.

Redis: TEST_REDIS_URL or REDIS_URL when set, else an embedded server for
the test run under var/test-redis. The URL is put back into the environment
so worker subprocesses started by the tests share it. SQLite test databases
are files (not memory) so that those subprocesses see the tests' rows.
"""

import os
from pathlib import Path

from taskqueue import embedded

# Where the embedded test server lives when this run uses it (stopped at the
# end of the run by tests/conftest.py, so `make test` leaves nothing running).
EMBEDDED_TEST_REDIS: str | None = None
_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
if not _url:
    EMBEDDED_TEST_REDIS = str(
        Path(__file__).resolve().parent.parent / "var" / "test-redis"
    )
    _url = embedded.ensure_running(Path(EMBEDDED_TEST_REDIS))
os.environ["REDIS_URL"] = _url
os.environ.setdefault("TASKQUEUE_WORKER_TIMEOUT", "2")

from project.settings import *  # noqa: E402, F403
from project.settings import DATABASES, INSTALLED_APPS, TASKS, VAR_DIR  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "tests"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per test run, so runs side by side never share a database.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A worker subprocess whose clock runs ahead (issue 14: result times must come
# from the Redis clock): TQ_TEST_CLOCK_SKEW seconds are added to time.time().
if os.environ.get("TQ_TEST_CLOCK_SKEW"):
    import time as _time

    _skew, _real_time = float(os.environ["TQ_TEST_CLOCK_SKEW"]), _time.time
    _time.time = lambda: _real_time() + _skew

# Schedules of a worker subprocess (tests/process/test_schedules.py): JSON of
# OPTIONS["SCHEDULES"] for the default backend.
if os.environ.get("TQ_TEST_SCHEDULES"):
    import json as _json

    TASKS["default"]["OPTIONS"]["SCHEDULES"] = _json.loads(
        os.environ["TQ_TEST_SCHEDULES"]
    )

# A worker subprocess with DURABILITY "replicated" (issue 20): TQ_TEST_DURABILITY
# names the mode, TQ_TEST_REPLICATION_TIMEOUT the seconds a write waits.
if os.environ.get("TQ_TEST_DURABILITY"):
    TASKS["default"]["OPTIONS"].update(
        DURABILITY=os.environ["TQ_TEST_DURABILITY"],
        REPLICATION_TIMEOUT=float(os.environ.get("TQ_TEST_REPLICATION_TIMEOUT", "0.2")),
    )

# A worker subprocess with a small dead-letter cap (tests/process/test_dead_letter_cap.py).
if os.environ.get("TQ_TEST_DEAD_LETTER_MAX"):
    TASKS["default"]["OPTIONS"]["DEAD_LETTER_MAX"] = int(
        os.environ["TQ_TEST_DEAD_LETTER_MAX"]
    )
