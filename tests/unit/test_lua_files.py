"""taskqueue/lua: every file is part of a script, and none is over 60 lines."""

from __future__ import annotations

from importlib import resources

import pytest

from taskqueue.store.scripts import FILES, PRELUDE, SCRIPTS, lua_file, source

LUA = resources.files("taskqueue").joinpath("lua")
NAMES = sorted(
    p.name.removesuffix(".lua") for p in LUA.iterdir() if p.name.endswith(".lua")
)


@pytest.mark.parametrize("name", NAMES)
def test_a_lua_file_is_at_most_60_lines(name):
    assert len(lua_file(name).splitlines()) <= 60


def test_every_lua_file_is_in_a_script():
    used = {PRELUDE, *SCRIPTS, *(name for files in FILES.values() for name in files)}

    assert set(NAMES) == used


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_opens_with_the_prelude_and_holds_its_contract(name):
    text = source(name)

    assert text.startswith(lua_file(PRELUDE))
    assert lua_file(name) in text
    assert lua_file(name).startswith(f"-- {name}: ")
