# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
LOCK ?= requirements/django52.txt
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(notdir $(LOCK))

.PHONY: run test lint format bench bench-quick bench-api chaos clean venv stop-redis

venv: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

run: venv
	$(PY) -m project.devserver

# An embedded Redis left running by a killed process (the last user to exit
# normally stops it; so does the next `make run` on Ctrl-C).
stop-redis: venv
	$(PY) -m taskqueue.embedded stop $${TASKQUEUE_VAR_DIR:-var}/redis

# The tests run in parallel (pytest-xdist; each test has its own Redis key
# prefix and each test process its own database): TEST_WORKERS=0 runs them in
# this one process. Three, not one per core: most of the suite's time is spent
# waiting on worker subprocesses and servers (a leg took 9 min with two), but
# with four the timing tests (rate limits, stops within 0.5 s) ran on a machine
# loaded past 8 and failed now and then.
TEST_WORKERS ?= 3
test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy taskqueue recipe project

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: venv
	$(PY) bench/run.py

bench-quick: venv
	$(PY) bench/run.py --quick

bench-api: venv
	$(PY) bench/load_api.py

# Issue 14's chaos run (not part of `make test`): CHAOS_ARGS="--database postgres" etc.
chaos: venv
	$(PY) bench/chaos.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
