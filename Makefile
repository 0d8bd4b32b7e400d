# The whole check: `make check` (lint, types, tests). `.ci/run` runs exactly this after
# installing everything into .venv on a fresh clone.
#
# Tools come from $(VENV)/bin when that venv exists, else from PATH.
VENV ?= .venv
BIN ?= $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/,)

.PHONY: check lint types test test-fast

check: lint types test

lint:
	$(BIN)ruff check .

types:
	$(BIN)mypy

# pytest exits 5 when it collected no tests: that is a failure here too.
test:
	@rc=0; $(BIN)pytest -q || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

# The broker-free and NATS-only tests, offline: no Kafka (so no Java), no package index.
test-fast:
	@rc=0; $(BIN)pytest -q -m "not kafka and not network" || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: pytest collected no tests" >&2; fi; \
	exit $$rc
