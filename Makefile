# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export FLASK_APP := app

.PHONY: run test setup setup-dev browser-deps test-deps init-db bench clean env-example

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(STAMP)

setup-dev: $(DEV_STAMP) browser-deps test-deps

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# Debian's espeak-ng: the transcript tests synthesise real speech with it (tests/speech_support.py).
test-deps:
	@if ! command -v espeak-ng >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq espeak-ng >/dev/null; \
	fi

init-db: $(STAMP)
	$(VENV)/bin/flask init-db

run: $(STAMP) init-db
	$(PY) run.py

test: setup-dev
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

bench: setup-dev
	$(PY) bench/list_files.py
	$(PY) bench/import.py
	$(PY) bench/proxies.py
	$(PY) bench/segments.py
	$(PY) bench/analyze_local.py
	$(PY) bench/ingest.py
	$(PY) bench/poller.py
	$(PY) bench/batch_latency.py
	$(PY) bench/serve_load.py
	$(PY) bench/vector_search.py

env-example: $(STAMP)
	$(PY) -c "from app.config import env_example; print(env_example(), end='')" > .env.example

clean:
	rm -rf $(VENV) .pytest_cache
