# The two commands of the README: `make run` (set up + the whole pipeline) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# Telemetry and update checks off for every tool (also set in code: chromastyle.offline).
export NO_ALBUMENTATIONS_UPDATE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export BENTOML_DO_NOT_TRACK := true
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_HOME := $(CURDIR)/.prefect
export PATH := $(BIN):$(PATH)
# Python's bytecode caches are kept, even where the environment turns them off (some machine images
# set PYTHONDONTWRITEBYTECODE): uv installs no .pyc, so without them every stage, server and test
# process compiled every module it imported again (the seven stages' imports: 53 s uncached, 24 s
# cached, 2026-12-06). The first import writes them into .venv and beside src/ (gitignored and
# dvcignored).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-fast lint baseline seed-study install serve ui clean-outputs

run: install ## set up, then the whole pipeline on the shipped data (dvc repro, one Prefect server for all stages)
	python -m flows.with_prefect dvc repro

test: install ## the whole test suite (what CI runs): unit, servers, browser, end-to-end dvc repro
	pytest

test-fast: install ## the inner loop: no end-to-end pipeline, no servers, no browser (a few minutes)
	pytest -m "not slow and not server"

lint: install ## ruff (pyproject.toml)
	ruff check .

baseline: install ## back to the committed baseline after experiments (they stay in `dvc exp show`)
	python -m flows.baseline

seed-study: install ## every recipe of benchmarks/seed_study.yaml on 3 seeds (DVC experiments), then mean ± sd
	python -m flows.with_prefect python benchmarks/seed_study.py run

install: $(STAMP)

# uv installs the same pinned set as pip (constraints.txt pins every package) about 10× faster: it
# downloads in parallel. It does not read pip's config, so pip's find-links (where a machine keeps its
# own wheels, e.g. a CPU build of torch) are passed on; if uv cannot install, pip does it as before.
# `=`, not `:=`: pip's config is read only when the install recipe runs, not at every `make` call.
FIND_LINKS = $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_ARGS = -q --python $(BIN)/python -r requirements.txt -c constraints.txt $(foreach d,$(FIND_LINKS),--find-links $(d))
PIP_ARGS := -q --disable-pip-version-check -r requirements.txt -c constraints.txt

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@echo "== creating $(VENV) and installing pinned dependencies (under a minute with uv, ~3 with pip) =="
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "uv==$$(sed -n 's/^uv==//p' constraints.txt)" 2>&1 \
	  | { grep -v "^WARNING: Location" || true; }
	$(BIN)/uv pip install $(UV_ARGS) || { echo "uv could not install: pip instead"; \
	  $(BIN)/pip install $(PIP_ARGS) 2>&1 | { grep -v "^WARNING: Location" || true; }; }
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
	  | { grep -v "^WARNING: Location" || true; }
	touch $(STAMP)

serve: install ## serve the bento the package stage built
	bentoml serve chromastyle:latest --host 127.0.0.1 --port 3000

ui: install ## the MLflow UI over mlflow.db + mlartifacts/
	@echo "training runs: http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
	@echo "models:        http://127.0.0.1:5000/#/models/chromastyle"
	mlflow ui --host 127.0.0.1 --port 5000
