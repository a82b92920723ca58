"""The documentation states facts the code can check; these tests keep them true.

A doc that drifts from the code is worse than no doc: a newcomer follows it
and fails. So the protocol field table, the configuration reference, the
commands the docs tell people to run and the changelog's version are all
compared with the code here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands

import taskqueue
from taskqueue.conf import option_fields
from taskqueue.protocol import FIELDS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# Files whose environment variables the README's configuration table must list.
ENV_SOURCES = ("project/settings.py", "taskqueue/conf.py")
ENV_READ = re.compile(
    r"""(?:os\.environ\.get|env_bool|env_list)\(\s*["']([A-Z0-9_]+)["']"""
)
COMMAND = re.compile(r"manage\.py\s+([a-z][a-z0-9_]*)")
NAME_CELL = re.compile(r"`([^`]+)`")


def section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of its level or higher."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = len(lines)
    for index in range(start, len(lines)):
        match = re.match(r"(#+) ", lines[index])
        if match and len(match.group(1)) <= level:
            end = index
            break
    return "\n".join(lines[start:end])


def table_rows(text: str) -> list[list[str]]:
    """Cells of every Markdown table row in text, header and separator rows dropped."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue  # the separator row
        rows.append(cells)
    return rows[1:] if rows else rows  # the first row is the header


def first_column_names(rows: list[list[str]]) -> set[str]:
    """Backticked names in the first column (a cell may hold `A` / `B`)."""
    return {name for row in rows for name in NAME_CELL.findall(row[0])}


def test_protocol_field_table_matches_the_code():
    text = (ROOT / "docs/protocol.md").read_text()
    rows = table_rows(section(text, "### Fields (version 1)"))
    documented = {}
    for row in rows:
        names = NAME_CELL.findall(row[0])
        assert len(names) == 1, f"one field per row: {row}"
        assert row[2] in {"yes", "no"}, f"Required must be yes or no: {row}"
        documented[names[0]] = row[2] == "yes"
    expected = {name: required for name, (_, required) in FIELDS.items()}
    assert documented == expected


def test_every_queue_option_is_in_the_readme():
    rows = table_rows(section(README.read_text(), "### `TASKS` OPTIONS"))
    documented = first_column_names(rows)
    options = {f.name.upper() for f in option_fields()}
    assert options - documented == set(), "OPTIONS keys missing from README"
    assert documented - options == set(), "README lists OPTIONS keys that do not exist"


def test_every_environment_variable_is_in_the_readme():
    read = set()
    for source in ENV_SOURCES:
        read |= set(ENV_READ.findall((ROOT / source).read_text()))
    assert "REDIS_URL" in read  # the pattern still finds what it should
    rows = table_rows(section(README.read_text(), "### Environment variables"))
    assert read - first_column_names(rows) == set()


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_every_documented_command_exists(path):
    mentioned = set(COMMAND.findall(path.read_text()))
    assert mentioned - set(get_commands()) == set()


def test_the_readme_documents_the_worker():
    assert "manage.py runworker" in README.read_text()


def test_the_changelog_has_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(taskqueue.__version__)}\]", changelog, re.M)


MODULE_CELL = re.compile(r"`(taskqueue/[\w/]+\.(?:py|lua))`")


def test_where_things_live_names_every_module_and_only_real_ones():
    """docs/architecture.md's map: a newcomer finds each module under its concern."""
    text = section(
        (ROOT / "docs" / "architecture.md").read_text(), "## Where things live"
    )
    named = set(MODULE_CELL.findall(text))
    package = ROOT / "taskqueue"
    modules = {
        str(path.relative_to(ROOT))
        for path in [*package.rglob("*.py"), *package.rglob("*.lua")]
        if path.name != "__init__.py"
        and "migrations" not in path.parts
        and "commands" not in path.parts  # one row: management/commands/
    }
    assert named - modules == set(), "the map names modules that do not exist"
    assert modules - named == set(), "modules missing from the map"
