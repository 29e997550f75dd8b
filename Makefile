# The portal's tasks. `make help` lists them. The README's two commands are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
FLASK := .venv/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
# the suite in parallel: tests wait on PostgreSQL, Chromium and live servers as much as on the CPU, so three
# workers on two cores took 5.5 minutes where one took 10 (TEST_WORKERS=0 runs it in one process)
TEST_WORKERS ?= 3
export PORTAL_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: help setup run test lint format db-upgrade db-revision seed clean

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

portal/static/govuk/app.css: node_modules/.package-lock.json scss/app.scss
	npm run --silent build:assets

setup: .venv/.installed portal/static/govuk/app.css ## Install Python and npm dependencies, build GOV.UK assets

db-upgrade: setup ## Apply database migrations
	$(FLASK) db-upgrade

seed: db-upgrade ## Load the demo organisations and users (idempotent) and print the demo accounts
	$(FLASK) seed-demo

run: seed ## Set up, migrate, seed and serve the portal on http://127.0.0.1:5000 (PORT=... to change)
	@echo "Portal: $(PORTAL_BASE_URL)"
	$(FLASK) run --host $(HOST) --port $(PORT)

lint: setup ## Lint (ruff) and check the architecture contracts (import-linter)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

format: setup ## Format the code
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

test: lint ## Lint, then run every test: unit, integration (SQLite and PostgreSQL), browser, sign-in end to end
	$(PY) -m pytest -n $(TEST_WORKERS)

db-revision: setup ## Autogenerate a migration: make db-revision m="what changed"
	$(FLASK) db-revision -m "$(m)"

clean: ## Remove the virtual environment, node_modules and built assets
	rm -rf .venv node_modules portal/static/govuk
