# sectigo-operator: the project's stable entry points.
#   make test   - the whole suite (what .ci/run and the README call)
#   make demo   - local control plane + sandbox SCM + operator + demo manifests
#   make up     - control plane in the background; prints `export KUBECONFIG=...`
#   make down   - stops everything `make up` / `make demo` started
SHELL := /bin/bash
# Everything runs in a project-local virtual environment (created on first use, reused after),
# never in the system interpreter: no root-owned site-packages, and PEP 668 distributions work.
SYSTEM_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(abspath $(VENV))/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
PYTEST_ARGS ?=

.PHONY: install install-if-needed controlplane promtool test test-unit lint typecheck crds check-crds demo up down bench clean

$(PYTHON):
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check --upgrade pip

install: $(PYTHON)
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'

# Installs the package (editable, from this checkout) into the venv unless it is already there.
install-if-needed: $(PYTHON)
	@$(PYTHON) -c "import sys, pathlib, sectigo_operator as m; \
	sys.exit(pathlib.Path(m.__file__).resolve().parents[2] != pathlib.Path.cwd().resolve())" \
	2>/dev/null || $(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'

controlplane:
	bash tools/envtest/build.sh >/dev/null

# promtool (checks and unit-tests deploy/monitoring's alert rules), built from Go modules once.
promtool:
	bash tools/promtool/build.sh >/dev/null

test: install-if-needed controlplane promtool
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-unit: install-if-needed
	$(PYTHON) -m pytest tests/unit $(PYTEST_ARGS)

lint: install-if-needed
	$(PYTHON) -m ruff check operator tests bench tools
	$(PYTHON) -m ruff format --check operator tests bench tools

typecheck: install-if-needed
	$(PYTHON) -m mypy

crds: install-if-needed
	$(PYTHON) -m sectigo_operator.crdgen

up: install-if-needed controlplane
	@$(PYTHON) -m sectigo_operator.controlplane_service up

down:
	@if [ -x $(PYTHON) ]; then \
	  $(PYTHON) -m sectigo_operator.demo down 2>/dev/null || true; \
	  $(PYTHON) -m sectigo_operator.controlplane_service down; \
	fi

demo: install-if-needed controlplane
	@$(PYTHON) -m sectigo_operator.demo up

bench: install-if-needed controlplane
	$(PYTHON) bench/bench_issuance.py --count 200 --write-docs

clean: down
	rm -rf .envtest/run .demo
