"""Test settings: the demo project plus the test tasks app.

SQLite test databases are files (not memory) so that worker subprocesses
see the rows the tests create.
"""

from project.settings import *  # noqa: F403
from project.settings import DATABASES, INSTALLED_APPS, VAR_DIR

INSTALLED_APPS = [*INSTALLED_APPS, "tests"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
