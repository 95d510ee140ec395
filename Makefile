# `make run` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint clean system-deps bench bench-predict

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# the bench extra (py-spy) only for `make bench`
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	rm -f $(VENV)/.bench-installed-*
	touch $(BENCH_STAMP)

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
	$(BIN)/python -m ruff check app agents tables models tests bench
	$(BIN)/python -m pytest

# The pipeline's speed against the engine's ceilings (a benchmark, not a test): docs/benchmarks.md
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --write-docs

# /predict latency under a steady load (a benchmark, not a test): figures in docs/benchmarks.md
bench-predict: $(STAMP)
	$(BIN)/python -m bench.predict

lint: $(STAMP)
	$(BIN)/python -m ruff check app agents tables models tests bench

clean:
	rm -rf var .pytest_cache
