# The commands a person types. Everything installs into .venv from the project's own files.
# The interpreter .venv is made with: the distribution's optimised build when there is one (scripts/python.sh).
PYTHON ?= $(shell bash scripts/python.sh)
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install when pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cksum pyproject.toml | cut -d' ' -f1)
TEST_WORKERS ?= auto
SOAK_SECONDS ?= 600

.PHONY: run test test-quick soak lint fmt dist bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	@echo "$(VENV): $$($(BIN)/python -c 'import os, sys; print(sys.version.split()[0], os.path.realpath(sys.executable))')"
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet .
	@touch $@

$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,client]'
	@touch $@ $(STAMP)

## run: serve on http://127.0.0.1:8080 with every core (SQLite by default; see README for PostgreSQL)
run: $(STAMP)
	$(BIN)/authgate serve

## test: install what the tests need, then run every test (PostgreSQL and Redis on 127.0.0.1 are used)
test: $(DEV_STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -p no:cacheprovider

## test-quick: the fast suite only (no reliability, browser or slow tests)
test-quick: $(DEV_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -p no:cacheprovider -m "not slow and not reliability and not browser"

## soak: mixed traffic against the real server for SOAK_SECONDS (default 600; the suite runs 45), figures in test-output/
soak: $(DEV_STAMP)
	bash scripts/test-deps.sh
	SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/python -m pytest -p no:cacheprovider -s tests/reliability/test_soak.py

## lint: ruff and mypy --strict on src/
lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench scripts client
	$(BIN)/ruff format --check src client/hatch_build.py
	$(BIN)/mypy

fmt: $(DEV_STAMP)
	$(BIN)/ruff format src client/hatch_build.py
	$(BIN)/ruff check --fix src tests bench client

## dist: build the wheels of the server (authgate) and of the client alone (authgate-client, client/) into dist/
dist: $(BIN)/python
	rm -rf build dist  # setuptools would ship stale files left in build/lib
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist . ./client

## bench: the full benchmark against Gin, Flask and FastAPI (45 to 50 minutes; results in bench/results/)
bench: $(STAMP)
	$(BIN)/python bench/run.py

## bench-smoke: every benchmark scenario for about a second, checking every server answers correctly; one
## short count of authgate's instructions per request under callgrind; one round of the CPU of a Redis call;
## one short round of the cold-start measurement
bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke
	$(BIN)/python bench/instructions.py --targets authgate --requests 200 --connections 4 --rounds 1
	$(BIN)/python bench/rediscost.py --rounds 1
	$(BIN)/python bench/coldstart.py --rounds 1 --quiet 0.5

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache test-output
