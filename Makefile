# Two commands set everything up on a fresh machine:
#   make run   - environment, install, then `bonestore serve` (API :3000, Stripe emulator :12111)
#   make test  - environment, test tools (SAM CLI, Chromium), lint, type checks, all tests
SHELL := /bin/bash
.DEFAULT_GOAL := help

# pyenv selects Python 3.13 through .python-version; fall back to any python3.13.
PYTHON ?= $(shell command -v python3.13 >/dev/null 2>&1 && echo python3.13 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .sam-venv
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .checkov-venv
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHROMIUM := /usr/bin/chromium
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE :=
# The interpreter shared/Makefile byte-compiles the layer with (sam build runs it).
export LAYER_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null)
# The interpreter shared/Makefile compiles the ruleset with (it needs the dependencies).
export RULES_PYTHON := $(abspath $(BIN)/python)

.PHONY: help install run test lint typecheck unit integration e2e sam-check checkov build openapi bench bench-check clean mutation mutation-sample

help:
	@echo "make run   - install and start the local service (http://127.0.0.1:3000)"
	@echo "make test  - install test tools, then lint, type-check and run every test"
	@echo "make bench - cold-start, rules-engine, checkout and load benchmarks (ARGS=--check)"
	@echo "make bench-check - the cold-start targets only; exits non-zero where one is missed"
	@echo "make mutation - mutation testing of the decision core (long: see README)"
	@echo "make build - sam build: the arm64 deployment artifacts (byte-compiled layer)"

$(VENV)/.uv:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(PYTHON) -m uv venv --quiet --python $(PYTHON) $(VENV)
	touch $@

$(VENV)/.installed: $(VENV)/.uv pyproject.toml
	$(PYTHON) -m uv pip install --quiet --python $(BIN)/python -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The SAM CLI pins its own boto3 and pydantic: it lives in its own environment.
$(SAM): | $(VENV)/.uv
	$(PYTHON) -m uv venv --quiet --python $(PYTHON) $(SAM_VENV)
	$(PYTHON) -m uv pip install --quiet --python $(SAM_VENV)/bin/python aws-sam-cli

# Checkov pins many packages of its own: like the SAM CLI, it gets its own environment.
$(CHECKOV): | $(VENV)/.uv
	$(PYTHON) -m uv venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(PYTHON) -m uv pip install --quiet --python $(CHECKOV_VENV)/bin/python "checkov>=3.2,<4"

# Page tests drive Debian's Chromium (Playwright cannot download a browser here).
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null

# axe-core for the browser tests' accessibility checks, pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

run: install
	$(BIN)/bonestore serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy shared functions infra

# The SAM source, then what CloudFormation receives: the template translated for each
# samconfig.toml environment and linted again (a cycle only shows there), and the
# check that a layer-only change publishes new function versions.
sam-check: install $(SAM)
	$(SAM) validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m bonestore_infra.template_gates
	$(MAKE) --no-print-directory checkov
	$(MAKE) --no-print-directory build >/dev/null

# Security scan of the template: 0 failed; every skip is on its resource with a reason
# (tests/unit/test_template_checkov.py). Prints the passed/failed/skipped counts.
checkov: $(CHECKOV)
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

# The arm64 deployment artifacts in .aws-sam/build (then: $(SAM) deploy).
build: $(SAM)
	$(SAM) build --template template.yaml --build-dir .aws-sam/build --parallel --cached

unit: install
	$(BIN)/pytest -m unit -q

test: install $(SAM) $(CHROMIUM) node_modules/.installed
	$(MAKE) lint typecheck sam-check
	$(BIN)/bonestore rules lint
	$(BIN)/bonestore openapi --check
	# No reruns: a test that fails once is a failure (docs/testing.md: flaky tests are
	# fixed at their cause).
	SAM_CLI=$(abspath $(SAM)) $(BIN)/pytest -q -n 2
	$(MAKE) --no-print-directory mutation-sample

# Mutation testing (cosmic-ray) of the decision core, module by module: scores and
# survivors. `make mutation TARGETS="money geo"` runs some; docs/testing.md has the scores.
mutation: install
	$(BIN)/python -m tests.mutation.run $(TARGETS)

# What `make test` runs: a fixed-seed sample of mutants of the decision-core modules
# changed since MUTATION_BASE (default: the previous commit): 12 mutants shared between them.
MUTATION_BASE ?= HEAD~1
mutation-sample: install
	$(BIN)/python -m tests.mutation.run --changed-since $(MUTATION_BASE) --sample-total 12 --seed 18

openapi: install
	$(BIN)/bonestore openapi --output docs/openapi.json

bench: install
	$(BIN)/python -m bonestore_infra.bench $(ARGS)

bench-check: install
	$(BIN)/python -m bonestore_infra.bench --only cold --check

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
