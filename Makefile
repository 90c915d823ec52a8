# threatfeed: every local command runs on the embedded AWS (moto + loopback feeds); no Docker, no AWS account.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv demo test test-fast lint typecheck sam-validate asl-lint security pytest bench build clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(BIN)/threatfeed local run

test: venv lint typecheck sam-validate asl-lint security build-check pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy --strict on src/threatfeed (configured in pyproject.toml): every stage's contract is checked, not hoped for.
typecheck: venv
	$(BIN)/mypy

sam-validate: venv
	$(BIN)/sam validate --lint --template template.yaml

asl-lint: venv
	$(BIN)/python tools/asl_lint.py statemachine template.yaml

# checkov over template.yaml and its SAM transform (tools/security_scan.py; suppressions inline in the
# template, each with its reason). checkov has its own virtualenv, inside .venv so that git ignores it and
# `make clean` removes it: its pins (boto3 1.35, packaging 23...) would break aws-sam-cli and pytest in .venv.
TOOLS_VENV := $(VENV)/tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell cat tools/requirements-security.txt | cksum | cut -d' ' -f1)

security: venv $(TOOLS_STAMP)
	$(BIN)/python tools/security_scan.py --checkov $(TOOLS_VENV)/bin/checkov template.yaml

$(TOOLS_STAMP): tools/requirements-security.txt
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q --disable-pip-version-check -r tools/requirements-security.txt
	rm -f $(TOOLS_VENV)/.installed-* && touch $@

pytest: venv
	$(BIN)/python -m pytest

# The unit tests only (no embedded AWS, no loopback server, no catalogue-scale run): under a minute, for the
# edit-test loop. `make test` stays the gate. tests/conftest.py marks what starts the embedded AWS.
test-fast: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not embedded and not slow"

bench: venv
	$(BIN)/python tools/bench.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache

include build.mk
