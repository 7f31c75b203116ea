# The Data Engine's commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# checkov pins boto3 and packaging below requirements-dev.txt's pins: it gets a venv of its own
CHECKOV := .venv-checkov/bin/checkov
STAGE  ?= dev

.PHONY: run test lint lint-infra deploy-local browser test-unit test-integration test-e2e install config package validate bootstrap token fire clean

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
test: lint lint-infra browser
	$(BIN)/python -m pytest

## The floors (import-linter), lint and format (ruff), types of chalicelib (mypy).
lint: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Chromium and its driver for the console's browser test: Debian's packages, installed with
## apt-get when missing and root or sudo is at hand; otherwise that test is skipped, saying so.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "no apt-get: install Chromium and chromedriver to run the browser test"; \
	elif [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "Chromium missing and no root or sudo: the browser test will be skipped"; exit 0; fi; \
	if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  command -v apt-get >/dev/null 2>&1 || exit 0; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver \
	  || { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; } \
	  || echo "apt-get could not install chromium: the browser test will be skipped"; \
	fi

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

test-e2e: install browser
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

## Create an API token on the running local stack: make token NAME=alice [ROLE=privacy]
token: install
	$(BIN)/python -m devstack token create $(or $(NAME),operator) --role $(or $(ROLE),operator)

## Run a schedule on the running local stack now: make fire NAME=dlq_watch
fire: install
	$(BIN)/python -m devstack fire $(NAME)

clean:
	rm -rf build .pytest_cache .hypothesis
