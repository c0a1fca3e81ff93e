# Everything runs from .venv, which `make` creates and refreshes when pyproject.toml changes.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed.stamp
LINT_PATHS = $(wildcard django_blinker tests testproject bench manage.py)
TOX_ARGS ?=

.PHONY: venv test test-postgres test-mariadb test-rabbitmq chaos chaos-celery chaos-databases lint typecheck docs messages matrix demo bench clean

venv: $(STAMP)

$(VENV):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Tests that need a database server are deselected here; `make test-postgres` runs the
# whole suite, `make test-mariadb` all but the PostgreSQL-only tests.
test: $(STAMP)
	$(BIN)/pytest -m "not serverdb and not postgres and not chaos"

test-postgres: $(STAMP)
	DJANGO_BLINKER_DB=postgres $(BIN)/pytest -m "not chaos"

# MariaDB at 127.0.0.1:3306 as root (MARIADB_HOST, _PORT, _USER, _PASSWORD override); the
# mysqlclient driver builds against Debian's libmariadb-dev (apt-get install libmariadb-dev).
MARIADB_STAMP := $(VENV)/.mariadb.stamp

$(MARIADB_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,mariadb]"
	touch $@

test-mariadb: $(MARIADB_STAMP)
	DJANGO_BLINKER_DB=mariadb $(BIN)/pytest -m "not postgres and not chaos"

# Real workers, senders and relays killed mid-run, the broker (a private Redis, then a
# private RabbitMQ node) stopped for 5 s: every committed event delivered. Three relays
# killed six times on PostgreSQL, then on MariaDB: no deadlock. CI runs it once, not per
# Python and Django; DJANGO_BLINKER_CHAOS_SAVES=N (Redis) and _RABBITMQ_SAVES=N change its size.
# `make chaos-celery` and `make chaos-databases` are its two halves (CI runs them side by side).
chaos: chaos-celery chaos-databases

chaos-celery: $(STAMP)
	DJANGO_BLINKER_DB=postgres $(BIN)/pytest -m chaos -p no:cacheprovider -k test_celery_delivers \
		tests/test_chaos.py

chaos-databases: $(MARIADB_STAMP)
	DJANGO_BLINKER_DB=postgres $(BIN)/pytest -m chaos -p no:cacheprovider -k "not test_celery_delivers"
	DJANGO_BLINKER_DB=mariadb $(BIN)/pytest -m "chaos and not postgres" -p no:cacheprovider \
		tests/background/test_several_relays.py

# The Celery tests again with RabbitMQ as the broker (127.0.0.1:5672, guest), and the
# RabbitMQ-only ones (a private broker restarted under a real worker).
RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672//
test-rabbitmq: $(STAMP)
	DJANGO_BLINKER_DB=postgres DJANGO_BLINKER_CELERY_BROKER=$(RABBITMQ_URL) \
		$(BIN)/pytest tests/backends/test_celery.py -p no:cacheprovider
	DJANGO_BLINKER_DB=postgres DJANGO_BLINKER_CELERY_BROKER=$(RABBITMQ_URL) \
		$(BIN)/pytest tests/delivery/test_forged.py -k celery -p no:cacheprovider
	DJANGO_BLINKER_DB=postgres $(BIN)/pytest -m "rabbitmq and not chaos" -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site from docs/ (MkDocs), warnings as errors; output in build/docs.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

# The admin's translations: refresh django_blinker/locale/*/django.po from the code and
# templates, then compile the .mo files the wheel ships. Needs GNU gettext (msgfmt).
messages: $(STAMP)
	cd django_blinker && DJANGO_SETTINGS_MODULE=tests.support.settings PYTHONPATH=.. \
		../$(BIN)/django-admin makemessages -l zh_Hans --add-location=file --no-obsolete
	cd django_blinker && DJANGO_SETTINGS_MODULE=tests.support.settings PYTHONPATH=.. \
		../$(BIN)/django-admin compilemessages -l zh_Hans

# Sequential by default: 2 cores, and timing-sensitive tests. `make matrix TOX_ARGS="-p 2"`
# is safe too (each tox env gets its own PostgreSQL test database); TOX_ARGS="-e ENV" runs one.
matrix: $(STAMP)
	$(BIN)/tox $(TOX_ARGS)

# Migrates and seeds the SQLite demo, then runs runserver, a django-tasks-db worker and the
# relay together (testproject/run_demo.py); one Ctrl-C stops all three.
demo: $(STAMP)
	$(BIN)/python -m testproject.run_demo

# Each bench/bench_*.py is a module run as `python -m bench.NAME`; other files are helpers.
bench: $(STAMP)
	@set -e; ran=0; \
	for script in bench/bench_*.py; do \
		[ -f "$$script" ] || continue; \
		module="bench.$$(basename "$$script" .py)"; \
		echo "== python -m $$module"; \
		$(BIN)/python -m "$$module"; \
		ran=1; \
	done; \
	[ "$$ran" = 1 ] || echo "No bench/bench_*.py scripts yet."

clean:
	rm -rf $(VENV) .tox .pytest_cache .mypy_cache .ruff_cache .hypothesis demo.sqlite3 demo.sqlite3-wal demo.sqlite3-shm demo-cache
