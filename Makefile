# The Data Engine's commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# checkov pins boto3 and packaging below requirements-dev.txt's pins: it gets a venv of its own
CHECKOV := .venv-checkov/bin/checkov
STAGE  ?= dev

.PHONY: run test lint lint-infra deploy-local test-unit test-integration test-e2e install config package validate bootstrap token fire clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

$(CHECKOV): requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV)

## Start the local stack, run the samples through it, and serve the API until Ctrl-C.
run: install
	$(BIN)/python -m devstack up --samples samples

## The linters (code and the generated Terraform), then the whole test suite (unit, integration on the emulator, end to end).
test: lint lint-infra
	$(BIN)/python -m pytest

## The floors (import-linter), lint and format (ruff), types of chalicelib (mypy).
lint: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The three stages' generated Terraform, checked by checkov offline: zero failed checks (skips carry their reason).
lint-infra: install $(CHECKOV)
	$(BIN)/python -m infra lint --checkov $(CHECKOV)

## terraform apply of the prod configuration on the local emulator, checked, then destroyed (minutes).
deploy-local: install
	DEPLOY_LOCAL=1 $(BIN)/python -m pytest -q tests/integration/infra/test_deploy_local.py

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
