# Two entry points a technician needs first: `make demo` and `make test` (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
# podman must use the project's containers.conf (runc, ulimits); nothing under /etc is edited.
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup host-deps venv image demo test lint unit browser integration molecule lock clean

help:
	@echo "make demo   set up everything, start the lab comune, run 'provisioner enable lab'"
	@echo "make test   set up everything, then lint, type-check, unit, integration and Molecule tests"

setup: host-deps venv

host-deps:
	@bash lab/install-host-deps.sh

venv: $(VENV)/.installed

# Every file pip installs is checked against its SHA-256 in requirements.lock (pip itself,
# setuptools and the one sdist included); build isolation is off so that no build dependency
# is fetched unchecked. The project itself is installed last, editable, without dependencies.
$(VENV)/.installed: pyproject.toml constraints.txt requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --require-hashes --no-deps --no-build-isolation -r requirements.lock
	@$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@$(BIN)/pip check
	@touch $@

image: setup
	@$(BIN)/provisioner lab image

demo: setup
	$(BIN)/provisioner lab up
	$(BIN)/provisioner enable lab

# The linters first; then the lab tests beside the Molecule scenarios, test_netgear.py, the
# browser tests (the console in Chromium against a synthetic provider) and the unit tests, in
# two chains (lab/run-suites.sh: all but the lab tests run in the slack of the lab's long side).
# `make lint`, `make browser` and `make unit` run those alone.
test: setup image lint
	@bash lab/run-suites.sh

lint:
	$(BIN)/ruff check provisioner tests bench tools
	$(BIN)/ruff format --check provisioner tests bench tools
	$(BIN)/mypy
	$(BIN)/ansible-lint --profile production playbooks roles molecule

unit: setup
	$(BIN)/pytest tests/unit

browser: setup
	$(BIN)/pytest tests/browser

integration: setup image
	$(BIN)/pytest tests/integration

molecule: setup image
	$(BIN)/pytest tests/molecule

# After changing pyproject.toml's dependencies: pin what the venv has, then hash the files.
lock: venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt.new && mv constraints.txt.new constraints.txt
	$(BIN)/python tools/lock.py

clean:
	-$(BIN)/provisioner lab down
	rm -rf $(VENV)
