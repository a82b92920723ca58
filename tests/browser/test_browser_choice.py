"""The browser tests on a machine without Chromium: skipped, or failed under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

DASHBOARD = "tests/browser/test_dashboard.py"


def run_browser_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on the dashboard test where neither Playwright nor PATH has a Chromium."""
    empty = tmp_path / "no-browsers"
    empty.mkdir(exist_ok=True)
    no_chromium = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent),  # the venv's bin: no chromium
        "PLAYWRIGHT_BROWSERS_PATH": str(empty),
        "CI": "",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", DASHBOARD, "-q"],
        cwd=ROOT, env=no_chromium, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_without_a_browser_the_browser_tests_are_skipped_with_how_to_get_one(
    tmp_path,
):
    done = run_browser_tests(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "browser tests: skipped: no Chromium" in done.stdout
    assert "playwright install chromium" in done.stdout


def test_without_a_browser_under_ci_the_browser_tests_fail(tmp_path):
    done = run_browser_tests(tmp_path, CI="true")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout
    assert "CI=true requires the browser tests" in done.stdout
