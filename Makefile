# The two commands a newcomer needs: `make run` and `make test`.
# The other targets are the steps they are made of; CI runs `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
TEST_ENV := DJANGO_SETTINGS_MODULE=tests.settings

.PHONY: run test prepare lint check pytest bench images workspace-image agent clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# make run starts a local agent too, so it installs the agent's requirements as well.
$(VENV)/.run-installed: requirements.txt agent/requirements.txt | $(BIN)/python
	scripts/system-packages.sh run
	$(BIN)/pip install -q -r requirements.txt -r agent/requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt agent/requirements.txt | $(BIN)/python
	scripts/system-packages.sh run
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

## make run: the platform on its embedded default (SQLite, a file cache, Celery over a folder):
## web, worker, beat, agent and nginx under honcho (Procfile), on http://localhost:8080
## (each workspace app on http://<user>--<app>.localhost:8080); Ctrl-C stops them all
run: $(VENV)/.run-installed
	scripts/run-stack.sh

## make test: prepare the real services, then lint, checks and the whole suite on MariaDB
test: prepare lint check pytest

prepare: $(VENV)/.dev-installed
	scripts/prepare-test-env.sh

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

check: $(VENV)/.dev-installed
	$(TEST_ENV) $(MANAGE) check
	$(TEST_ENV) $(MANAGE) makemigrations --check --dry-run

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest $(PYTEST_ARGS)

images:
	scripts/build-test-images.sh

## make workspace-image: the real workspace image mgmt/workspace:latest (VS Code + JupyterLab;
## root and Docker needed, ~10 min; nothing to do when up to date: docs/workspace-image.md)
workspace-image:
	images/workspace/build.sh

## make agent: the host agent on 127.0.0.1:5005 (dev secret and ./var/workspaces unless set in the env)
agent: $(VENV)/.dev-installed
	mkdir -p var/workspaces
	cd agent && AGENT_SECRET=$${AGENT_SECRET:-dev-only-agent-secret-0123456789} \
	  AGENT_WORKSPACE_ROOT=$${AGENT_WORKSPACE_ROOT:-$(CURDIR)/var/workspaces} \
	  ../$(BIN)/gunicorn -c gunicorn.conf.py hostagent.wsgi

bench: prepare
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles
