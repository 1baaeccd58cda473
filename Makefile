# Herald: `make run` sets up and runs the embedded default; `make test` sets up and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= auto

.PHONY: run test setup browser lint typecheck bench clean

# This machine sets PYTHONDONTWRITEBYTECODE, so nothing caches compiled modules by itself and every
# process (each test worker, API and worker process) would compile all of Herald again at start.
COMPILE := $(BIN)/python -m compileall -q src bench >/dev/null

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,bench]'
	touch $(BENCH_STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(COMPILE)
	$(BIN)/herald run

# Debian's Chromium for the browser tests: Playwright drives it and never downloads a browser of its own.
# CI runs as root and installs it; elsewhere without root the browser tests skip and say why.
CHROMIUM := /usr/bin/chromium

browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is not installed (sudo apt-get install chromium): the browser tests will skip"; fi; }

test: $(STAMP) browser
	$(COMPILE)
	$(BIN)/python -m pytest -n $(WORKERS) -q

lint: $(BENCH_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# Every target: the delivery pipeline's (about 75 s), the in-app live stream's (about 85 s),
# provider callback ingestion (about 85 s), and the open pixel and click redirect (about 75 s).
bench: $(BENCH_STAMP)
	$(COMPILE)
	$(BIN)/python -m bench --short
	$(BIN)/python -m bench.sse
	$(BIN)/python -m bench.callbacks
	$(BIN)/python -m bench.tracking_http

clean:
	rm -rf $(VENV) var/*.db
