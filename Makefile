# consult-sfu: `make run` and `make test` set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8080
APT_PACKAGES := chromium chromium-driver firefox-esr xvfb redis-server janus espeak-ng sox iproute2 fonts-dejavu-core nginx coturn nftables
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test soak lint unit types screenshots bench compare clean

setup: .stamp-apt .stamp-venv .stamp-node

# Debian packages: Chromium and Firefox ESR for the browser tests (Firefox on a virtual X
# screen: xvfb), redis-server for the shared store, janus for the load-test comparison,
# espeak-ng + sox for synthetic speech.
.stamp-apt: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

# TypeScript (pinned by package-lock.json) checks the browser client's JSDoc types in `make lint`;
# nothing is built from it. Node.js and npm come from Debian when the machine has no npm yet.
.stamp-node: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian packages: nodejs npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; \
	}
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Python packages, every one pinned by requirements/constraints.txt.
.stamp-venv: setup.cfg pyproject.toml requirements/constraints.txt
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[effects,captions,loadtest,test]'
	@touch $@

run: setup
	$(BIN)/consult-sfu serve --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	node_modules/.bin/tsc -p tsconfig.json

# Two phases: the tests that assert no real-time figure, then the `serial` ones (fps, seconds to
# switch or recover) with nothing beside them. The first phase runs on $(TEST_PROCESSES)
# processes (pytest-xdist); `--dist loadgroup` keeps the tests that each keep a core busy on one
# of them (tests/conftest.py, HEAVY_FOLDERS). About 14 minutes in all on two cores (README).
# The second phase runs whatever the first's outcome; make fails if either does.
TEST_PROCESSES ?= 2
test: setup lint
	status=0; \
	$(BIN)/pytest -m "not slow and not serial" -n $(TEST_PROCESSES) --dist loadgroup || status=$$?; \
	$(BIN)/pytest -m "not slow and serial" || status=$$?; \
	exit $$status

# Soaks and benchmark-sized runs (minutes each; bounded, loopback only).
soak: setup
	$(BIN)/pytest -m slow

unit: setup
	$(BIN)/pytest -m "not browser and not long and not slow"

# Declaration files (.d.ts) of the browser client for TypeScript projects (docs/client.md, Types).
types: setup
	node_modules/.bin/tsc -p tsconfig.types.json
	@echo "declarations in build/types/"

screenshots: setup
	$(BIN)/python scripts/screenshots.py

# Benchmarks (figures in docs/performance.md); each is bounded and stops by itself.
bench: setup
	$(BIN)/python benchmarks/forwarding.py --subscribers 10 --duration 20
	$(BIN)/python benchmarks/control_bench.py --duration 8 --connections 16
	$(BIN)/python benchmarks/effects_bench.py --frames 300
	$(BIN)/python benchmarks/captions_bench.py --cpu 1 --speakers 2,4,6,8 --conversation 6,8,12
	taskset -c 1 $(BIN)/python benchmarks/sphinx_settings.py

compare: setup
	$(BIN)/python -m loadtest compare --targets ours,mediarelay,janus --scenario broadcast --subscribers 10 --duration 20
	$(BIN)/python -m loadtest compare --targets ours,mediarelay,janus --scenario consults --consults 4 --duration 20

clean:
	rm -rf $(VENV) .stamp-apt .stamp-venv .stamp-node node_modules *.egg-info .mypy_cache .ruff_cache
