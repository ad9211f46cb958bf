# The single interface: every target installs what it needs (a venv and the local CDK CLI).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= dify.toml
CDK := npx --no-install cdk
# A supported Node.js for jsii and the CDK CLI comes from package.json (node_modules/.bin), whatever the
# system has; `dify-on-aws synth` warns once when the Node.js it finds is unsupported.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export DIFY_CONFIG := $(CONFIG)

.PHONY: synth test lint deploy diff destroy docs diagrams sweep mutation clean deps dev-deps

$(VENV)/.deps: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.dev-deps: $(VENV)/.deps requirements-dev.lock
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	touch $@

node_modules/.deps: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.deps node_modules/.deps
dev-deps: $(VENV)/.dev-deps node_modules/.deps

## synth: synthesize CONFIG (default dify.toml) into cdk.out, offline, and print a summary
synth: deps
	$(VENV)/bin/dify-on-aws synth --config $(CONFIG) --out cdk.out

## test: the whole suite (unit, construct assertions, cdk-nag, cfn-lint, runtime handlers)
test: dev-deps
	$(PY) -m pytest -q

## lint: ruff and mypy (strict)
lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## docs: regenerate docs/configuration.md from the config model
docs: deps
	$(VENV)/bin/dify-on-aws docs --out docs/configuration.md
	$(PY) -m dify_on_aws.cost.profiles
	$(PY) -m dify_on_aws.security > docs/security.md
	DIFY_ON_AWS_PRICE_CACHE=/nonexistent $(VENV)/bin/dify-on-aws cost --config examples/default.toml --plot docs/cost-by-front-door.svg > /dev/null

## diagrams: redraw docs/diagrams/ (default, one per front door, and the integrations) from the synthesized templates
DIAGRAMS := default alb api-gateway lambda cloudfront-domain lean production package-index
diagrams: deps
	for f in $(DIAGRAMS); do $(VENV)/bin/dify-on-aws diagram --config examples/$$f.toml --out docs/diagrams/$$f || exit 1; done

## sweep: property-based sweep of the config space, many more examples than `make test` (report path printed)
sweep: dev-deps node_modules/.deps
	DIFY_SWEEP_EXAMPLES=60 DIFY_SWEEP_RANDOM=1 $(PY) -m pytest -q tests/test_sweep.py -s

## mutation: mutmut over the handlers, the SSRF proxy config and the config validators ([tool.mutmut] in
## pyproject.toml); prints the score per module. Not part of `make test` (about 10 minutes on 2 cores).
## A rerun continues where an interrupted one stopped; `rm -rf mutants` starts over.
MUTATION_JOBS ?= 2
mutation: dev-deps
	$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) > mutants.log 2>&1 || (tail -n 30 mutants.log; exit 1)
	$(VENV)/bin/mutmut results --all true | $(PY) scripts/mutation_score.py

## deploy / diff / destroy: thin wrappers over the local CDK CLI with CONFIG
deploy: deps
	$(CDK) deploy --all --require-approval broadening -c config=$(CONFIG)

diff: deps
	$(CDK) diff --all -c config=$(CONFIG)

destroy: deps
	$(CDK) destroy --all -c config=$(CONFIG)

clean:
	rm -rf cdk.out mutants mutants.log .pytest_cache .mypy_cache .ruff_cache .hypothesis
