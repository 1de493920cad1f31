# Ownvoice: `make start` runs everything (installing on first run), `make test` runs every suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
STAMPS := .stamps
AI_VENV := ai-service/.venv
BACKEND_VENV := backend/.venv
FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig*.json -type f 2>/dev/null)

.PHONY: start install test test-lint lint test-ai test-backend test-backend-pg test-frontend test-e2e test-book bench bench-engines bench-scale soak audit clean-install help

help:
	@echo "make start   install what is missing, then run the app on http://localhost:8080"
	@echo "make test    run every test suite (Python services, frontend unit tests, browser tests)"
	@echo "make lint    ruff and mypy on both Python services (part of make test)"
	@echo "make bench   benchmark synthesis speed against the coqui-tts baseline, and M4B export speed"
	@echo "make bench-engines  the GPT decode step on ONNX Runtime and OpenVINO against today's int8 path"
	@echo "make test-book  prepare the whole sample book in the browser (about ten minutes)"
	@echo "make soak    8 listeners + a render job for SOAK_SECONDS (300): memory, descriptors, latency"
	@echo "make audit   check the pinned Python and npm packages for known vulnerabilities (needs network)"

start: install
	@$(PYTHON) scripts/start.py --skip-install

install: $(STAMPS)/system-start $(STAMPS)/ai-venv $(STAMPS)/backend-venv frontend/dist/index.html

$(STAMPS):
	@mkdir -p $(STAMPS)

$(STAMPS)/system-start: scripts/install_system.sh | $(STAMPS)
	@scripts/install_system.sh start && touch $@

$(STAMPS)/system-test: scripts/install_system.sh | $(STAMPS)
	@scripts/install_system.sh test && touch $@

# Python environments: a stamp per environment, remade only when its pins change.
$(STAMPS)/ai-venv: ai-service/requirements.txt ai-service/constraints.txt | $(STAMPS)
	@echo "ownvoice: installing the inference service's Python packages (first run: several minutes, about 6 GB)"
	@test -x $(AI_VENV)/bin/python || $(PYTHON) -m venv $(AI_VENV)
	@$(AI_VENV)/bin/python -m pip install -q --upgrade pip
	@$(AI_VENV)/bin/python -m pip install --progress-bar on -r ai-service/requirements.txt -c ai-service/constraints.txt
	@touch $@

$(STAMPS)/backend-venv: backend/requirements.txt backend/constraints.txt | $(STAMPS)
	@echo "ownvoice: installing the app server's Python packages"
	@test -x $(BACKEND_VENV)/bin/python || $(PYTHON) -m venv $(BACKEND_VENV)
	@$(BACKEND_VENV)/bin/python -m pip install -q --upgrade pip
	@$(BACKEND_VENV)/bin/python -m pip install -q -r backend/requirements.txt -c backend/constraints.txt
	@touch $@

$(STAMPS)/frontend-deps: frontend/package.json frontend/package-lock.json | $(STAMPS)
	@echo "ownvoice: installing the web app's npm packages"
	@cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Test tooling only: Thorium Reader's EPUB parser, which the read-along export tests run
# (backend/tests/readium/; its own lock file, never part of the web app).
$(STAMPS)/readium-check: backend/tests/readium/package.json backend/tests/readium/package-lock.json | $(STAMPS)
	@cd backend/tests/readium && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

frontend/dist/index.html: $(STAMPS)/frontend-deps $(FRONTEND_SOURCES)
	@echo "ownvoice: building the web app"
	@cd frontend && npm run build --silent

# Two lanes at once (scripts/test_lanes.sh): lint, inference service, web app and browser tests
# in one; the app server on SQLite, then on PostgreSQL, in the other.
test: install $(STAMPS)/system-test
	@scripts/test_lanes.sh

# Lint: one ruff configuration (ruff.toml) and one mypy configuration (mypy.ini) for both services;
# ruff and mypy are pinned in backend/requirements.txt. mypy checks each service against its own venv.
test-lint: lint

lint: $(STAMPS)/backend-venv $(STAMPS)/ai-venv
	$(BACKEND_VENV)/bin/ruff check .
	$(BACKEND_VENV)/bin/ruff format --check .
	cd backend && .venv/bin/mypy --config-file ../mypy.ini app
	cd ai-service && ../$(BACKEND_VENV)/bin/mypy --config-file ../mypy.ini --python-executable .venv/bin/python ownvoice_ai

test-ai: $(STAMPS)/ai-venv
	cd ai-service && OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest -q --durations=25

test-backend: $(STAMPS)/backend-venv $(STAMPS)/ai-venv $(STAMPS)/readium-check
	cd backend && .venv/bin/python -m pytest -q --durations=25

# The backend suite on a real PostgreSQL server that the tests start (tests/postgres.py), less the
# modules with no SQL of their own (POSTGRES_SKIPS_MODULES in backend/tests/conftest.py).
test-backend-pg: $(STAMPS)/backend-venv $(STAMPS)/ai-venv $(STAMPS)/system-test
	cd backend && OWNVOICE_TEST_DATABASE=postgresql .venv/bin/python -m pytest -q --durations=25

test-frontend: $(STAMPS)/frontend-deps
	cd frontend && npm test --silent

test-e2e: install $(STAMPS)/system-test
	$(BACKEND_VENV)/bin/python -m pytest -q --durations=25 e2e

# The whole sample book prepared with the stock voice on a phone-sized screen (about ten minutes),
# then exported as an M4B and checked.
test-book: install $(STAMPS)/system-test
	$(BACKEND_VENV)/bin/python -m pytest -q e2e -m whole_book
	cd backend && .venv/bin/python -m pytest -q -m whole_book tests/test_export_alice.py

bench: $(STAMPS)/ai-venv $(STAMPS)/backend-venv
	cd ai-service && .venv/bin/python scripts/bench.py
	cd backend && .venv/bin/python scripts/bench_export.py

# The GPT decode step alone on other CPU engines (ONNX Runtime, OpenVINO, torch int8 weight-only)
# against today's int8 path, the bandwidth bound and fp32 (README, Decode engines; ~10 minutes).
bench-engines: $(STAMPS)/ai-venv
	cd ai-service && .venv/bin/python -m bench.engines --checkpoint full

# 1, 2 and 4 inference replicas on Ray Serve render 64 sentences on a simulated XTTS (README, Scaling).
bench-scale: $(STAMPS)/backend-venv $(STAMPS)/ai-venv
	cd backend && .venv/bin/python scripts/bench_scale.py

SOAK_SECONDS ?= 300
soak: $(STAMPS)/backend-venv $(STAMPS)/ai-venv
	cd backend && .venv/bin/python scripts/soak.py --seconds $(SOAK_SECONDS)

# Not part of `make test`: it needs the advisory services (exit 2 when they cannot be reached).
audit:
	@PYTHON=$(PYTHON) scripts/audit.sh

clean-install:
	rm -rf $(STAMPS) $(AI_VENV) $(BACKEND_VENV) .audit-venv frontend/node_modules frontend/dist \
		backend/tests/readium/node_modules
