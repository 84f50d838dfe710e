# The README's commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := server

.PHONY: run serve test lint typecheck test-sqlite test-postgres test-tools bench migration clean

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

# The pages' browser libraries (Chart.js) pinned by package-lock.json; Leaflet comes from PyPI.
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

## run: set up everything, seed the Lima demo once, serve at http://127.0.0.1:$(PORT)
run: $(VENV)/.installed node_modules/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	@echo ""
	@echo "  Cobranza en campo is running at http://127.0.0.1:$(PORT)"
	@echo "  API docs: http://127.0.0.1:$(PORT)/api/docs"
	@echo "  Pages: http://127.0.0.1:$(PORT)/login (live map, dispatch board, KPI dashboard)"
	@echo "  Collectors walking: .venv/bin/flask --app server replay-demo --open-shifts --url http://127.0.0.1:$(PORT)"
	@echo "  Demo logins (password: $${DEMO_PASSWORD:-demo}): admin, dispatcher, manager, collector01 ... collector25"
	@echo ""
	$(BIN)/gunicorn --workers 1 --worker-class gthread --threads 32 --bind 127.0.0.1:$(PORT) \
		--access-logfile - --log-level warning "server:create_app()"

## serve: production shape, gunicorn with several workers against DATABASE_URL
serve: $(VENV)/.installed node_modules/.installed
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn --workers $${WEB_CONCURRENCY:-4} --worker-class gthread --threads 8 \
		--bind $${BIND:-127.0.0.1:$(PORT)} --access-logfile - "server:create_app()"

## test: lint, type-check, then the whole suite on SQLite and on a throwaway PostgreSQL
test: $(VENV)/.dev-installed node_modules/.installed test-tools lint typecheck test-sqlite test-postgres

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy routing sync tracking kpi server mobile_client_stub

test-sqlite: $(VENV)/.dev-installed
	scripts/pytest.sh -q

test-postgres: $(VENV)/.dev-installed
	scripts/with_postgres.sh scripts/pytest.sh -q -m "not browser"

test-tools:
	@scripts/install_test_tools.sh

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/import.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/routing.py --time-limit 10 --instances C101 R101 RC101 R201 X-n101-k25
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/kpi.py --database-url sqlite
	scripts/with_postgres.sh sh -c '$(BIN)/python bench/kpi.py --database-url "$$TEST_DATABASE_URL"'
	PG_DURABLE=1 scripts/with_postgres.sh sh -c '$(BIN)/python bench/tracking.py --database-url "$$TEST_DATABASE_URL"'

## migration: rewrite the initial migration from the models (pre-release only)
migration: $(VENV)/.installed
	scripts/regenerate_migration.sh

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache .mypy_cache .ruff_cache
