# Two commands: `make dev` runs the service on the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/13

.PHONY: dev test test-postgresql test-sqlite contract lint install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# `make dev PORT=5001` when 5000 is taken; `make dev RESET=1` starts the demo over.
PORT ?= 5000
dev: $(STAMP)
	$(BIN)/lsso-mobile dev --port $(PORT) $(if $(RESET),--reset,)

# The whole suite on PostgreSQL, the contract gate (schemathesis against gunicorn + PostgreSQL + Redis +
# a worker), then the suite on SQLite; all use the real Redis. A missing server fails.
test: lint test-postgresql contract test-sqlite

test-postgresql: $(STAMP)
	TEST_BACKEND=postgresql TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q

# tests/contract starts the service as production runs it, on PostgreSQL: it runs in the PostgreSQL pass.
test-sqlite: $(STAMP)
	TEST_BACKEND=sqlite TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q --ignore=tests/contract -m "not slow"

contract: $(STAMP)
	TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m tests.contract.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
