# The Data Engine's commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAGE  ?= dev

.PHONY: run test lint test-unit test-integration test-e2e install config package validate bootstrap token fire clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

## Start the local stack, run the samples through it, and serve the API until Ctrl-C.
run: install
	$(BIN)/python -m devstack up --samples samples

## The linters, then the whole test suite (unit, integration on the emulator, end to end).
test: lint
	$(BIN)/python -m pytest

## The floors (import-linter), lint and format (ruff), types of chalicelib (mypy).
lint: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-integration: install
	$(BIN)/python -m pytest tests/integration

test-e2e: install
	$(BIN)/python -m pytest tests/e2e

## Regenerate .chalice/config.json and the IAM policies from chalicelib/resources.py.
config: install
	$(BIN)/python -m infra config

## Terraform for STAGE (dev, staging, prod) in build/terraform/STAGE.
package: install
	$(BIN)/python -m infra package $(STAGE)

## Package and run terraform init + validate offline for STAGE.
validate: install
	$(BIN)/python -m infra validate $(STAGE)

## Terraform for the one-time account setup (state bucket, API Gateway's logging role).
bootstrap: install
	$(BIN)/python -m infra bootstrap

## Create an API token on the running local stack: make token NAME=alice
token: install
	$(BIN)/python -m devstack token create $(or $(NAME),operator)

## Run a schedule on the running local stack now: make fire NAME=dlq_watch
fire: install
	$(BIN)/python -m devstack fire $(NAME)

clean:
	rm -rf build .pytest_cache .hypothesis
