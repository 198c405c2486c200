# sectigo-operator: the project's stable entry points.
#   make test   - the whole suite (what .ci/run and the README call)
#   make demo   - local control plane + sandbox SCM + operator + demo manifests
#   make up     - control plane in the background; prints `export KUBECONFIG=...`
#   make down   - stops everything `make up` / `make demo` started
SHELL := /bin/bash
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: install install-if-needed controlplane test test-unit lint typecheck crds check-crds demo up down bench clean

install:
	$(PYTHON) -m pip install -q -e '.[test]'

# Installs the package (editable, from this checkout) unless it is already installed from here.
install-if-needed:
	@$(PYTHON) -c "import sys, pathlib, sectigo_operator as m; \
	sys.exit(pathlib.Path(m.__file__).resolve().parents[2] != pathlib.Path.cwd().resolve())" \
	2>/dev/null || $(PYTHON) -m pip install -q -e '.[test]'

controlplane:
	bash tools/envtest/build.sh >/dev/null

test: install-if-needed controlplane
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-unit:
	$(PYTHON) -m pytest tests/unit $(PYTEST_ARGS)

lint:
	ruff check operator tests bench tools
	ruff format --check operator tests bench tools

typecheck:
	mypy

crds:
	$(PYTHON) -m sectigo_operator.crdgen

up: install-if-needed controlplane
	@$(PYTHON) -m sectigo_operator.controlplane up

down:
	@$(PYTHON) -m sectigo_operator.demo down 2>/dev/null || true
	@$(PYTHON) -m sectigo_operator.controlplane down

demo: install-if-needed controlplane
	@$(PYTHON) -m sectigo_operator.demo up

bench: install-if-needed controlplane
	$(PYTHON) bench/bench_issuance.py --count 200 --write-docs

clean: down
	rm -rf .envtest/run .demo
