# Quick start: `make run` serves on http://127.0.0.1:5000, `make test` runs every test.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := wsgi

.PHONY: install install-dev run serve test lint format migrate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	FLASK_DEBUG=1 $(BIN)/flask db upgrade

run: migrate
	FLASK_DEBUG=1 $(BIN)/flask run --host 127.0.0.1 --port 5000

serve: install
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.installed-bench: requirements.txt requirements-dev.txt bench/requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

# Writes bench/RESULTS.md (about 30 minutes); BENCH_ARGS=--quick for a smoke run.
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
