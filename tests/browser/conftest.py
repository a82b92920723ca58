"""Which Chromium the browser tests drive: Playwright's own, else the system's.

Order of preference: the browser ``playwright install chromium`` downloads
(found where PLAYWRIGHT_BROWSERS_PATH says, as Playwright itself looks),
else ``chromium`` on PATH (Debian's package; ``.ci/run`` installs it). With
neither, the browser tests are skipped with one line saying how to get one,
so ``make test`` passes on a fresh clone; under ``CI=true`` a missing
browser fails them instead, so CI never goes green without running them.
The browser in use is printed once, before the tests run.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

SYSTEM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
SYSTEM_NAMES = ("chromium", "chromium-browser")
HOW_TO_GET_ONE = (
    "no Chromium for the browser tests: run `.venv/bin/playwright install "
    "chromium` or install the system package (apt-get install chromium)"
)


@dataclass(frozen=True, slots=True)
class Chromium:
    """A Chromium that Playwright can launch, and where it came from."""

    origin: str  # "Playwright's own" | "system"
    path: str
    system: bool

    def launch(self, playwright: Playwright) -> Browser:
        if self.system:
            return playwright.chromium.launch(
                executable_path=self.path, args=SYSTEM_ARGS
            )
        return playwright.chromium.launch()

    def __str__(self) -> str:
        return f"{self.origin} Chromium at {self.path}"


@functools.cache
def find_chromium() -> Chromium | None:
    """The browser to use, looked up once per run (starting Playwright costs ~0.4 s)."""
    with sync_playwright() as playwright:
        own = playwright.chromium.executable_path
    if own and Path(own).is_file():
        return Chromium("Playwright's own", own, system=False)
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return Chromium("system", found, system=True)
    return None


def required() -> bool:
    """Under CI a missing browser is a failure, never a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _is_browser_test(item: pytest.Item) -> bool:
    return item.get_closest_marker("browser") is not None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Say which browser the browser tests use (a header line, only if any run)."""
    if not any(_is_browser_test(item) for item in session.items):
        return
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    chromium = find_chromium()
    if chromium is not None:
        line = f"browser tests: {chromium}"
    else:
        line = f"browser tests: {'FAIL (CI=true)' if required() else 'skipped'}: {HOW_TO_GET_ONE}"
    reporter.write_line(line)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, under CI, fail) a browser test before its fixtures start anything."""
    if not _is_browser_test(item) or find_chromium() is not None:
        return
    if required():
        pytest.fail(f"{HOW_TO_GET_ONE} (CI=true requires the browser tests)")
    pytest.skip(HOW_TO_GET_ONE)


@pytest.fixture
def chromium() -> Iterator[Browser]:
    found = find_chromium()
    assert found is not None  # pytest_runtest_setup skipped the test otherwise
    with sync_playwright() as playwright:
        browser = found.launch(playwright)
        yield browser
        browser.close()
