# `make run` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint clean system-deps bench-predict

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Debian packages the tests drive: a real Prometheus server and a headless Chromium.
SYSTEM_BINS := /usr/bin/prometheus /usr/bin/promtool /usr/bin/chromium
system-deps:
	@missing=0; for bin in $(SYSTEM_BINS); do test -x $$bin || missing=1; done; \
	if [ $$missing = 1 ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "install prometheus and chromium as root: sudo make system-deps" >&2; exit 1; fi; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus chromium; \
	fi

run: $(STAMP)
	$(BIN)/python -m app run

test: $(STAMP) system-deps
	$(BIN)/python -m ruff check app agents tables models tests
	$(BIN)/python -m pytest

# /predict latency under a steady load (a benchmark, not a test): figures in docs/benchmarks.md
bench-predict: $(STAMP)
	$(BIN)/python -m bench.predict

lint: $(STAMP)
	$(BIN)/python -m ruff check app agents tables models tests

clean:
	rm -rf var .pytest_cache
