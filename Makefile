# The whole check: `make check` (lint, types, tests). `.ci/run` runs exactly this after
# installing everything into .venv on a fresh clone.
#
# Tools come from $(VENV)/bin. On a fresh clone (no $(VENV)/bin/ruff yet) the first target
# that needs them creates $(VENV) and installs the package with its dev tools at the tested
# versions, so `make check` works before any install step. `make check BIN=` uses the
# tools on PATH instead and creates nothing.
PYTHON ?= python3
VENV ?= .venv
BIN ?= $(VENV)/bin/
# The file that stands for "the dev install is there" (built only when it is missing).
TOOLS := $(if $(BIN),$(BIN)ruff,)

.PHONY: check lint types contracts test test-fast venv

check: lint types contracts test

venv: $(TOOLS)

$(VENV)/bin/ruff:
	@echo "make: no $(VENV) with the dev tools yet; creating it (the one-time install step):"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev]' -c constraints.txt

lint: $(TOOLS)
	$(BIN)ruff check .

types: $(TOOLS)
	$(BIN)mypy

# The import contracts (layers, no cycle, Textual only in tui, the third-party fence), read
# from the source in about a second: first, so a broken layer fails before the long tests.
contracts: $(TOOLS)
	$(BIN)pytest -q tests/test_import_contracts.py

# pytest exits 5 when it collected no tests: that is a failure here too.
test: $(TOOLS)
	@rc=0; $(BIN)pytest -q || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

# The broker-free and NATS-only tests, offline: no Kafka (so no Java), no package index.
test-fast: $(TOOLS)
	@rc=0; $(BIN)pytest -q -m "not kafka and not network" || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: pytest collected no tests" >&2; fi; \
	exit $$rc
