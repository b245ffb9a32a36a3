# The two commands: `make run` and `make test`. Each creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= examples/demo-plant.yaml
SCENARIO ?=

.PHONY: run test lint typecheck bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/occmon run $(CONFIG) $(if $(SCENARIO),--scenario $(SCENARIO))

test: $(STAMP)
	./scripts/ensure-servers
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest
	# the gateway's suites again on uvloop, the loop it runs on by default (occmon/eventloop.py)
	OCCMON_TEST_LOOP=uvloop $(BIN)/python -m pytest tests/gateway_core tests/gateway \
		tests/safety tests/interlock tests/health tests/alarms

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
