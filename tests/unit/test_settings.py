"""project/settings.py reads every knob from the environment, strictly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from project.settings import database_config, env_bool, env_list

ROOT = Path(__file__).resolve().parents[2]
SQLITE = "django.db.backends.sqlite3"
SHOW_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "redis_url": settings.REDIS_URL,
    "tasks_redis_url": settings.TASKS["default"]["OPTIONS"]["REDIS_URL"],
    "db": {k: str(v) for k, v in settings.DATABASES["default"].items() if k != "OPTIONS"},
}))
"""


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the real settings in a fresh interpreter with exactly these variables."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "REDIS_URL", "DATABASE_URL", "TASKQUEUE_"))
    }
    base.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        TASKQUEUE_VAR_DIR=str(tmp_path),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS], env=base, cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        (" on ", True),
        ("0", False),
        ("FALSE", False),
        ("no", False),
        ("off", False),
    ],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("TQ_FLAG", raw)

    assert env_bool("TQ_FLAG", default=not expected) is expected


@pytest.mark.parametrize("raw", [None, ""])
def test_env_bool_unset_or_empty_is_the_default(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("TQ_FLAG", raising=False)
    else:
        monkeypatch.setenv("TQ_FLAG", raw)

    assert env_bool("TQ_FLAG", default=True) is True
    assert env_bool("TQ_FLAG", default=False) is False


def test_env_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("TQ_FLAG", "maybe")

    with pytest.raises(ValueError, match="TQ_FLAG must be true or false, not 'maybe'"):
        env_bool("TQ_FLAG", default=True)


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("TQ_LIST", " example.com, .example.org ,,localhost ")

    assert env_list("TQ_LIST", ["x"]) == ["example.com", ".example.org", "localhost"]


def test_env_list_unset_is_the_default(monkeypatch):
    monkeypatch.delenv("TQ_LIST", raising=False)

    assert env_list("TQ_LIST", ["a", "b"]) == ["a", "b"]


def test_database_url_postgres_is_parsed_without_sqlite_options():
    config = database_config("postgres://app:secret@db.example.com:6543/shop")

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == (
        "shop",
        "app",
        "secret",
    )
    assert (config["HOST"], config["PORT"]) == ("db.example.com", 6543)
    assert "init_command" not in config.get("OPTIONS", {})


def test_no_database_url_means_sqlite_under_var_with_wal_and_busy_timeout():
    config = database_config(None)

    assert config["ENGINE"] == SQLITE
    assert Path(config["NAME"]).name == "db.sqlite3"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] == 30
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_a_sqlite_database_url_gets_the_same_concurrency_options(tmp_path):
    config = database_config(f"sqlite:///{tmp_path}/other.sqlite3")

    assert config["ENGINE"] == SQLITE
    assert config["NAME"] == f"{tmp_path}/other.sqlite3"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_defaults_without_any_variable(tmp_path):
    done = load_settings(tmp_path)

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["debug"] is True
    assert shown["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]
    assert shown["redis_url"] is None
    assert shown["tasks_redis_url"] is None
    assert shown["db"]["ENGINE"] == SQLITE
    assert shown["db"]["NAME"] == str(tmp_path / "db.sqlite3")


def test_variables_reach_the_settings(tmp_path):
    done = load_settings(
        tmp_path,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="s3cret-for-the-test",
        DJANGO_ALLOWED_HOSTS="shop.example.com,api.example.com",
        DATABASE_URL="postgres://app@127.0.0.1:5432/shop",
        REDIS_URL="redis://:pw@redis.example.com:6380/2",
    )

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["debug"] is False
    assert shown["allowed_hosts"] == ["shop.example.com", "api.example.com"]
    assert (
        shown["redis_url"]
        == shown["tasks_redis_url"]
        == "redis://:pw@redis.example.com:6380/2"
    )
    assert shown["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert shown["db"]["NAME"] == "shop"


def test_a_garbage_debug_value_stops_the_start(tmp_path):
    done = load_settings(tmp_path, DJANGO_DEBUG="sometimes")

    assert done.returncode != 0
    assert "DJANGO_DEBUG must be true or false, not 'sometimes'" in done.stderr


def test_production_mode_needs_a_secret_key(tmp_path):
    done = load_settings(tmp_path, DJANGO_DEBUG="false")

    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false" in done.stderr
