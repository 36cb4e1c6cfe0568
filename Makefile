# Two commands: `make dev` runs the service on the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/13

.PHONY: dev test test-postgresql test-sqlite lint install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/lsso-mobile dev

# The whole suite on PostgreSQL, then on SQLite; both use the real Redis. A missing server fails.
test: lint test-postgresql test-sqlite

test-postgresql: $(STAMP)
	TEST_BACKEND=postgresql TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q

test-sqlite: $(STAMP)
	TEST_BACKEND=sqlite TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
