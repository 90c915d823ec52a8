# threatfeed: every local command runs on the embedded AWS (moto + loopback feeds); no Docker, no AWS account.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv demo test lint sam-validate asl-lint pytest bench build clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(BIN)/threatfeed local run

test: venv lint sam-validate asl-lint pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

sam-validate: venv
	$(BIN)/sam validate --lint --template template.yaml

asl-lint: venv
	$(BIN)/python tools/asl_lint.py statemachine template.yaml

pytest: venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python tools/bench.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache

include build.mk
