# sectigo-operator: the project's stable entry points.
#   make test   - the whole suite (what .ci/run and the README call)
#   make demo   - local control plane + sandbox SCM + operator + demo manifests
#   make up     - control plane in the background; prints `export KUBECONFIG=...`
#   make down   - stops everything `make up` / `make demo` started
SHELL := /bin/bash
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: install controlplane test test-unit lint typecheck crds check-crds demo up down bench clean

install:
	$(PYTHON) -m pip install -q -e '.[test]'

controlplane:
	bash tools/envtest/build.sh >/dev/null

test: controlplane
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

up: controlplane
	@$(PYTHON) -m sectigo_operator.controlplane up

down:
	@$(PYTHON) -m sectigo_operator.demo down 2>/dev/null || true
	@$(PYTHON) -m sectigo_operator.controlplane down

demo: controlplane
	@$(PYTHON) -m sectigo_operator.demo up

bench: controlplane
	$(PYTHON) bench/bench_issuance.py --count 200 --write-docs

clean: down
	rm -rf .envtest/run .demo
